#!/bin/sh
# SPDX-License-Identifier: MIT
# t-replay-s5.sh - `mballoc replay` of the real trace s5 (aging churn:
# 836 files, 485 unlinked, inode numbers reused, 7 journal commits).  In
# resync mode every kernel extent can be imposed (frees became reusable
# exactly when the kernel reused them), no free is refused, i_size followed
# from the events covers every request, and the final bitmap is the
# kernel's.  Percentages are printed, not asserted.
# Usage: t-replay-s5.sh MBALLOC TRACES_DIR HAVE_EXT2FS; exit 77 = skipped.
MB=${1:?usage: $0 MBALLOC TRACES HAVE_EXT2FS}
TR=$2/s5
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
	e2image -r "$T/end.qcow2" "$T/end.raw" 2>/dev/null || { echo "FAIL unpacking s5"; exit 1; }

"$MB" replay --json --end "$T/end.raw" "$T/start.raw" "$T/trace.txt" >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 0 ] && ok "resync exits 0" || { bad "resync exit $rc"; cat "$T/err"; }
has "$T/out" '"requests":852,' "852 requests replayed"
has "$T/out" '"malformed":0,' "no malformed line"
has "$T/out" '"unmatched":0,' "every request has its result"
has "$T/out" '"frees":488,' "488 kernel frees"
has "$T/out" '"free_errors":0,' "no free refused"
has "$T/out" '"commits":7,' "7 commits"
has "$T/out" '"resync_conflicts":0,' "every kernel extent could be imposed"
has "$T/out" '"beyond_isize":0,' "i_size followed from the events covers every request"
has "$T/out" '"final_bitmap_matches":true' "final bitmap equals the kernel's"
echo "resync: $(grep -o '"exact_pct":[0-9.]*,"same_group":[0-9]*,"same_group_pct":[0-9.]*' "$T/out")"
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
