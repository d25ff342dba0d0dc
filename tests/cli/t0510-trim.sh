#!/bin/sh
# SPDX-License-Identifier: MIT
# t0510-trim.sh - mballoc trim PATH punches the free runs out of an image
# (their bytes read back as zeroes, the file takes less space) and never an
# allocated block (a group's reserved blocks keep their bytes); --dry-run,
# --minimum and the range options; the volume stays clean.
# Usage: t0510-trim.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
. "${0%/*}/lib.sh"
# block N: the 1 KiB block N of the image, as hex
block() { od -An -tx1 -v -j $(($1 * 1024)) -N 1024 "$V" | tr -d ' \n'; }
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
ZERO=$(head -c 1024 /dev/zero | od -An -tx1 -v | tr -d ' \n')

V=$T/vol.img
# 16 groups of 1024 1 KiB blocks; 32 reserved blocks at each group's start
"$MB" format "$V" --size 16M --block-size 1K --blocks-per-group 1024 --reserved 32 \
	>/dev/null || exit 1
# data in group 5's free blocks (5200..5263) and in its reserved blocks 5125..5130
# (reserved: allocated, never written by the library)
head -c 65536 /dev/urandom | dd of="$V" bs=1024 seek=5200 conv=notrunc 2>/dev/null
head -c 6144 /dev/urandom | dd of="$V" bs=1024 seek=5125 conv=notrunc 2>/dev/null
R=$(block 5126)
[ "$(block 5210)" != "$ZERO" ] || { echo "setup: data not written"; exit 1; }

expect 0 "dry run" "$MB" trim --dry-run "$V"
has "$T/out" "would be trimmed" "dry run says so"
[ "$(block 5210)" != "$ZERO" ] && ok "dry run discards nothing" || bad "dry run discarded"

# runs shorter than the minimum are skipped: every free run is 992 blocks
expect 0 "minimum above every run" "$MB" trim "$V" --minimum 1000K --json
[ "$(block 5210)" != "$ZERO" ] && ok "--minimum: nothing discarded" || bad "--minimum ignored"

# a range that ends before group 5 leaves it alone
expect 0 "range before group 5" "$MB" trim "$V" --offset 0 --length 5M
[ "$(block 5210)" != "$ZERO" ] && ok "range: group 5 untouched" || bad "range ignored"

before=$(stat -c %b "$V")
expect 0 "trim" "$MB" trim "$V" --json
if command -v python3 >/dev/null; then
	[ "$(json "$T/out" trimmed_blocks)" = $((16 * 992)) ] &&
		ok "trim counts every free block" ||
		bad "trimmed $(json "$T/out" trimmed_blocks) blocks"
	[ "$(json "$T/out" runs)" = 16 ] && ok "one run per group" || bad "runs"
fi
[ "$(block 5210)" = "$ZERO" ] && ok "free blocks read back as zeroes" || {
	if grep -q "cannot punch holes" "$T/err"; then echo "skip: no hole punching here"; exit 77; fi
	bad "free blocks still hold data"; }
[ "$(block 5126)" = "$R" ] && ok "reserved (allocated) blocks keep their bytes" ||
	bad "trim discarded allocated blocks"
after=$(stat -c %b "$V")
[ "$after" -lt "$before" ] && ok "the image takes less space ($before -> $after)" ||
	bad "the image did not shrink ($before -> $after)"
expect 0 "still clean" "$MB" check "$V"

expect 2 "trim without PATH" "$MB" trim
expect 2 "trim bad size" "$MB" trim "$V" --minimum 12Q
head -c 65536 /dev/zero >"$T/zero.img"
expect 1 "trim not a volume" "$MB" trim "$T/zero.img"
has "$T/err" "not an mballoc volume (bad magic)" "trim: bad magic in words"

[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
