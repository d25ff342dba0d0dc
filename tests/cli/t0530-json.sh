#!/bin/sh
# SPDX-License-Identifier: MIT
# t0530-json.sh - stress, bench and replay --json come from the same writer
# as every other command: one line, one object, schema_version and command
# first, the shared names (block_size, groups, free_blocks, free_extents,
# seconds, path) where they apply.  Skips (77) without python3.
# Usage: t0530-json.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
command -v python3 >/dev/null || { echo "skip: python3 not installed"; exit 77; }
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# js NAME FILE PYTHON: the file holds one JSON line; PYTHON asserts on d
js() {
	if python3 -c 'import json, sys
text = open(sys.argv[1]).read()
assert text.count("\n") == 1 and text.endswith("}\n"), "not one line"
d = json.loads(text)
keys = list(d)
assert keys[:2] == ["schema_version", "command"], keys[:2]
assert d["schema_version"] == 1
exec(sys.argv[2])' "$2" "$3"; then ok "$1"; else bad "$1"; cat "$2"; fi
}

"$MB" stress --iterations 1 --size 16M --block-size 4K --threads 2 --json --no-progress \
	>"$T/stress.json" 2>"$T/err" || { bad "stress --json exits 0"; cat "$T/err"; }
js "stress json" "$T/stress.json" '
assert d["command"] == "stress" and d["path"] is None, d
assert d["block_size"] == 4096 and d["groups"] >= 1 and d["seconds"] >= 0
assert d["spurious_enospc"] == 0 and d["iterations"] == 1'

"$MB" bench --quick --workload churn --seconds 0.001 --json >"$T/bench.json" 2>"$T/err" ||
	{ bad "bench --json exits 0"; cat "$T/err"; }
js "bench json" "$T/bench.json" '
assert d["command"] == "bench" and d["quick"] is True and "cpu" in d["machine"], d
rows = d["rows"]
assert rows and all(r["workload"] == "churn" for r in rows), rows
aged = [x for r in rows for x in r["results"] if "free_blocks" in x]
assert aged and all(x["free_extents"] <= x["free_blocks"] for x in aged), aged'

# bench on a pipe: no progress line (stderr is not a terminal here)
[ ! -s "$T/err" ] && ok "bench: no progress off a terminal" || { bad "bench wrote to stderr"; cat "$T/err"; }

# --cells names any request length: those run instead of 1, 16 and 256;
# a length of 0, with a leading zero or past 2^20 is refused
"$MB" bench --quick --workload matrix --cells empty,100,4096,zero,1thr --seconds 0.001 --json \
	>"$T/mx.json" 2>"$T/err" || { bad "bench --cells 100,4096 exits 0"; cat "$T/err"; }
js "bench --cells lengths" "$T/mx.json" '
ps = [r["params"].split() for r in d["rows"]]
assert [p[2] for p in ps] == ["100", "4096"], ps
assert all(p[0] == "empty" and p[4] == "zero" and p[5] == "1" for p in ps), ps
assert all(x["ops"] >= 1 for r in d["rows"] for x in r["results"] if not x["skipped"]), d'
for v in 0 01 1048577 12x; do
	"$MB" bench --quick --workload matrix --cells "$v" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc = 2 ] && grep -q "invalid value '$v'" "$T/err" && ok "bench --cells $v refused" ||
		{ bad "bench --cells $v: exit $rc"; cat "$T/out" "$T/err"; }
done

# replay of a one-request trace on a fresh ext4 image (needs mkfs.ext4 and a
# build with libext2fs: replay says so and exits 1 otherwise)
MKFS=$(command -v mkfs.ext4 || command -v /sbin/mkfs.ext4)
if [ -n "$MKFS" ] && truncate -s 64M "$T/img" && "$MKFS" -F -q -b 4096 "$T/img" 2>/dev/null; then
	H='  wl-100   [000] .....  10.000001:'
	{
		echo "$H ext4_request_blocks: dev 7,0 ino 12 flags HINT_DATA len 8 lblk 0 goal 9000 lleft 0 lright 0 pleft 0 pright 0 "
		echo "$H ext4_allocate_blocks: dev 7,0 ino 12 flags HINT_DATA len 8 block 9000 lblk 0 goal 9000 lleft 0 lright 0 pleft 0 pright 0"
	} >"$T/trace"
	if "$MB" replay --json "$T/img" "$T/trace" >"$T/replay.json" 2>"$T/err"; then
		js "replay json" "$T/replay.json" '
assert d["command"] == "replay" and d["requests"] == 1, d
for k in ("exact", "exact_pct", "same_group_pct", "first_divergence"):
    assert k in d, k
assert d["final_bitmap_matches"] is None and d["geometry"]["block_size"] == 4096'
	elif grep -q "libext2fs" "$T/err"; then
		echo "skip replay: built without libext2fs"
	else
		bad "replay --json"; cat "$T/err"
	fi
fi

[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
