#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Write tests/ref/ref-corpus.txt: the FlinkCEP corpus cases
# (tests/flink/flinkcep-cases.json) whose features the reference matcher
# covers, as plain data for tests/ref/check_ref.c.  Conditions are
# evaluated here, per event, and every distinct vector of condition results
# becomes one symbol; a step's condition is then the set of its symbols.
# Rerun after changing the corpus:  python3 tests/ref/gen_corpus.py
# Line format (one case per block):
#   case ID / within W (0 none) / skip KIND STEP (0 no_skip 1 to_next
#   2 past_last 3 to_first 4 to_last; STEP -1 when unused) /
#   step MASK MIN MAX OPTIONAL NEGATED AFTER LOOP (0 strict 1 relaxed 2 any;
#   MAX 0 = unbounded) / events N / ev SYM TS / match K I... (0-based) / end
# Tested by: tests/ref/check_ref.c reads its output
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "flink", "flinkcep-cases.json")
OUT = os.path.join(HERE, "ref-corpus.txt")

CONTIG = {None: 1, "strict": 0, "relaxed": 1, "nondeterministic": 2}
SKIP = {"NO_SKIP": 0, "SKIP_TO_NEXT": 1, "SKIP_PAST_LAST_EVENT": 2,
        "SKIP_TO_FIRST": 3, "SKIP_TO_LAST": 4}


class Missing:
    """A missing field: every comparison is false (cepd and the corpus)."""
    def _f(self, *_):
        return False
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _f
    __hash__ = None

    def __add__(self, _):
        return self
    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __add__

    def startswith(self, _):
        return False


def cond_fn(text):
    if re.search(r"\b(sum|count|first)\(", text):
        raise ValueError("iterative condition")
    s = re.sub(r"\bstartsWith\(\s*(\w+)\s*,", r"_sw(\1,", text)
    s = re.sub(r"\bcontains\(\s*(\w+)\s*,", r"_ct(\1,", s)
    s = s.replace("&&", " and ").replace("||", " or ")
    s = re.sub(r"!(?!=)", " not ", s)
    s = re.sub(r"\btrue\b", "True", s)
    code = compile(s, "<cond>", "eval")

    def fn(ev):
        env = {k: ev.get(k, Missing()) for k in
               ("name", "price", "fid", "type", "volume", "f0", "f1", "value")}
        env["_sw"] = lambda f, x: isinstance(f, str) and f.startswith(x)
        env["_ct"] = lambda f, x: isinstance(f, str) and x in f
        return bool(eval(code, {"__builtins__": {}}, env))
    return fn


def eligible(c):
    pat = c["pattern"]
    if c["mode"] == "operator_event_time" or c.get("partition_by"):
        return "event time or keyed"
    if c["expected"] is None or "expected_timeouts" in c:
        return "no expected matches or timeouts"
    if pat.get("within") is not None and pat.get("within_type") != "FIRST_AND_LAST":
        return "within previous-and-current"
    ts = [e["ts"] for e in c["events"]]
    if any(b < a for a, b in zip(ts, ts[1:])):
        return "timestamps not monotonic"
    if len(c["events"]) > 64:
        return "too many events"
    for s in pat["steps"]:
        if s.get("group") or s.get("greedy") or s.get("until"):
            return "group, greedy or until"
    return None


def quant(s):
    q = s.get("quantifier")
    opt = bool(s.get("optional"))
    if q is None:
        return 1, 1, opt
    if "times" in q:
        return q["times"], q["times"], opt
    if "min" in q:
        lo, hi = q["min"], q["max"]
        if lo == 0:
            lo, opt = 1, True
        return lo, hi, opt
    if q.get("oneOrMore"):
        return 1, 0, opt
    return q["timesOrMore"], 0, opt


def main():
    with open(CASES) as f:
        cases = json.load(f)
    out, skipped = [], []
    for c in cases:
        why = eligible(c)
        steps = c["pattern"]["steps"]
        if not why:
            try:
                fns = [cond_fn(s["where"]) for s in steps]
            except ValueError as exc:
                why = str(exc)
        if why:
            skipped.append((c["id"], why))
            continue
        vecs, syms = {}, []
        for e in c["events"]:
            v = tuple(fn(e) for fn in fns)
            syms.append(vecs.setdefault(v, len(vecs)))
        if len(vecs) > 32:
            skipped.append((c["id"], "more than 32 symbols"))
            continue
        names = [s["name"] for s in steps]
        skip = c["pattern"]["skip"]
        kind, _, sstep = skip.partition(":")
        out.append("case %s" % c["id"])
        out.append("within %d" % (c["pattern"]["within"] or 0))
        out.append("skip %d %d" % (SKIP[kind], names.index(sstep) if sstep else -1))
        for k, s in enumerate(steps):
            mask = 0
            for v, sym in vecs.items():
                if v[k]:
                    mask |= 1 << sym
            lo, hi, opt = quant(s)
            loop = 0 if s.get("consecutive") else 2 if s.get("allowCombinations") else 1
            out.append("step %d %d %d %d %d %d %d" % (mask, lo, hi, int(opt), int(bool(
                s.get("negated"))), CONTIG[s.get("contiguity")], loop))
        out.append("events %d" % len(c["events"]))
        idx = {e["id"]: i for i, e in enumerate(c["events"])}
        for e, sym in zip(c["events"], syms):
            out.append("ev %d %d" % (sym, e["ts"]))
        for m in c["expected"]:
            out.append("match %d %s" % (len(m), " ".join(str(idx[i]) for i in m)))
        out.append("end")
    with open(OUT, "w") as f:
        f.write("# Generated by tests/ref/gen_corpus.py from tests/flink/flinkcep-cases.json;"
                " do not edit.\n")
        f.write("\n".join(out) + "\n")
    print("%d cases written to %s, %d left out" % (len(out and [l for l in out if
                                                                 l.startswith("case ")]), OUT,
                                                   len(skipped)))
    for cid, why in skipped:
        print("  left out %s: %s" % (cid, why), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
