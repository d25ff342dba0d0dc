#!/bin/sh
# SPDX-License-Identifier: MIT
# t-record.sh - `mballoc record` on a tiny workload (root, loop devices and
# tracefs; skipped without them): every file of a capture is saved, the
# trace is the kernel's, `mballoc replay` reads it and ends on the kernel's
# bitmap; a signal mid-workload and a failure leave no mount, loop device,
# trace instance or temp dir behind; bad environments get an error, not a
# crash.
# Usage: t-record.sh MBALLOC HAVE_EXT2FS; exit 77 = skipped.
MB=${1:?usage: $0 MBALLOC HAVE_EXT2FS}
[ "$(id -u)" = 0 ] || { echo "skip: not root"; exit 77; }
[ -c /dev/loop-control ] || { echo "skip: no loop devices"; exit 77; }
grep -qw tracefs /proc/filesystems || { echo "skip: no tracefs"; exit 77; }
for c in mkfs.ext4 e2image e2fsck e2freefrag dumpe2fs tune2fs zstd losetup; do
	command -v $c >/dev/null || { echo "skip: $c not installed"; exit 77; }
done
losetup -f >/dev/null 2>&1 || { echo "skip: no free loop device"; exit 77; }
# The image lives on tmpfs (non-rotational loop device, as the captures).
T=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d) || exit 1
mkdir "$T/tmp" "$T/tfs"
# Our own view of tracefs (one tree for every mount): to see that a run's
# instance is gone, and for --tracefs.  Unmounted before the temp dir goes,
# never walked by rm (it holds everyone's trace instances).
mount -t tracefs nodev "$T/tfs" 2>/dev/null ||
	{ rm -rf "$T"; echo "skip: cannot mount tracefs"; exit 77; }
# --one-file-system: should a run leak a mount, rm must not walk into it.
trap 'umount "$T/tfs" && rm -rf --one-file-system "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# Nothing of a run may outlive it: its temp dir (which named the mount
# point and the image behind the loop device) and its trace instance (the
# workload wrote its trace_marker path to $T/marker) are gone.
clean() { # clean NAME
	left=$(ls -A "$T/tmp")
	[ -z "$left" ] && ok "$1: temp dir removed" || bad "$1: left in tmpdir: $left"
	grep -q "$T/tmp" /proc/mounts && bad "$1: a mount is left" || ok "$1: nothing mounted"
	losetup -a | grep -q "$T/tmp" && bad "$1: a loop device is left" ||
		ok "$1: no loop device"
	if [ -s "$T/marker" ]; then
		inst=$(basename "$(dirname "$(cat "$T/marker")")")
		[ -d "$T/tfs/instances/$inst" ] && bad "$1: trace instance $inst left" ||
			ok "$1: trace instance removed"
	fi
	rm -f "$T/marker"
}
R="$MB record --tmpdir $T/tmp --settle 1"

# 1. A tiny capture: 1 KiB blocks without flex_bg, two files and a fallocate.
$R -s 16M -m "-b 1024 -O ^flex_bg" -o "$T/cap" -- sh -c \
	"echo \$MB_RECORD_MARKER >$T/marker"'
	 [ "$PWD" = "$MB_RECORD_MNT" ] && [ -w "$MB_RECORD_MARKER" ] || exit 3
	 head -c 100000 /dev/zero >a && head -c 3000 /dev/zero >b && fallocate -l 64K c &&
	 echo "mb size ino=$(stat -c %i a) size=100000" >"$MB_RECORD_MARKER"' \
	>"$T/out" 2>&1
rc=$?
[ $rc = 0 ] && ok "record exits 0" || { bad "record exit $rc"; cat "$T/out"; }
grep -q "^recorded $T/cap: " "$T/out" && ok "summary line" || bad "summary line"
for f in start.e2i.zst end.e2i.zst trace.txt.zst mb_groups.start mb_groups.end \
	mb_stats.end tunables dumpe2fs.start fsck.txt freefrag.txt meta.txt; do
	[ -s "$T/cap/$f" ] || bad "$f saved"
done
ok "files checked"
clean "after a capture"
zstd -qdc "$T/cap/trace.txt.zst" >"$T/trace.txt"
grep -q "entries-in-buffer/entries-written: \([0-9]*\)/\1 " "$T/trace.txt" &&
	ok "trace header: nothing lost" || bad "trace header: nothing lost"
grep -q "ext4_request_blocks: dev 7," "$T/trace.txt" && ok "trace has allocation requests" ||
	bad "trace has allocation requests"
grep -q "jbd2_end_commit:" "$T/trace.txt" && ok "trace has commits" || bad "trace has commits"
grep -q "tracing_mark_write: mb size ino=" "$T/trace.txt" && ok "marker written" ||
	bad "marker written"
dev=$(sed -n 's/^event_filter .*; dev //p' "$T/cap/meta.txt")
maj=$((dev >> 20)) min=$((dev & 1048575))
grep -v '^#' "$T/trace.txt" | grep -v tracing_mark_write | grep -v " dev $maj,$min " |
	grep -q . && bad "only our device's events" || ok "only our device's events"
grep -q "^block_size 1024$" "$T/cap/meta.txt" && ok "meta: block size" || bad "meta: block size"
grep -q "^workload_rc 0$" "$T/cap/meta.txt" && ok "meta: workload_rc" || bad "meta: workload_rc"
grep -q "^mkfs .* -b 1024 -O ^flex_bg$" "$T/cap/meta.txt" && ok "meta: mkfs line" ||
	bad "meta: mkfs line"
grep -q "^Block size: *1024$" "$T/cap/dumpe2fs.start" && ok "mkfs options passed" ||
	bad "mkfs options passed"
grep -q "flex_bg" "$T/cap/dumpe2fs.start" && bad "-O ^flex_bg passed" || ok "-O ^flex_bg passed"
head -1 "$T/cap/mb_groups.start" | grep -q "^#group: free" && ok "mb_groups.start" ||
	bad "mb_groups.start"
grep -q "reqs: [1-9]" "$T/cap/mb_stats.end" && ok "mb_stats counted the workload" ||
	bad "mb_stats counted the workload"
grep -q "^mb_stats 0$" "$T/cap/tunables" && ok "tunables at mount" || bad "tunables at mount"

if [ "$2" = 1 ]; then
	zstd -qdc "$T/cap/start.e2i.zst" >"$T/s.q" && zstd -qdc "$T/cap/end.e2i.zst" >"$T/e.q" &&
		e2image -r "$T/s.q" "$T/s.raw" 2>/dev/null && e2image -r "$T/e.q" "$T/e.raw" 2>/dev/null
	"$MB" replay --json --end "$T/e.raw" --stats "$T/cap/mb_stats.end" "$T/s.raw" \
		"$T/trace.txt" >"$T/rp" 2>&1
	[ $? = 0 ] && ok "replay reads the capture" || { bad "replay"; cat "$T/rp"; }
	grep -q '"requests":[1-9]' "$T/rp" && ok "replay: requests" || bad "replay: requests"
	grep -q '"malformed":0,' "$T/rp" && ok "replay: no malformed line" ||
		bad "replay: malformed lines"
	grep -q '"unmatched":0,' "$T/rp" && ok "replay: every request has its result" ||
		bad "replay: unmatched"
	grep -q '"final_bitmap_matches":true' "$T/rp" && ok "replay: final bitmap" ||
		bad "replay: final bitmap"
else
	echo "skip replay of the capture: built without libext2fs"
fi

# 2. OUTDIR must be new or empty; usage errors are exit 2.
$R -o "$T/cap" -- true 2>"$T/err"
[ $? = 1 ] && grep -q "not empty" "$T/err" && ok "non-empty OUTDIR refused" ||
	bad "non-empty OUTDIR refused"
$R -o "$T/x" 2>/dev/null
[ $? = 2 ] && ok "no COMMAND: exit 2" || bad "no COMMAND: exit 2"
$R -- true 2>/dev/null
[ $? = 2 ] && ok "no -o: exit 2" || bad "no -o: exit 2"

# 3. No tracefs there: exit 1 with a message, nothing made or left.
$R --tracefs "$T/none" -o "$T/nt" -- true 2>"$T/err"
[ $? = 1 ] && grep -q "not a tracefs mount" "$T/err" && ok "no tracefs: exit 1, message" ||
	{ bad "no tracefs: exit 1, message"; cat "$T/err"; }
[ -e "$T/nt" ] && bad "no tracefs: OUTDIR removed" || ok "no tracefs: OUTDIR removed"
clean "no tracefs"

# 4. mkfs fails: its output is shown, everything undone.
$R -m "-O no_such_feature" -o "$T/mk" -- true 2>"$T/err"
[ $? = 1 ] && grep -q "mkfs.ext4 failed" "$T/err" && ok "mkfs failure reported" ||
	{ bad "mkfs failure reported"; cat "$T/err"; }
clean "mkfs failure"

# 5. Not root: a clear error (setpriv drops to nobody).
if command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$MB" record -o "$T/nr" -- true \
		2>"$T/err"
	[ $? = 1 ] && grep -q "must run as root" "$T/err" && ok "not root: exit 1, message" ||
		{ bad "not root: exit 1, message"; cat "$T/err"; }
fi

# 6. tracefs already mounted (our view of it): the instance is made there
# and removed, the mount is left as it was.
$R --tracefs "$T/tfs" -o "$T/tc" -- sh -c "echo \$MB_RECORD_MARKER >$T/marker"'
	[ -d "$(dirname "$MB_RECORD_MARKER")/events/ext4" ]' >/dev/null 2>"$T/err"
[ $? = 0 ] && ok "--tracefs: capture" || { bad "--tracefs: capture"; cat "$T/err"; }
grep -q "^$T/tfs/instances/mballoc-record" "$T/marker" && ok "--tracefs: instance there" ||
	bad "--tracefs: instance there"
grep -q "^events .*ext4_request_blocks" "$T/tc/meta.txt" 2>/dev/null &&
	ok "--tracefs: events listed" || bad "--tracefs: events listed"
grep -q " $T/tfs " /proc/mounts && ok "--tracefs: its mount stays" ||
	bad "--tracefs: its mount stays"
clean "--tracefs"

# 7. SIGTERM, then SIGINT, while the workload runs (it ignores neither):
# the workload's group is signalled, everything is undone, exit 128 + sig.
for spec in TERM:15 INT:2; do
	sig=${spec%:*} want=$((128 + ${spec#*:}))
	rm -f "$T/started"
	$R -o "$T/sig$sig" -- sh -c "echo \$MB_RECORD_MARKER >$T/marker; touch $T/started
		exec sleep 600.$$" 2>"$T/err" &
	pid=$!
	i=0
	while [ ! -e "$T/started" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	kill -$sig $pid
	wait $pid
	rc=$?
	[ $rc = $want ] && ok "SIG$sig: exit $want" || { bad "SIG$sig: exit $rc"; cat "$T/err"; }
	grep -q "interrupted by signal" "$T/err" && ok "SIG$sig: message" || bad "SIG$sig: message"
	pgrep -f "sleep 600.$$" >/dev/null && bad "SIG$sig: the workload was not killed" ||
		ok "SIG$sig: the workload is gone"
	[ -e "$T/sig$sig/meta.txt" ] && bad "SIG$sig: no meta.txt" || ok "SIG$sig: no meta.txt"
	clean "SIG$sig"
done
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
