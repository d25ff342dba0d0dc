#!/bin/sh
# SPDX-License-Identifier: MIT
# t0200-kill.sh - a real kill: `mballoc stress --image` in churn mode with a
# --commit-log is killed with SIGKILL at a random moment, then `mballoc
# check --expect-allocated` must find the image clean and every logged
# extent (each allocated before a commit that had returned) allocated.
# Repeated on one image: each run replays the journal the previous kill
# left and reclaims its blocks.  Usage: t0200-kill.sh MBALLOC [KILLS]
MB=${1:?usage: $0 MBALLOC [KILLS]}
KILLS=${2:-20}
T=$(mktemp -d) || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT
IMG=$T/kill.img LOG=$T/commit.log

# A seed that changes with every run but is printed, to replay the delays.
SEED=${MB_TEST_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "seed $SEED (MB_TEST_SEED=$SEED to repeat the delays)"
# delay N: the N-th kill delay, 0.1 .. 1.0 s
delay() { awk -v s="$SEED" -v n="$1" 'BEGIN { srand(s + n); printf "%.2f", 0.1 + 0.9 * rand() }'; }

"$MB" format "$IMG" --size 64M --block-size 4K --blocks-per-group 2048 >/dev/null || exit 1
kills=0 extents=0 fails=0 empty=0
i=1
while [ $i -le $KILLS ]; do
	rm -f "$LOG"
	"$MB" stress --image "$IMG" --reclaim --mode churn --threads 8 --duration 30 \
		--commit-log "$LOG" --commit-interval 0.2 --seed $((SEED + i)) -q \
		>"$T/out" 2>"$T/err" &
	pid=$!
	# the delay starts once the run is up (it creates the log before its
	# reclaim): a loaded machine or a sanitizer build may take seconds
	n=0
	while [ ! -e "$LOG" ] && [ $n -lt 300 ] && kill -0 $pid 2>/dev/null; do
		sleep 0.1
		n=$((n + 1))
	done
	sleep "$(delay $i)"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null # no "Killed" from the shell
	st=$?
	pid=
	if [ $st != 137 ]; then
		echo "FAIL kill $i: stress ended with status $st before the kill:"
		cat "$T/out" "$T/err"
		fails=$((fails + 1))
		break
	fi
	kills=$((kills + 1))
	# killed before it created the log (a loaded machine): it logged nothing
	[ -e "$LOG" ] || : >"$LOG"
	"$MB" check "$IMG" --expect-allocated "$LOG" >"$T/check" 2>&1
	st=$?
	n=$(sed -n 's/.*: \([0-9]*\) expected extent(s) checked.*/\1/p' "$T/check")
	if [ $st != 0 ] || [ -z "$n" ]; then
		echo "FAIL kill $i (after $(delay $i) s): check exit $st:"
		cat "$T/check" "$T/err"
		cp "$IMG" t0200-failed.img && cp "$LOG" t0200-failed.log &&
			echo "image and log kept in $PWD/t0200-failed.img and .log"
		fails=$((fails + 1))
		break
	fi
	[ "$n" = 0 ] && empty=$((empty + 1))
	extents=$((extents + n))
	i=$((i + 1))
done
echo "$kills kill(s), $extents logged extent(s) verified allocated, $empty empty log(s)"
# the logger must have had time to commit and log in most runs
if [ $fails = 0 ] && [ $extents = 0 ]; then
	echo "FAIL no extent was ever logged"
	fails=1
fi
[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
