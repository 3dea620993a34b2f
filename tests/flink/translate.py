#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# FlinkCEP conformance runner: translate each case of flinkcep-cases.json
# (transcribed from FlinkCEP's own tests; format in /work/shared/conformance
# README, semantics in docs) into a cepd rule file and an events file, run
# `cepd replay` on them, and compare the alerts with the case's expected
# matches, timed-out partial matches and late events.
#
# Time, per mode (the README's "How a harness should run a case"):
#   nfa, operator_processing_time: a punctuated stream; before every event
#     but the first, a {"$watermark": ts_next - 1} line.  That releases the
#     buffered earlier events in (ts, arrival) order, time advanced to each
#     timestamp first -- the NFA harness for non-decreasing timestamps (equal
#     ones stay in arrival order).  `--at-eof drain` releases the last event
#     and fires nothing beyond it (the harness flushes nothing at the end).
#     Cases whose timestamps go backwards and that have no `within` get the
#     arrival index as ts (time is irrelevant to them; see ts_for()).
#   operator_event_time: `stream` written literally, events and
#     {"$watermark": W} lines ("-inf" is skipped: it is the initial state);
#     `--at-eof flush` when final_watermark is "+inf", else `drain`.
#
# A match's events come back grouped by step; they are gathered and sorted
# by processing order, (ts, arrival), which for the nfa modes is arrival.
#
# Usage: translate.py [--cepd PATH] [--cases FILE] [--known-failures FILE]
#                     [--work DIR] [--keep] [--check] [--show] [ID...]
# Prints `ok ID`, `xfail ID: reason`, `XPASS ID` or `FAIL ID: ...` per case,
# then "N passed, N failed"; exit status 1 on any FAIL (an XPASS is reported
# but does not fail: remove the id from known-failures.txt).
# Tested by: tests/flink/run.sh (it is the test)
import argparse
import collections
import decimal
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

CONTIG = {"strict": "strict", "relaxed": "relaxed", "nondeterministic": "any"}


class Unsupported(Exception):
    """A case this translator cannot express faithfully (never faked)."""


# ---------------------------------------------------------------- names

# cepd step names: [a-z_][a-z0-9_]*, not an expression keyword.
IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
KEYWORDS = {"true", "false", "null", "and", "or", "not", "in", "contains", "startswith",
            "endswith"}


def step_names(steps, out):
    for s in steps:
        out.append(s["name"])
        if s.get("group"):
            step_names(s["group"]["steps"], out)
    return out


def name_map(case):
    """Corpus step names -> cepd step names.  Names that cepd does not accept
    ('b*', 'not c', 'middle-first', 'notPattern') are rewritten; the alert
    groups events by step but the runner gathers them all, so the names
    never matter for the comparison."""
    names = step_names(case["pattern"]["steps"], [])
    ok = lambda n: IDENT.match(n) and n not in KEYWORDS
    m = {}
    used = set(n for n in names if ok(n))
    for n in names:
        if ok(n):
            m[n] = n
            continue
        base = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", n.replace("*", "_star")).lower()
        base = re.sub(r"[^a-z0-9_]+", "_", base).strip("_") or "step"
        if not re.match(r"[a-z_]", base) or base in KEYWORDS:
            base = "s_" + base
        cand, i = base, 2
        while cand in used:
            cand, i = "%s_%d" % (base, i), i + 1
        used.add(cand)
        m[n] = cand
    return m


# ----------------------------------------------------------- conditions

def translate_cond(text, names):
    """Corpus condition syntax -> cepd expression.  Operators, literals and
    fields pass through; the helper functions become cepd operators or step
    references.  Raises Unsupported on anything not understood."""
    if text is None:
        return None
    t = text.strip()
    if t == "true":
        return "true"

    def ref(step):
        if step not in names:
            raise Unsupported("condition %r refers to unknown step %r" % (text, step))
        return names[step]

    def fn_str_op(op):
        def sub(mo):
            return "(%s %s %s)" % (mo.group(1), op, mo.group(2))
        return sub

    s = re.sub(r"\bstartsWith\(\s*([A-Za-z_]\w*)\s*,\s*('[^']*')\s*\)", fn_str_op("startswith"), t)
    s = re.sub(r"\bcontains\(\s*([A-Za-z_]\w*)\s*,\s*('[^']*')\s*\)", fn_str_op("contains"), s)
    s = re.sub(r"\bfirst\(\s*([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\)",
               lambda mo: "%s.first.%s" % (ref(mo.group(1)), mo.group(2)), s)
    s = re.sub(r"\b(sum|avg|min|max)\(\s*([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\)",
               lambda mo: "%s(%s.%s)" % (mo.group(1), ref(mo.group(2)), mo.group(3)), s)
    s = re.sub(r"\bcount\(\s*([A-Za-z_]\w*)\s*\)",
               lambda mo: "count(%s)" % ref(mo.group(1)), s)
    # What is left must be plain operators, numbers, strings and fields.
    rest = re.sub(r"\bcount\(\s*[A-Za-z_]\w*\s*\)", "0", re.sub(r"'[^']*'", "''", s))
    for word in re.findall(r"[A-Za-z_][\w.]*", rest):
        head = word.split(".")[0]
        if word in ("true", "false", "null", "startswith", "contains") or \
                word in ("sum", "avg", "min", "max", "count"):
            continue
        if head in names.values() and "." in word:
            continue  # a step reference produced above
        if word not in ("name", "price", "fid", "type", "volume", "f0", "f1", "value"):
            raise Unsupported("condition %r: cannot translate %r" % (text, word))
    if re.search(r"[^\w\s.'()=!<>&|+\-*/]", rest):
        raise Unsupported("condition %r: unexpected character" % text)
    return s


# ----------------------------------------------------------------- YAML

def q(s):
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(s)


def quantifier(step, out):
    """Append the `times:` / `optional:` lines for a step's quantifier."""
    qt = step.get("quantifier")
    optional = bool(step.get("optional"))
    if qt is None:
        pass
    elif "times" in qt:
        out.append("times: %d" % qt["times"])
    elif "min" in qt:
        lo, hi = qt["min"], qt["max"]
        if lo == 0:  # times(0, m) is times(1, m).optional()
            lo, optional = 1, True
        out.append("times: %d" % lo if lo == hi else "times: %d..%d" % (lo, hi))
    elif qt.get("oneOrMore"):
        out.append("times: 1+")
    elif "timesOrMore" in qt:
        out.append("times: %d+" % qt["timesOrMore"])
    else:
        raise Unsupported("quantifier %r" % (qt,))
    if optional:
        out.append("optional: true")


def step_yaml(step, names, pc_within, indent, lines):
    """Append one step (or group) as a YAML sequence item."""
    body = []
    if step.get("group"):
        body.append("group: %s" % names[step["name"]])
    else:
        body.append("step: %s" % names[step["name"]])
        body.append("when: %s" % q(translate_cond(step["where"], names)))
    quantifier(step, body)
    if step.get("greedy"):
        body.append("greedy: true")
    if step.get("until"):
        body.append("until: %s" % q(translate_cond(step["until"], names)))
    if step.get("consecutive"):
        body.append("loop: strict")
    elif step.get("allowCombinations"):
        body.append("loop: any")
    if step.get("contiguity"):
        body.append("after: %s" % CONTIG[step["contiguity"]])
    if step.get("negated"):
        body.append("not: true")
    if pc_within is not None and step["name"] == pc_within[0]:
        body.append("within: %dms" % pc_within[1])
    pad = " " * indent
    lines.append(pad + "- " + body[0])
    for b in body[1:]:
        lines.append(pad + "  " + b)
    if step.get("group"):
        lines.append(pad + "  steps:")
        for sub in step["group"]["steps"]:
            step_yaml(sub, names, pc_within, indent + 4, lines)


def skip_yaml(skip, names):
    if skip in (None, "NO_SKIP"):
        return "no_skip"
    if skip == "SKIP_TO_NEXT":
        return "to_next"
    if skip == "SKIP_PAST_LAST_EVENT":
        return "past_last_event"
    kind, _, step = skip.partition(":")
    if kind in ("SKIP_TO_FIRST", "SKIP_TO_LAST") and step in names:
        return "%s %s" % ("to_first" if kind == "SKIP_TO_FIRST" else "to_last", names[step])
    raise Unsupported("skip %r" % skip)


def rule_yaml(case):
    pat = case["pattern"]
    names = name_map(case)
    wtype = pat.get("within_type") or "FIRST_AND_LAST"
    pc_within = None
    if pat.get("within") is not None:
        if wtype == "PREVIOUS_AND_CURRENT":
            if pat.get("within_step") not in names:
                raise Unsupported("PREVIOUS_AND_CURRENT without a within_step")
            pc_within = (pat["within_step"], pat["within"])
        elif wtype != "FIRST_AND_LAST":
            raise Unsupported("within_type %r" % wtype)
    lines = [
        "# Generated by tests/flink/translate.py from case %s (%s)." % (case["id"], case["source"]),
        "streams:",
        "  s: {time: {field: ts, unit: ms, watermark: punctuated}}",
        "rules:",
        "  - id: %s" % case["id"],
        "    kind: pattern",
        "    stream: s",
    ]
    if case.get("partition_by"):
        lines.append("    key: [%s]" % case["partition_by"])
    lines.append("    pattern:")
    for step in pat["steps"]:
        step_yaml(step, names, pc_within, 6, lines)
    if pat.get("within") is not None and pc_within is None:
        lines.append("    within: %dms" % pat["within"])
    lines.append("    skip: %s" % skip_yaml(pat.get("skip"), names))
    if "expected_timeouts" in case:
        lines.append("    on_timeout: {message: \"timeout\"}")
    lines.append("    message: \"match\"")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------- events

def ts_for(case):
    """Timestamps to write per event id, and a note when they were changed."""
    ev = case["events"]
    ts = {e["id"]: e["ts"] for e in ev}
    if case["mode"] == "operator_event_time":
        return ts, None
    seq = [e["ts"] for e in ev]
    if any(b < a for a, b in zip(seq, seq[1:])):
        if case["pattern"].get("within") is not None:
            raise Unsupported("timestamps go backwards in arrival order and the pattern has a "
                              "window: no event-time replay reproduces the NFA harness")
        # Time is irrelevant without a window: the arrival index keeps the
        # harness's array order through cepd's (ts, arrival) release.
        return {e["id"]: i + 1 for i, e in enumerate(ev)}, \
            "timestamps replaced by arrival index (not monotonic, no window)"
    return ts, None


def event_line(e, ts):
    d = dict(e)
    d["ts"] = ts
    return json.dumps(d, separators=(",", ":"))


def events_file(case, ts):
    by_id = {e["id"]: e for e in case["events"]}
    out = []
    if case["mode"] == "operator_event_time":
        if case.get("same_ts_order") not in (None, "price_asc"):
            raise Unsupported("same_ts_order %r" % case["same_ts_order"])
        items = case["stream"]
        if case.get("same_ts_order") == "price_asc":
            items = price_asc_stream(case, items)
        for item in items:
            if isinstance(item, dict):
                w = item["watermark"]
                if w == "-inf":
                    continue
                if w == "+inf":
                    raise Unsupported("+inf watermark inside the stream")
                out.append(json.dumps({"$watermark": w}))
            else:
                out.append(event_line(by_id[item], ts[item]))
        at_eof = "flush" if case.get("final_watermark") == "+inf" else "drain"
    else:
        prev = None
        for e in case["events"]:
            if prev is not None:
                out.append(json.dumps({"$watermark": ts[e["id"]] - 1}))
            out.append(event_line(e, ts[e["id"]]))
            prev = e
        at_eof = "drain"
    return "\n".join(out) + "\n", at_eof


def price_asc_stream(case, items):
    """cepd releases equal timestamps in arrival order; an EventComparator
    ordering them by price is reproduced by reordering, between two
    watermarks, the events that share a timestamp.  That is only faithful
    when no such group straddles a watermark."""
    by_id = {e["id"]: e for e in case["events"]}
    seen_at = {}
    seg = 0
    for item in items:
        if isinstance(item, dict):
            seg += 1
        else:
            t = by_id[item]["ts"]
            if seen_at.setdefault(t, seg) != seg:
                raise Unsupported("same_ts_order price_asc with equal timestamps on both sides "
                                  "of a watermark")
    out, run = [], []
    for item in items + [None]:
        if item is None or isinstance(item, dict):
            out.extend(sorted(run, key=lambda i: (by_id[i]["ts"], by_id[i].get("price", 0),
                                                  run.index(i))))
            run = []
            if item is not None:
                out.append(item)
        else:
            run.append(item)
    return out


# ------------------------------------------------------------ comparing

def gather(alert_events, order):
    """All events of an alert, flattened, in processing order."""
    ids = []
    for evs in alert_events.values():
        for e in evs:
            ids.append(e.get("id"))
    if any(i not in order for i in ids):
        raise ValueError("alert carries an unknown event: %r" % ids)
    return tuple(sorted(ids, key=lambda i: order[i]))


def fmt(ms):
    return "[" + ", ".join("[" + " ".join(m) + "]" for m in sorted(ms)) + "]"


def multiset(lists):
    return collections.Counter(tuple(x) for x in lists)


def diff_text(what, expected, got):
    e, g = multiset(expected), multiset(got)
    missing = list((e - g).elements())
    extra = list((g - e).elements())
    parts = ["%s: expected %s got %s" % (what, fmt(expected), fmt(got))]
    if missing:
        parts.append("missing %s" % fmt(missing))
    if extra:
        parts.append("unexpected %s" % fmt(extra))
    return "; ".join(parts)


def run_case(case, cepd, work, check):
    """Returns (ok, message)."""
    cdir = os.path.join(work, case["id"])
    os.makedirs(cdir, exist_ok=True)
    ts, note = ts_for(case)
    rules = rule_yaml(case)
    if note:
        rules = "# " + note + "\n" + rules
    events, at_eof = events_file(case, ts)
    rpath = os.path.join(cdir, "rules.yaml")
    epath = os.path.join(cdir, "events.jsonl")
    lpath = os.path.join(cdir, "late.jsonl")
    with open(rpath, "w") as f:
        f.write(rules)
    with open(epath, "w") as f:
        f.write(events)
    argv = [cepd, "replay", "--rules", rpath, "--stream", "s", "--at-eof", at_eof,
            "--late", lpath, epath]
    with open(os.path.join(cdir, "cmd"), "w") as f:
        f.write(" ".join(argv) + "\n")
    if check:
        p = subprocess.run([cepd, "check", rpath], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        if p.returncode != 0:
            return False, "cepd check failed: " + p.stdout.strip().replace("\n", " | ")
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False, "cepd replay timed out (60 s)"
    if p.returncode != 0:
        return False, "cepd replay exited %d: %s" % (p.returncode,
                                                     p.stderr.strip().replace("\n", " | "))
    with open(os.path.join(cdir, "alerts.jsonl"), "w") as f:
        f.write(p.stdout)
    # Warnings (e.g. an unbounded loop without `within`) are fine; errors and
    # rejected input lines are not.
    errors = [l for l in p.stderr.splitlines() if ": error:" in l or "rejected" in l]
    if errors:
        return False, "cepd replay wrote to stderr: " + " | ".join(errors)

    arrival = {e["id"]: i for i, e in enumerate(case["events"])}
    order = {i: (ts[i], arrival[i]) for i in arrival}
    matches, timeouts, timeout_ts = [], [], []
    for line in p.stdout.splitlines():
        if not line.strip():
            continue
        try:
            a = json.loads(line, parse_float=decimal.Decimal)
            ids = gather(a.get("events", {}), order)
        except ValueError as exc:
            return False, "bad alert line %r: %s" % (line[:200], exc)
        if a.get("timed_out") is True:
            timeouts.append(ids)
            ms = decimal.Decimal(a.get("time", 0)) * 1000
            timeout_ts.append((ids, int(ms) if ms == ms.to_integral_value() else str(ms)))
        else:
            matches.append(ids)

    problems = []
    if case.get("expected") is not None:
        exp = [tuple(m) for m in case["expected"]]
        if multiset(exp) != multiset(matches):
            problems.append(diff_text("matches", exp, matches))
    if "expected_timeouts" in case:
        exp = [tuple(m) for m in case["expected_timeouts"]]
        if multiset(exp) != multiset(timeouts):
            problems.append(diff_text("timeouts", exp, timeouts))
        elif case.get("expected_timeout_ts") is not None:
            want = collections.Counter(zip(exp, case["expected_timeout_ts"]))
            if want != collections.Counter(timeout_ts):
                problems.append("timeout times: expected %s got %s" %
                                (sorted(want.elements()), sorted(timeout_ts)))
    if "expected_late" in case:
        late = []
        if os.path.exists(lpath):
            with open(lpath) as f:
                for line in f:
                    if line.strip():
                        late.append(json.loads(line).get("id"))
        if late != case["expected_late"]:
            problems.append("late: expected %s got %s" % (case["expected_late"], late))
    if problems:
        return False, "; ".join(problems)
    return True, ""


def load_known(path):
    known = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                cid, _, reason = line.partition(" ")
                known[cid] = reason.strip()
    return known


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cepd", default=os.environ.get("CEPD", "cepd"))
    ap.add_argument("--cases", default=os.path.join(HERE, "flinkcep-cases.json"))
    ap.add_argument("--known-failures", default=os.path.join(HERE, "known-failures.txt"))
    ap.add_argument("--work", help="keep the generated files here (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir and print it")
    ap.add_argument("--check", action="store_true", help="run `cepd check` on each rule file")
    ap.add_argument("--show", action="store_true", help="print the rule and events, don't run")
    ap.add_argument("ids", nargs="*")
    args = ap.parse_args()

    with open(args.cases) as f:
        cases = json.load(f)
    if args.ids:
        cases = [c for c in cases if c["id"] in args.ids]
        missing = set(args.ids) - set(c["id"] for c in cases)
        if missing:
            sys.exit("unknown case id(s): %s" % " ".join(sorted(missing)))
    if args.show:
        for c in cases:
            ts, note = ts_for(c)
            ev, at_eof = events_file(c, ts)
            print("### %s (--at-eof %s)%s" % (c["id"], at_eof, " -- " + note if note else ""))
            print(rule_yaml(c) + ev)
        return 0
    known = load_known(args.known_failures)
    work = args.work or tempfile.mkdtemp(prefix="cepd-flink.")
    passed = failed = 0
    xfails, xpasses = [], []
    for c in cases:
        try:
            ok, msg = run_case(c, args.cepd, work, args.check)
        except Unsupported as exc:
            ok, msg = False, "unsupported by the translator: %s" % exc
        except OSError as exc:
            ok, msg = False, "cannot run %s: %s" % (args.cepd, exc)
        if ok and c["id"] in known:
            xpasses.append(c["id"])
            passed += 1
            print("XPASS %s (listed in known-failures.txt; remove it)" % c["id"])
        elif ok:
            passed += 1
            print("ok %s" % c["id"])
        elif c["id"] in known:
            xfails.append(c["id"])
            passed += 1
            print("xfail %s: %s [%s]" % (c["id"], known[c["id"]], msg))
        else:
            failed += 1
            print("FAIL %s: %s" % (c["id"], msg))
    print("%d passed, %d failed" % (passed, failed), end="")
    if xfails:
        print(" (%d expected failures: %s)" % (len(xfails), " ".join(xfails)), end="")
    print()
    if args.work is None:
        if args.keep:
            print("generated files kept in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
