#!/bin/sh
# SPDX-License-Identifier: MIT
# t-replay-garbled.sh - `mballoc replay` on bad input: a hand-made trace
# mixing good events with garbage, truncated, binary, over-long and
# unpaired lines (each counted, none fatal), the s1 trace cut at odd byte
# offsets, and bad arguments (exit 1/2 with a message).
# Usage: t-replay-garbled.sh MBALLOC TRACES_DIR HAVE_EXT2FS; exit 77 = skipped.
MB=${1:?usage: $0 MBALLOC TRACES HAVE_EXT2FS}
TR=$2/s1
[ "$3" = 1 ] || { echo "skip: built without libext2fs"; exit 77; }
MKFS=$(command -v mkfs.ext4 || command -v /sbin/mkfs.ext4) || { echo "skip: no mkfs.ext4"; exit 77; }
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
has() { # has FILE TEXT NAME
	if grep -q -- "$2" "$1"; then ok "$3"; else bad "$3: '$2' not in:"; cat "$1"; fi
}
# no_crash NAME CMD...: exit 0 or 1, never a signal
no_crash() {
	name=$1
	shift
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc -le 1 ]; then ok "$name (exit $rc)"; else bad "$name: exit $rc"; cat "$T/err"; fi
}

truncate -s 64M "$T/img" && "$MKFS" -F -q -b 4096 "$T/img" || { echo "FAIL mkfs"; exit 1; }
H='  wl-100   [000] .....  10.000001:'
{
	echo "# tracer: nop"
	echo "$H ext4_allocate_inode: dev 7,0 ino 12 dir 2 mode 0100644"
	echo "$H ext4_da_write_end: dev 7,0 ino 12 pos 0 len 32768 copied 32768"
	echo "$H ext4_request_blocks: dev 7,0 ino 12 flags HINT_DATA|DELALLOC_RESV len 8 lblk 0 goal 9000 lleft 0 lright 0 pleft 0 pright 0 "
	echo "$H ext4_mballoc_alloc: dev 7,0 inode 12 orig 0/9000/8@0 goal 0/9000/8@0 result 0/9000/8@0 blks 1 grps 0 cr CR_POWER2_ALIGNED flags HINT_DATA tail 0 broken 0"
	echo "$H ext4_allocate_blocks: dev 7,0 ino 12 flags HINT_DATA|DELALLOC_RESV len 8 block 9000 lblk 0 goal 9000 lleft 0 lright 0 pleft 0 pright 0"
	echo "garbage that is not an event"                                      # malformed 1
	echo "$H ext4_request_blocks: dev 7,0 ino 12 flags HINT_DATA len"         # malformed 2
	echo "$H ext4_mballoc_free: dev 7,0 inode 12 extent 99/0/8 "              # malformed 3
	printf '\001\377\376 junk \200\n'                                         # malformed 4
	head -c 5000 /dev/zero | tr '\0' 'x'; echo                                # malformed 5
	echo "  other-200 [001] .....  10.000002: ext4_allocate_blocks: dev 7,0 ino 13 flags HINT_DATA len 1 block 9100 lblk 0 goal 0 lleft 0 lright 0 pleft 0 pright 0"
	echo "$H some_future_event: dev 7,0 x 1"
	echo "$H ext4_mballoc_free: dev 7,0 inode 12 extent 0/9000/8 "
	echo "  lone-300 [001] .....  10.000003: ext4_request_blocks: dev 7,0 ino 14 flags HINT_DATA len 4 lblk 0 goal 9200 lleft 0 lright 0 pleft 0 pright 0 "
	printf '%s ext4_request_blocks: dev 7,0 ino 12 flags HINT_DATA len 4 lblk 8 goal 9008 lleft' "$H" # malformed 6
} >"$T/trace"
no_crash "hand-made garbled trace" "$MB" replay --json --mode free "$T/img" "$T/trace"
has "$T/out" '"requests":1,' "the one good request is replayed"
has "$T/out" '"malformed":6,' "6 malformed lines counted"
has "$T/out" '"too_long":1,' "the over-long line is counted"
has "$T/out" '"unmatched":2,' "a result without request, a request without result"
has "$T/out" '"ignored":1,' "the unknown event is counted as not used"
has "$T/out" '"first_malformed_line":7,' "first malformed line number"
no_crash "garbled, resync, text" "$MB" replay "$T/img" "$T/trace"
has "$T/out" "6 malformed (first at line 7" "text names the first malformed line"

# A binary file and an empty one.
head -c 100000 /dev/urandom >"$T/random"
no_crash "random bytes" "$MB" replay "$T/img" "$T/random"
: >"$T/empty"
no_crash "empty trace" "$MB" replay --json "$T/img" "$T/empty"
has "$T/out" '"requests":0,' "empty trace: 0 requests"
has "$T/out" '"first_divergence":-1,' "empty trace: no divergence"

# The real s1 trace cut at odd offsets (mid-line, mid-request).
if command -v zstd >/dev/null && command -v e2image >/dev/null && [ -f "$TR/trace.txt.zst" ]; then
	zstd -qd "$TR/trace.txt.zst" -o "$T/s1.txt" && zstd -qd "$TR/start.e2i.zst" -o "$T/s1.qcow2" &&
		e2image -r "$T/s1.qcow2" "$T/s1.raw" 2>/dev/null || { echo "FAIL unpacking s1"; exit 1; }
	for cut in 1000 5000007 7777777 10356000; do
		head -c $cut "$T/s1.txt" >"$T/cut"
		no_crash "s1 cut at byte $cut" "$MB" replay --json "$T/s1.raw" "$T/cut"
	done
else
	echo "skip s1 cuts: no zstd/e2image or traces"
fi

# Bad arguments.
"$MB" replay "$T/img" "$T/nonexistent" >"$T/out" 2>"$T/err"
[ $? = 1 ] && ok "missing trace: exit 1" || bad "missing trace: exit 1"
has "$T/err" "mballoc: replay: .*nonexistent: No such file" "missing trace: message"
"$MB" replay "$T/trace" "$T/trace" >"$T/out" 2>"$T/err"
[ $? = 1 ] && ok "not an image: exit 1" || bad "not an image: exit 1"
has "$T/err" "not an ext2/3/4 file system" "not an image: message"
"$MB" replay --mode fast "$T/img" "$T/trace" >"$T/out" 2>"$T/err"
[ $? = 2 ] && ok "bad mode: exit 2" || bad "bad mode: exit 2"
"$MB" replay "$T/img" >"$T/out" 2>"$T/err"
[ $? = 2 ] && ok "one argument: exit 2" || bad "one argument: exit 2"
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
