#!/bin/sh
# SPDX-License-Identifier: MIT
# t0500-inspect.sh - groups, stats, freefrag and tunables read a volume PATH
# (read-only: a read-only file works and no byte changes) or, with
# --synthetic, the aged in-memory volume; every --json is one object with
# the same header and the same names for the same quantities; `help CMD`;
# errors in words (unknown tunable, usage).  Usage: t0500-inspect.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
. "${0%/*}/lib.sh"

V=$T/vol.img
"$MB" format "$V" --size 16M --block-size 1K --blocks-per-group 1024 >/dev/null || exit 1
"$MB" stress --image "$V" --mode churn --threads 2 --duration 1 --iterations 1 -q \
	>/dev/null || { echo "stress on the image failed"; exit 1; }
chmod 0444 "$V" # read-only opens must be enough
cp "$V" "$T/orig.img"

expect 0 "groups PATH" "$MB" groups "$V"
[ "$(grep -c '^#[0-9]' "$T/out")" = 16 ] && ok "groups: a row per group" ||
	bad "groups: $(grep -c '^#[0-9]' "$T/out") rows, want 16"
expect 0 "groups PATH --json" "$MB" groups "$V" --json
cp "$T/out" "$T/groups.json"
expect 0 "stats PATH --json" "$MB" stats "$V" --json
cp "$T/out" "$T/stats.json"
expect 0 "freefrag PATH" "$MB" freefrag "$V"
has "$T/out" "^Device: $V\$" "freefrag names the volume"
expect 0 "freefrag PATH --json" "$MB" freefrag "$V" --json
cp "$T/out" "$T/freefrag.json"
expect 0 "info --json" "$MB" info "$V" --json
cp "$T/out" "$T/info.json"
expect 0 "tunables PATH --json" "$MB" tunables "$V" --json
cp "$T/out" "$T/tunables.json"
expect 0 "trim --dry-run --json" "$MB" trim -n "$V" --json
cp "$T/out" "$T/trim.json"
expect 0 "check --json" "$MB" check "$V" --json
cp "$T/out" "$T/check.json"
cmp -s "$V" "$T/orig.img" && ok "no byte of the volume changed" || bad "the volume changed"

if command -v python3 >/dev/null; then
	python3 - "$T" <<'PY' && ok "json: one schema, same names, consistent figures" || bad "json schema"
import json, sys, os
t = sys.argv[1]
d = {}
for c in ("groups", "stats", "freefrag", "info", "tunables", "trim", "check"):
    text = open(os.path.join(t, c + ".json")).read()
    assert text.count("\n") == 1, (c, "not one line")
    d[c] = json.loads(text)
    assert d[c]["schema_version"] == 1, c
    assert d[c]["command"] == c, c
    assert d[c]["path"].endswith("vol.img"), c
free = d["info"]["free_blocks"]
for c in ("groups", "stats", "freefrag"):
    assert d[c]["free_blocks"] == free, (c, d[c]["free_blocks"], free)
g = d["groups"]["groups"]
assert len(g) == d["info"]["groups"] == 16
assert sum(r["free_blocks"] for r in g) == free
assert all(r["fragments"] >= (1 if r["free_blocks"] else 0) for r in g)
assert d["freefrag"]["blocks_count"] == d["info"]["blocks_count"]
assert d["freefrag"]["block_size"] == d["info"]["block_size"] == d["trim"]["block_size"]
h = d["freefrag"]["histogram"]
assert sum(b["free_blocks"] for b in h) == free
assert sum(b["free_extents"] for b in h) == d["freefrag"]["free_extents"]
# a read-only open trims exactly the free blocks of the groups (minimum: one block)
assert d["trim"]["trimmed_blocks"] == free, (d["trim"], free)
names = [x["name"] for x in d["tunables"]["tunables"]]
assert "mb_stats" in names and "mb_group_prealloc" in names
for x in d["tunables"]["tunables"]:
    assert x["min"] <= x["value"] <= x["max"], x
    assert len(x["meaning"]) > 10, x
pa = [x for x in d["tunables"]["tunables"] if x["name"] == "mb_group_prealloc"][0]
assert pa["max"] == d["info"]["blocks_per_group"], pa
assert d["check"]["clean"] is True and d["check"]["problems"] == 0
PY
fi

# --synthetic: deterministic per seed, and the old forms are usage errors
expect 0 "groups --synthetic" "$MB" groups --synthetic --size 32M --seed 7
cp "$T/out" "$T/s7"
"$MB" groups --synthetic --size 32M --seed 7 | cmp -s - "$T/s7" && ok "same seed, same volume" ||
	bad "same seed, same volume"
"$MB" groups --synthetic --size 32M --seed 8 | cmp -s - "$T/s7" && bad "seed changes nothing" ||
	ok "another seed, another volume"
expect 0 "stats --synthetic" "$MB" stats --synthetic --size 32M --json
has "$T/out" '"reqs":[1-9]' "synthetic stats count requests"
expect 0 "freefrag --synthetic" "$MB" freefrag --synthetic --size 32M --chunk 64K
expect 2 "groups without PATH" "$MB" groups
has "$T/err" "missing PATH (or --synthetic" "says PATH or --synthetic"
expect 2 "aging option without --synthetic" "$MB" groups --size 1G "$V"
expect 2 "PATH and --synthetic" "$MB" freefrag --synthetic "$V"
expect 2 "two paths" "$MB" stats "$V" "$V"
expect 1 "groups missing file" "$MB" groups "$T/none.img"
has "$T/err" "mballoc: groups: $T/none.img: No such file or directory" "missing file in words"

# tunables: every name, with value, range and meaning; unknown names in words
expect 0 "tunables" "$MB" tunables
[ "$(tail -n +2 "$T/out" | wc -l)" -ge 15 ] && ok "tunables: a line per tunable" ||
	bad "tunables: too few lines"
has "$T/out" "^mb_group_prealloc  *512  *0\.\.32768 " "tunables: value and range"
expect 2 "stress unknown tunable" "$MB" stress --tunable mb_bogus=1 --iterations 1 -q
has "$T/err" "unknown tunable 'mb_bogus' (known: mb_stats, mb_max_to_scan," "unknown tunable in words"
expect 2 "stress tunable out of range" "$MB" stress --tunable mb_stats=7 --iterations 1 -q
has "$T/err" "tunable 'mb_stats': value 7 out of range (0..1)" "range in words"

# help CMD is the command's --help
for c in groups trim map tunables check format; do
	"$MB" "$c" --help >"$T/h1" 2>&1
	if "$MB" help "$c" >"$T/h2" 2>&1 && cmp -s "$T/h1" "$T/h2"; then
		ok "help $c"; else bad "help $c differs from $c --help"; fi
done
expect 0 "help" "$MB" help
has "$T/out" "^  map " "help lists map"
expect 2 "help unknown command" "$MB" help bogus
has "$T/err" "unknown command 'bogus'" "help: unknown command in words"

[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
