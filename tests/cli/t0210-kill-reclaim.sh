#!/bin/sh
# SPDX-License-Identifier: MIT
# t0210-kill-reclaim.sh - the window t0200 hits on a slow machine, made
# exact: a run of `mballoc stress --image --reclaim --commit-log` killed
# right after its reclaim committed (strace kills it at its first
# ftruncate, the commit log's) must not leave the previous run's log
# naming the extents the reclaim freed.  Skips without strace.
# Usage: t0210-kill-reclaim.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
command -v strace >/dev/null || { echo "SKIP: no strace"; exit 77; }
T=$(mktemp -d) || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT
IMG=$T/img LOG=$T/log

"$MB" format "$IMG" --size 64M --block-size 4K --blocks-per-group 2048 >/dev/null || exit 1
# a first run killed once it has logged durable extents
"$MB" stress --image "$IMG" --mode churn --threads 4 --duration 30 \
	--commit-log "$LOG" --commit-interval 0.2 -q --seed 1 2>"$T/err" &
pid=$!
for _ in $(seq 100); do
	[ -s "$LOG" ] && break
	sleep 0.1
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
[ -s "$LOG" ] || { echo "FAIL the first run logged nothing"; cat "$T/err"; exit 1; }
echo "first run: $(wc -l <"$LOG") extent(s) logged"
(strace -f -o /dev/null -e trace=ftruncate -e inject=ftruncate:signal=KILL \
	"$MB" stress --image "$IMG" --reclaim --mode churn --threads 4 --duration 30 \
	--commit-log "$LOG" --commit-interval 0.2 -q --seed 2 || :) >/dev/null 2>&1
if ! "$MB" check "$IMG" --expect-allocated "$LOG" >"$T/check" 2>&1; then
	echo "FAIL killed after --reclaim: the log names freed extents:"
	tail -5 "$T/check"
	exit 1
fi
echo "ok   killed after --reclaim: $(sed -n 's/.*: \([0-9]*\) expected.*/\1/p' "$T/check") extent(s) logged, all allocated"
