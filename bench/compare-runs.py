#!/usr/bin/env python3
"""Summarises bench/side-by-side.sh's output: per configuration the verdict counts and total seconds, the verdict
disagreements with the base build, and time ratios (base / configuration) on the instances both decided.
Usage: python3 bench/compare-runs.py OUT   (the folder side-by-side.sh wrote)"""
import csv, math, statistics, sys

out = sys.argv[1]
rows = {}
for side in ("base", "new"):
    with open(f"{out}/{side}.csv", newline="") as f:
        for r in csv.DictReader(f):
            name = ("base " if side == "base" else "") + r["configuration"]
            rows.setdefault(name, {})[r["instance"]] = r

decided = lambda r: r["verdict"] in ("verified", "falsified")
base = next(k for k in rows if k.startswith("base "))
print("| configuration | verified | falsified | unknown | decided | total s | PAR-2 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, runs in rows.items():
    v = sum(r["verdict"] == "verified" for r in runs.values())
    fa = sum(r["verdict"] == "falsified" for r in runs.values())
    u = len(runs) - v - fa
    total = sum(float(r["seconds"]) for r in runs.values())
    par2 = sum(float(r["seconds"]) if decided(r) else 2 * float(r["timeout"]) for r in runs.values())
    print(f"| {name} | {v} | {fa} | {u} | {v + fa} / {len(runs)} | {total:.1f} | {par2:.1f} |")
print()
print("| comparison | both decided | median | geometric mean | range | verdicts that differ (decided by both) | decided only by the configuration / only by the base |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
for name, runs in rows.items():
    if name == base:
        continue
    both = [i for i in runs if i in rows[base] and decided(runs[i]) and decided(rows[base][i])]
    ratios = [max(float(rows[base][i]["seconds"]), 1e-3) / max(float(runs[i]["seconds"]), 1e-3) for i in both]
    differ = [i for i in both if runs[i]["verdict"] != rows[base][i]["verdict"]]
    only_new = sum(decided(runs[i]) and not decided(rows[base][i]) for i in runs if i in rows[base])
    only_base = sum(decided(rows[base][i]) and not decided(runs[i]) for i in runs if i in rows[base])
    if ratios:
        gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        print(f"| {base} / {name} | {len(both)} | {statistics.median(ratios):.2f}× | {gm:.2f}× | {min(ratios):.2f}–{max(ratios):.2f}× | {len(differ)} | {only_new} / {only_base} |")
    for i in differ:
        print(f"  DIFFERENT VERDICT on {i}: base {rows[base][i]['verdict']}, {name} {runs[i]['verdict']}")
