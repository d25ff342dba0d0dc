#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Markdown tables from `mballoc bench --json` side-by-side rows (matrix,
bench, 90_300, aging, drain): per CPU-second rates and the ratio best
mballoc / best peer, as docs/BENCHMARKS.md shows them.

usage: side_table.py BENCH.json [...]
"""
import json
import math
import sys


def gm(v):
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else 0.0


def rate(x):
    v = x.get("cpu_ops_per_s", 0)
    return "%.2f M" % (v / 1e6) if v >= 1e5 else "%.1f k" % (v / 1e3)


def matrix(rows):
    print("| fill | len | zero 1 thr | zero 2 thr | next 1 thr | next 2 thr "
          "| random 1 thr | random 2 thr |")
    print("|---|---|---|---|---|---|---|---|")
    cells = {}
    for r in rows:
        p = r["params"].split()
        # "aged90 len 256 goal next 2 thr"
        key = (p[0], int(p[2]))
        cells.setdefault(key, {})[(p[4], int(p[5]))] = r
    for (fill, ln), c in cells.items():
        out = []
        for g in ("zero", "next", "random"):
            for t in (1, 2):
                r = c.get((g, t))
                out.append("%.2fx" % r["best_ratio_cpu"] if r and "best_ratio_cpu" in r else "-")
        print("| %s | %d | %s |" % (fill, ln, " | ".join(out)))
    v = [r["best_ratio_cpu"] for r in rows if "best_ratio_cpu" in r]
    print()
    print("| cells | geo-mean | cells lost (< 1x) | min | max |")
    print("|---|---|---|---|---|")
    for name, sel in (("all", lambda r: True),
                      ("len 1", lambda r: " len 1 " in r["params"]),
                      ("len 16", lambda r: " len 16 " in r["params"]),
                      ("len 256", lambda r: " len 256 " in r["params"])):
        w = [r["best_ratio_cpu"] for r in rows if "best_ratio_cpu" in r and sel(r)]
        if w:
            print("| %s (%d) | %.2fx | %d | %.3fx | %.2fx |" % (
                name, len(w), gm(w), sum(x < 1 for x in w), min(w), max(w)))
    b = [r["bound_ratio_cpu"] for r in rows if "bound_ratio_cpu" in r]
    if b:
        print("| len 1 vs spdk_bit_pool (%d) | %.2fx | %d | %.3fx | %.2fx |" % (
            len(b), gm(b), sum(x < 0.5 for x in b), min(b), max(b)))
    print()
    print("Worst cells:", "; ".join("%s %.3fx (%s vs %s)" % (
        " ".join(r["params"].split()), r["best_ratio_cpu"], r["best_mballoc"], r["best_peer"])
        for r in sorted(rows, key=lambda r: r.get("best_ratio_cpu", 9))[:6]))


def shapes(rows):
    names = []
    for r in rows:
        for x in r["results"]:
            if x["alloc"] not in names:
                names.append(x["alloc"])
    print("| workload | " + " | ".join(names) + " | best mballoc / best Ceph |")
    print("|---|" + "---|" * (len(names) + 1))
    for r in rows:
        res = {x["alloc"]: x for x in r["results"]}
        cols = []
        for n in names:
            x = res.get(n)
            if not x or x.get("skipped"):
                cols.append("-")
                continue
            s = rate(x)
            if "split_pct" in x:
                s += " (%.0f%% split)" % x["split_pct"]
            cols.append(s)
        name = " ".join(r["params"].split())
        if not name.startswith(r["workload"]):
            name = r["workload"] + " " + name
        print("| %s | %s | **%.3fx** |" % (name.replace("|", "\\|"), " | ".join(cols),
                                          r.get("best_ratio_cpu", 0)))


def main():
    rows = []
    for f in sys.argv[1:]:
        rows += json.load(open(f))["rows"]
    side = [r for r in rows if "best_ratio_cpu" in r]
    mx = [r for r in side if r["workload"] == "matrix"]
    other = [r for r in side if r["workload"] != "matrix"]
    if other:
        shapes(other)
        print()
    if mx:
        matrix(mx)


if __name__ == "__main__":
    main()
