/* SPDX-License-Identifier: Apache-2.0
 * Duration literals: a decimal number followed by one unit (us ms s m h d),
 * such as "30s", "250ms" or "1.5h".  Both the expression lexer and the rule
 * loader (window sizes, within:) parse durations here, so they agree on
 * every spelling.  Fractions below a microsecond are truncated.
 * Tested by: tests/unit/check_expr.c (durations) */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The units, smallest first. */
static const struct {
    const char *name;
    int64_t us;
} expr_duration_units[] = {
    {"us", 1},
    {"ms", 1000},
    {"s", CEP_USEC_PER_SEC},
    {"m", 60 * CEP_USEC_PER_SEC},
    {"h", 3600 * CEP_USEC_PER_SEC},
    {"d", 86400 * CEP_USEC_PER_SEC},
};

/* Microseconds per unit for the suffix (s, len), or 0 if it is not a unit. */
int64_t expr_duration_unit(const char *s, size_t len)
{
    for (size_t i = 0; i < CEP_ARRAY_LEN(expr_duration_units); i++) {
        if (strlen(expr_duration_units[i].name) == len &&
            memcmp(expr_duration_units[i].name, s, len) == 0)
            return expr_duration_units[i].us;
    }
    return 0;
}

/* The inverse of expr_parse_duration for whole microseconds: the largest
 * unit that divides us exactly (0 is "0s"). */
void expr_format_duration(int64_t us, char *buf, size_t len)
{
    size_t i = CEP_ARRAY_LEN(expr_duration_units) - 1;
    if (us == 0)
        i = 2; /* "0s" */
    else
        while (i > 0 && us % expr_duration_units[i].us != 0)
            i--;
    snprintf(buf, len, "%" PRId64 "%s", us / expr_duration_units[i].us,
             expr_duration_units[i].name);
}

/* Parse s[0..len) as a duration into *out_us.  Returns CEP_OK, or CEP_ERR
 * (leaving *out_us alone) when s is not exactly digits, an optional
 * fraction and a unit, or when the value overflows int64 microseconds. */
int expr_parse_duration(const char *s, size_t len, int64_t *out_us)
{
    size_t i = 0;
    int64_t whole = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (__builtin_mul_overflow(whole, 10, &whole) ||
            __builtin_add_overflow(whole, s[i] - '0', &whole))
            return CEP_ERR;
        i++;
    }
    if (i == 0)
        return CEP_ERR;
    int64_t frac = 0, scale = 1;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (scale < INT64_C(1000000000000)) { /* digits past 1e-12 cannot matter */
                frac = frac * 10 + (s[i] - '0');
                scale *= 10;
            }
            i++;
        }
        if (i == start)
            return CEP_ERR;
    }
    int64_t unit = expr_duration_unit(s + i, len - i);
    int64_t us;
    if (!unit || __builtin_mul_overflow(whole, unit, &us))
        return CEP_ERR;
    int64_t part = (int64_t)((__int128)frac * unit / scale); /* < unit */
    if (__builtin_add_overflow(us, part, &us))
        return CEP_ERR;
    *out_us = us;
    return CEP_OK;
}
