#!/usr/bin/env python3
"""Instructions of `Engine::process` per frame, by source file, from a callgrind output file.

Usage: callgrind_units.py CALLGRIND_OUT FRAMES

Prints the inclusive cost of `Engine::process` per frame, the inclusive cost per frame of
each Chronus function it reaches (the units that are not inlined: Reverb::process_chunk,
Delay::process, Limiter::process, ...), and the self cost of everything it reaches split by
the source file the debug line info names (code inlined from reverb.rs, voice.rs, ... counts
for that file).
"""
import collections
import re
import sys

ROOT = re.compile(r"chronus::engine::Engine::process$")


def parse(path):
    names = {"fn": {}, "fl": {}}
    self_cost = collections.defaultdict(lambda: collections.Counter())
    calls = collections.defaultdict(set)
    inclusive_calls = collections.Counter()
    fn = fl = cur_file = None
    pending_call = None

    def name(kind, value):
        m = re.match(r"\((\d+)\)(?: (.*))?$", value)
        if not m:
            return value
        table = names["fl" if kind in ("fl", "fi", "fe", "cfi", "cfl") else "fn"]
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table[m.group(1)]

    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            key, _, value = line.partition("=")
            if key in ("fl", "fi", "fe", "fn", "cfn", "cfi", "cfl") and _:
                v = name(key, value)
                if key == "fl":
                    fl = cur_file = v
                elif key in ("fi", "fe"):
                    cur_file = v
                elif key == "fn":
                    fn = v
                    cur_file = fl
                elif key == "cfn":
                    pending_call = v
                continue
            if key == "calls" and _:
                # The next cost line is the call's inclusive cost, not self cost.
                calls[fn].add(pending_call)
                pending_call = ("__inclusive__", pending_call)
                continue
            if line[0] in "0123456789+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if isinstance(pending_call, tuple):
                    inclusive_calls[(fn, pending_call[1])] += cost
                    pending_call = None
                else:
                    self_cost[fn][cur_file] += cost
    return self_cost, calls, inclusive_calls


def main():
    path, frames = sys.argv[1], int(sys.argv[2])
    self_cost, calls, inclusive_calls = parse(path)
    roots = [f for f in self_cost if f and ROOT.search(f)]
    if not roots:
        sys.exit("callgrind_units: no Engine::process in " + path)
    seen, todo = set(), list(roots)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(calls.get(f, ()))
    by_file = collections.Counter()
    for f in seen:
        for file, cost in self_cost[f].items():
            by_file[file] += cost
    total = sum(by_file.values())
    root_inclusive = sum(sum(self_cost[r].values()) for r in roots) + sum(
        c for (caller, _), c in inclusive_calls.items() if caller in roots
    )
    print(f"Engine::process: {root_inclusive / frames:.1f} instructions per frame "
          f"({root_inclusive} over {frames} frames)")
    print("per function (inclusive, per frame; nested calls count in their callers too):")
    rows = []
    for f in seen:
        if f and f.startswith("chronus::") and not ROOT.search(f):
            inc = sum(self_cost[f].values()) + sum(
                c for (caller, _), c in inclusive_calls.items() if caller == f
            )
            rows.append((inc, f))
    for inc, f in sorted(rows, reverse=True):
        if inc / frames >= 0.5:
            print(f"  {inc / frames:8.1f}  {f}")
    print("per source file (self cost of everything process reaches, per frame; code inlined")
    print("from the standard library counts for its own file):")
    for file, cost in by_file.most_common():
        if cost / frames >= 0.5:
            short = re.sub(r".*/(src|library|rustc/[0-9a-f]+/library)/", r"\1/", file)
            print(f"  {cost / frames:8.1f}  {short}")
    print(f"  {total / frames:8.1f}  (sum)")


main()
