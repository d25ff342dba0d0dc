#!/bin/sh
# SPDX-License-Identifier: MIT
# t-replay-s1.sh - `mballoc replay` of the real Linux 6.18 trace s1 (one
# sequential writer): the parser sees every request and result, and in
# resync mode the final bitmap equals the kernel's end image.  The exact
# match percentages are printed, not asserted (issue 11 raises them).
# Usage: t-replay-s1.sh MBALLOC TRACES_DIR HAVE_EXT2FS; exit 77 = skipped.
MB=${1:?usage: $0 MBALLOC TRACES HAVE_EXT2FS}
TR=$2/s1
[ "$3" = 1 ] || { echo "skip: built without libext2fs"; exit 77; }
for c in zstd e2image; do
	command -v $c >/dev/null || { echo "skip: $c not installed"; exit 77; }
done
[ -f "$TR/trace.txt.zst" ] || { echo "skip: no traces at $TR"; exit 77; }
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
has() { # has FILE TEXT NAME
	if grep -q -- "$2" "$1"; then ok "$3"; else bad "$3: '$2' not in:"; cat "$1"; fi
}

zstd -qd "$TR/trace.txt.zst" -o "$T/trace.txt" &&
	zstd -qd "$TR/start.e2i.zst" -o "$T/start.qcow2" &&
	zstd -qd "$TR/end.e2i.zst" -o "$T/end.qcow2" &&
	e2image -r "$T/start.qcow2" "$T/start.raw" 2>/dev/null &&
	e2image -r "$T/end.qcow2" "$T/end.raw" 2>/dev/null || { echo "FAIL unpacking s1"; exit 1; }

"$MB" replay --json --mode resync --end "$T/end.raw" "$T/start.raw" "$T/trace.txt" >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 0 ] && ok "resync exits 0" || { bad "resync exit $rc"; cat "$T/err"; }
[ "$(wc -l <"$T/out")" = 1 ] && ok "json is one line" || bad "json is one line"
has "$T/out" '"requests":32,' "32 requests replayed"
has "$T/out" '"ext4_request_blocks":32,' "parser saw 32 requests"
has "$T/out" '"ext4_allocate_blocks":32,' "parser saw 32 results"
has "$T/out" '"ext4_mballoc_alloc":32,' "parser saw 32 searches"
has "$T/out" '"jbd2_end_commit":8,' "parser saw 8 commits"
has "$T/out" '"malformed":0,' "no malformed line"
has "$T/out" '"unmatched":0,' "every request has its result"
has "$T/out" '"resync_conflicts":0,' "every kernel extent could be imposed"
has "$T/out" '"final_bitmap_matches":true' "final bitmap equals the kernel's"
has "$T/out" '"beyond_isize":0,' "i_size followed from the events covers every request"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" &&
		ok "json parses" || bad "json parses"
fi
echo "resync: $(grep -o '"exact_pct":[0-9.]*,"same_group":[0-9]*,"same_group_pct":[0-9.]*' "$T/out")"

"$MB" replay --mode free "$T/start.raw" "$T/trace.txt" >"$T/free" 2>&1 &&
	ok "free-running exits 0" || { bad "free-running"; cat "$T/free"; }
has "$T/free" "^requests 32," "free-running replays 32 requests"
echo "free: $(grep '^requests' "$T/free")"

# mb_stats beside the kernel's: every counter of its file gets a line.
"$MB" replay --stats "$TR/mb_stats.end" "$T/start.raw" "$T/trace.txt" >"$T/stats" 2>&1 &&
	ok "--stats exits 0" || { bad "--stats"; cat "$T/stats"; }
has "$T/stats" "^  reqs  *32 | 32$" "mb_stats: 32 requests on both sides"
has "$T/stats" "^  cr_goal_slow_stats:" "mb_stats: criterion sections"
has "$T/stats" "^  buddies_time_used .* | -$" "mb_stats: a counter we lack shows -"
"$MB" replay --json --stats "$TR/mb_stats.end" "$T/start.raw" "$T/trace.txt" >"$T/sj" 2>&1
has "$T/sj" '"mb_stats":\[{"name":"reqs","kernel":"32","ours":32}' "mb_stats in the JSON object"
"$MB" replay --stats "$T/nonexistent" "$T/start.raw" "$T/trace.txt" >"$T/out" 2>"$T/err"
[ $? = 1 ] && ok "--stats missing file: exit 1" || bad "--stats missing file: exit 1"

# The text report names the divergence kinds with the kernel's line.  The
# library now makes all 32 of the kernel's choices, so a divergence is made
# with a tunable that turns CR_POWER2_ALIGNED off.
"$MB" replay "$T/start.raw" "$T/trace.txt" >"$T/text" 2>&1
has "$T/text" "first divergence -1" "text report: no divergence"
"$MB" replay -t mb_order2_req=20 "$T/start.raw" "$T/trace.txt" >"$T/text" 2>&1
has "$T/text" "kernel: ext4_mballoc_alloc:" "text report shows the kernel's line"
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
