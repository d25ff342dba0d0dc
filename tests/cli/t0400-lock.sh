#!/bin/sh
# SPDX-License-Identifier: MIT
# t0400-lock.sh - one writer per volume: while `mballoc stress --image` has
# a volume open, a second stress, a format or a check of it exits 1 with
# "volume is in use by another process" and changes nothing; when the
# first one ends, the image is clean.  Usage: t0400-lock.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
T=$(mktemp -d) || exit 1
pid= hold=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "$hold" ] && kill $hold 2>/dev/null;
      rm -rf "$T"' EXIT
fails=0
. "${0%/*}/lib.sh"
# busy_wait: polls until a read-only open of $V is refused (no timing assumption)
busy_wait() {
	n=0
	while [ $n -lt 1200 ]; do
		if ! "$MB" info "$V" >/dev/null 2>"$T/poll" && grep -q "in use" "$T/poll"; then
			return 0
		fi
		n=$((n + 1))
		sleep 0.05
	done
	return 1
}
# dirty_wait: polls the superblock's state (byte 92: 2 = in use) without
# opening the volume: a poller's read-only open would itself keep the writer out
dirty_wait() {
	n=0
	while [ $n -lt 1200 ]; do
		[ "$(od -An -tu4 -j92 -N4 "$V" | tr -d ' ')" = 2 ] && return 0
		kill -0 $pid 2>/dev/null || return 1
		n=$((n + 1))
		sleep 0.05
	done
	return 1
}
MSG="volume is in use by another process"

V=$T/vol.img
"$MB" format "$V" --size 16M --block-size 1K --blocks-per-group 1024 >/dev/null || exit 1

# Two concurrent stress runs: the second is refused while the first runs.
"$MB" stress --image "$V" --mode churn --threads 2 --duration 15 --iterations 1 -q \
	>"$T/first.out" 2>"$T/first.err" &
pid=$!
if dirty_wait; then ok "the first stress holds the volume"; else
	bad "the first stress never held the volume"; fi
expect 1 "second stress is refused" "$MB" stress --image "$V" --mode churn --threads 2 \
	--duration 1 --iterations 1 -q
has "$T/err" "mballoc: stress: $V: $MSG" "second stress says why"
expect 1 "format -F is refused" "$MB" format -F "$V" --size 16M --block-size 1K
has "$T/err" "mballoc: format: $V: $MSG" "format says why"
wait $pid
st=$?
pid=
[ $st = 0 ] && ok "the first stress succeeds" || { bad "the first stress: exit $st"; cat "$T/first.err"; }
expect 0 "check after both" "$MB" check "$V"
has "$T/out" "clean" "image clean"

# A holder that never writes: each refused command leaves every byte as it was.
if command -v flock >/dev/null; then
	# the sleep itself holds the lock (flock(1)'s child would outlive a kill)
	(exec 9<"$V" && flock -x 9 && exec sleep 60) &
	hold=$!
	busy_wait || bad "flock never held the volume"
	cp "$V" "$T/before.img"
	expect 1 "stress refused (exclusive holder)" "$MB" stress --image "$V" --mode churn \
		--threads 2 --duration 1 --iterations 1 -q
	has "$T/err" "$MSG" "stress message"
	expect 8 "check refused (exclusive holder): cannot check" "$MB" check "$V"
	has "$T/err" "mballoc: check: $V: $MSG" "check message"
	expect 1 "stress --format refused" "$MB" stress --image "$V" --format --mode churn \
		--threads 2 --duration 1 --iterations 1 -q
	cmp -s "$V" "$T/before.img" && ok "refused opens changed nothing" ||
		bad "refused opens changed the image"
	kill $hold; wait $hold 2>/dev/null
	# a shared holder: readers coexist, writers do not
	(exec 9<"$V" && flock -s 9 && exec sleep 60) &
	hold=$!
	n=0
	until ! flock -n -x "$V" true 2>/dev/null || [ $n -gt 600 ]; do sleep 0.05; n=$((n + 1)); done
	expect 0 "info beside a reader" "$MB" info "$V"
	expect 1 "stress beside a reader" "$MB" stress --image "$V" --mode churn --threads 2 \
		--duration 1 --iterations 1 -q
	has "$T/err" "$MSG" "stress message beside a reader"
	kill $hold; wait $hold 2>/dev/null
	hold=
	expect 0 "stress after the holders left" "$MB" stress --image "$V" --mode churn \
		--threads 2 --duration 1 --iterations 1 -q
else
	echo "skip the flock(1) holder cases: no flock"
fi
[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
