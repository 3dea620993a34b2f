/* SPDX-License-Identifier: Apache-2.0
 * Event-time values: epoch numbers in s, ms or us, and RFC 3339 strings,
 * converted to int64 microseconds.  Pure functions, no state.
 * Tested by: tests/unit/check_eng.c */
#include "cepd/cep_common.h"
#include "cepd/eng.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* Read exactly n digits at *p into *out; advances *p. */
static bool eng_time_digits(const char **p, const char *end, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || **p < '0' || **p > '9')
            return false;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return true;
}

int64_t eng_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM); 't'/' ' accepted
 * as the separator, 'z' as Z. */
static int eng_time_parse_rfc3339(const char *s, size_t len, int64_t *out_us)
{
    const char *p = s, *end = s + len;
    int y, mo, d, h, mi, sec;
    if (!eng_time_digits(&p, end, 4, &y) || p >= end || *p++ != '-' ||
        !eng_time_digits(&p, end, 2, &mo) || p >= end || *p++ != '-' ||
        !eng_time_digits(&p, end, 2, &d))
        return CEP_ERR;
    if (p >= end || (*p != 'T' && *p != 't' && *p != ' '))
        return CEP_ERR;
    p++;
    if (!eng_time_digits(&p, end, 2, &h) || p >= end || *p++ != ':' ||
        !eng_time_digits(&p, end, 2, &mi) || p >= end || *p++ != ':' ||
        !eng_time_digits(&p, end, 2, &sec))
        return CEP_ERR;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return CEP_ERR;
    int64_t frac_us = 0;
    if (p < end && *p == '.') {
        p++;
        int64_t scale = 100000;
        if (p >= end || *p < '0' || *p > '9')
            return CEP_ERR;
        while (p < end && *p >= '0' && *p <= '9') {
            frac_us += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    int64_t offset_s = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!eng_time_digits(&p, end, 2, &oh) || p >= end || *p++ != ':' ||
            !eng_time_digits(&p, end, 2, &om) || oh > 23 || om > 59)
            return CEP_ERR;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return CEP_ERR;
    }
    if (p != end)
        return CEP_ERR;
    int64_t secs = eng_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *out_us = secs * CEP_USEC_PER_SEC + frac_us;
    return CEP_OK;
}

int eng_time_from_val(const struct val *v, enum rule_time_unit unit, int64_t *out_us)
{
    static const int64_t per_unit[RULE_UNIT_COUNT] = {
        [RULE_UNIT_S] = 1000000, [RULE_UNIT_MS] = 1000, [RULE_UNIT_US] = 1};
    int64_t mul = per_unit[unit < RULE_UNIT_COUNT ? unit : RULE_UNIT_S];
    if (v->type == VAL_INT) {
        if (v->u.i > INT64_MAX / mul || v->u.i < INT64_MIN / mul)
            return CEP_ERR;
        *out_us = v->u.i * mul;
        return CEP_OK;
    }
    if (v->type == VAL_FLOAT) {
        double us = v->u.f * (double)mul;
        if (!isfinite(us) || fabs(us) >= 9.2e18)
            return CEP_ERR;
        *out_us = (int64_t)llround(us);
        return CEP_OK;
    }
    if (v->type == VAL_STR)
        return eng_time_parse_rfc3339(v->u.s, v->len, out_us);
    return CEP_ERR;
}
