#!/bin/sh
# SPDX-License-Identifier: MIT
# t0520-map.sh - mballoc map -o FILE.svg, read back with a real XML parser
# (python3's xml.etree): one strip per group, each strip's figures equal to
# `groups --json` / `freefrag --json` for the same volume, bar widths and
# extent rectangles consistent with those figures (exact rectangles for a
# group with few fragments, per-pixel columns for one with many), and the
# histogram equal to freefrag's.  Skips (77) without python3.
# Usage: t0520-map.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
command -v python3 >/dev/null || { echo "skip: python3 not installed"; exit 77; }
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
. "${0%/*}/lib.sh"

cat >"$T/check.py" <<'PY'
# check.py SVG GROUPS_JSON FREEFRAG_JSON: asserts the picture matches the data
import json, sys
import xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
svg = ET.parse(sys.argv[1]).getroot()
groups = json.load(open(sys.argv[2]))["groups"]
ff = json.load(open(sys.argv[3]))
assert svg.tag == NS + "svg", svg.tag
bpg = int(svg.get("data-blocks-per-group"))
strips = [g for g in svg.iter(NS + "g") if g.get("class") == "group"]
assert len(strips) == len(groups) == int(svg.get("data-groups")), (len(strips), len(groups))
total = 0
binned = 0
for i, g in enumerate(strips):
    assert int(g.get("data-group")) == i
    free, n = int(g.get("data-free")), int(g.get("data-blocks"))
    largest, frags = int(g.get("data-largest")), int(g.get("data-fragments"))
    # the picture's figures are the volume's: groups --json counts the same blocks
    # (a read-only or PA-less volume: buddy free == on-disk free)
    if groups[i]["free_blocks"] is not None and sys.argv[4] == "exact":
        assert free == groups[i]["free_blocks"], (i, free, groups[i])
    assert 0 <= largest <= free <= n <= bpg, (i, largest, free, n)
    assert (frags == 0) == (free == 0) and largest * frags >= free, (i, largest, frags, free)
    total += free
    rect = {r.get("class"): r for r in g.iter(NS + "rect")}
    assert abs(float(rect["free-share"].get("width")) - 200.0 * free / n) < 0.01, i
    assert abs(float(rect["largest-run"].get("width")) - 200.0 * largest / n) < 0.01, i
    strip = rect["strip"]
    x0, w0 = float(strip.get("x")), float(strip.get("width"))
    assert abs(w0 - 600.0 * n / bpg) < 0.01, i
    ext = [r for r in g.iter(NS + "rect") if r.get("class") == "extent"]
    drawn = sum(float(r.get("width")) * float(r.get("fill-opacity")) for r in ext)
    for r in ext:
        x, w = float(r.get("x")), float(r.get("width"))
        assert x0 - 1e-6 <= x and x + w <= x0 + w0 + 1e-3, (i, x, w)
        assert 0 < float(r.get("fill-opacity")) <= 1.0, (i, r.get("fill-opacity"))
    if len(ext) == frags:  # one rectangle per free extent
        assert abs(drawn - 600.0 * free / bpg) < 0.01 * max(frags, 1), (i, drawn, free)
        for r in ext:
            assert float(r.get("fill-opacity")) == 1.0
    else:  # one column per pixel: the free blocks spread over the columns
        binned += 1
        assert len(ext) <= 600 and frags > 600, (i, len(ext), frags)
        assert abs(drawn - 600.0 * free / bpg) <= 0.01 * 600.0 * free / bpg + 1, (i, drawn)
assert total == ff["free_blocks"] == int(svg.get("data-free-blocks")), (total, ff["free_blocks"])
# the histogram is freefrag's, bucket by bucket
hist = [g for g in svg.iter(NS + "g") if g.get("class") == "histogram"]
assert len(hist) == 1
bins = {int(r.get("data-order")): r for r in hist[0].iter(NS + "rect") if r.get("class") == "bin"}
want = {(b["min_blocks"]).bit_length() - 1: b for b in ff["histogram"]}
for k, b in want.items():
    assert int(bins[k].get("data-extents")) == b["free_extents"], (k, b)
    assert int(bins[k].get("data-blocks")) == b["free_blocks"], (k, b)
for k, r in bins.items():
    if k not in want:
        assert int(r.get("data-extents")) == 0 and float(r.get("height")) == 0, k
assert int(hist[0].get("data-free-extents")) == ff["free_extents"]
most = max(int(r.get("data-blocks")) for r in bins.values())
for r in bins.values():
    assert abs(float(r.get("height")) - 160.0 * int(r.get("data-blocks")) / most) < 0.01
print("strips %d, binned %d, free %d" % (len(strips), binned, total))
if sys.argv[5:] == ["binned"]:
    assert binned > 0, "no group was drawn in pixel columns"
PY

# a real volume: a churn run wrote every group
V=$T/vol.img
"$MB" format "$V" --size 15872K --block-size 1K --blocks-per-group 1024 >/dev/null || exit 1 # the last group: half
"$MB" stress --image "$V" --mode churn --threads 2 --duration 1 --iterations 1 -q \
	>/dev/null || { echo "stress on the image failed"; exit 1; }
expect 0 "map PATH" "$MB" map "$V" -o "$T/v.svg"
"$MB" groups "$V" --json >"$T/g.json" && "$MB" freefrag "$V" --json >"$T/f.json" || bad "json"
python3 "$T/check.py" "$T/v.svg" "$T/g.json" "$T/f.json" exact && ok "map PATH matches the volume" ||
	bad "map PATH"

# synthetic, few fragments per group: a rectangle per extent
S="--synthetic --size 64M --block-size 1K --seed 3"
expect 0 "map synthetic" "$MB" map $S -o "$T/s.svg"
"$MB" groups $S --json >"$T/g.json" && "$MB" freefrag $S --json >"$T/f.json" || bad "json"
# (its locality-group preallocations are free on disk, used for the buddy: no per-group compare)
python3 "$T/check.py" "$T/s.svg" "$T/g.json" "$T/f.json" ondisk && ok "map synthetic matches" ||
	bad "map synthetic"

# synthetic, 4 KiB blocks: groups of 32768 blocks with over 600 fragments
S="--synthetic --seed 1"
expect 0 "map synthetic, many fragments" "$MB" map $S -o "$T/b.svg"
"$MB" groups $S --json >"$T/g.json" && "$MB" freefrag $S --json >"$T/f.json" || bad "json"
python3 "$T/check.py" "$T/b.svg" "$T/g.json" "$T/f.json" ondisk binned &&
	ok "map in pixel columns matches" || bad "map in pixel columns"

expect 2 "map without -o" "$MB" map "$V"
expect 1 "map to a missing directory" "$MB" map "$V" -o "$T/no/such.svg"
[ ! -e "$T/no/such.svg" ] && ok "no file after a failed map" || bad "a failed map left a file"
expect 0 "map to stdout" "$MB" map "$V" -o -
head -c 5 "$T/out" | grep -q '<?xml' && ok "stdout holds the SVG" || bad "stdout SVG"

[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
