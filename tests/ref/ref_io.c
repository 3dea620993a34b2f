/* SPDX-License-Identifier: Apache-2.0
 * Reference-corpus reader and printers for the reference matcher's tests
 * (format: tests/ref/gen_corpus.py).
 * Tested by: tests/ref/check_ref.c */
#include "cepd/cep_common.h"
#include "ref_io.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static bool ref_parse_u64(const char **s, int64_t *out)
{
    char *end;
    long long v = strtoll(*s, &end, 10);
    if (end == *s)
        return false;
    *out = v;
    *s = end;
    return true;
}

static bool ref_fields(const char *s, int64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!ref_parse_u64(&s, &v[i]))
            return false;
    return true;
}

bool ref_case_read(FILE *f, struct ref_case *c)
{
    char line[4096];
    bool in_case = false;
    memset(c, 0, sizeof(*c));
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        int64_t v[8];
        if (strncmp(line, "case ", 5) == 0) {
            size_t n = strlen(line + 5);
            if (n >= sizeof(c->id))
                n = sizeof(c->id) - 1;
            memcpy(c->id, line + 5, n);
            c->id[n] = '\0';
            in_case = true;
        } else if (!in_case) {
            break;
        } else if (strncmp(line, "within ", 7) == 0 && ref_fields(line + 7, v, 1)) {
            c->p.within = v[0];
        } else if (strncmp(line, "skip ", 5) == 0 && ref_fields(line + 5, v, 2)) {
            c->p.skip = (enum ref_skip)v[0];
            c->p.skip_step = (int)v[1];
        } else if (strncmp(line, "step ", 5) == 0 && ref_fields(line + 5, v, 7) &&
                   c->p.n_steps < REF_MAX_STEPS) {
            struct ref_step *st = &c->p.steps[c->p.n_steps++];
            st->mask = (uint32_t)v[0];
            st->min = (uint32_t)v[1];
            st->max = v[2] == 0 ? REF_UNBOUNDED : (uint32_t)v[2];
            st->optional = v[3] != 0;
            st->negated = v[4] != 0;
            st->after = (enum ref_contig)v[5];
            st->loop = (enum ref_contig)v[6];
        } else if (strncmp(line, "events ", 7) == 0) {
            continue;
        } else if (strncmp(line, "ev ", 3) == 0 && ref_fields(line + 3, v, 2) &&
                   c->n < REF_MAX_EVENTS) {
            c->sym[c->n] = (uint32_t)v[0];
            c->ts[c->n++] = v[1];
        } else if (strncmp(line, "match ", 6) == 0) {
            const char *s = line + 6;
            int64_t k, e;
            struct ref_match m;
            memset(&m, 0, sizeof(m));
            if (!ref_parse_u64(&s, &k) || k < 0 || k > REF_MAX_EVENTS)
                goto bad;
            for (int64_t i = 0; i < k; i++) {
                if (!ref_parse_u64(&s, &e))
                    goto bad;
                m.ev[m.n++] = (uint8_t)e;
            }
            ref_matches_push(&c->expected, &m);
        } else if (strcmp(line, "end") == 0) {
            return true;
        } else {
            goto bad;
        }
    }
    if (in_case)
        fprintf(stderr, "ref corpus: case %s is truncated\n", c->id);
    ref_matches_free(&c->expected);
    return false;
bad:
    fprintf(stderr, "ref corpus: malformed line in case %s: %s\n", c->id, line);
    ref_matches_free(&c->expected);
    return false;
}

void ref_matches_print(FILE *out, const struct ref_matches *m, bool with_steps)
{
    for (size_t i = 0; i < m->n; i++) {
        fputs(i ? " [" : "[", out);
        for (uint32_t j = 0; j < m->v[i].n; j++) {
            fprintf(out, j ? " e%u" : "e%u", (unsigned)m->v[i].ev[j] + 1);
            if (with_steps)
                fprintf(out, ":%u", (unsigned)m->v[i].step[j]);
        }
        fputc(']', out);
    }
    fputs(m->n ? "\n" : "(none)\n", out);
}

void ref_pattern_print(FILE *out, const struct ref_pattern *p, const char *const *sym_names)
{
    static const char *const contig[] = {"strict", "relaxed", "any"};
    static const char *const skip[] = {"no_skip", "to_next", "past_last_event", "to_first",
                                       "to_last"};
    for (size_t k = 0; k < p->n_steps; k++) {
        const struct ref_step *s = &p->steps[k];
        fprintf(out, "  - step: s%zu\n    when: {", k);
        bool first = true;
        for (uint32_t b = 0; b < 32; b++) {
            if (!((s->mask >> b) & 1u))
                continue;
            if (sym_names)
                fprintf(out, first ? "%s" : ",%s", sym_names[b]);
            else
                fprintf(out, first ? "#%u" : ",#%u", (unsigned)b);
            first = false;
        }
        fputs("}\n", out);
        if (s->max == REF_UNBOUNDED)
            fprintf(out, "    times: %u+\n", (unsigned)s->min);
        else if (s->min != s->max)
            fprintf(out, "    times: %u..%u\n", (unsigned)s->min, (unsigned)s->max);
        else if (s->min != 1)
            fprintf(out, "    times: %u\n", (unsigned)s->min);
        if (s->optional)
            fputs("    optional: true\n", out);
        if (s->negated)
            fputs("    not: true\n", out);
        if (k > 0)
            fprintf(out, "    after: %s\n", contig[s->after]);
        if (s->min != s->max)
            fprintf(out, "    loop: %s\n", contig[s->loop]);
    }
    if (p->within > 0)
        fprintf(out, "  within: %" PRId64 "ms\n", p->within);
    fprintf(out, "  skip: %s", skip[p->skip]);
    if (p->skip == REF_TO_FIRST || p->skip == REF_TO_LAST)
        fprintf(out, " s%d", p->skip_step);
    fputc('\n', out);
}
