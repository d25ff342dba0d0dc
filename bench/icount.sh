#!/bin/sh
# SPDX-License-Identifier: MIT
# icount.sh BENCH_PROBES [PROBE...] - instructions each probe's requests cost
# (callgrind, counting probe_phase only; bench/probes.c), with the hash of
# every extent they got: two builds that print the same hash made the same
# decisions, and their counts compare like for like.  Pinned to CPU 0.
# Needs valgrind.  Prints: probe, calls, hash, instructions, per call.
set -e
bin=${1:?usage: icount.sh path/to/bench_probes [PROBE...]}
shift
[ $# -gt 0 ] || set -- raw:1:200000 raw:16:100000 raw:256:20000 aged:256:5000 \
	file:1:200000 file:16:100000 drain cell:aged90:256:zero:20 cell:aged90:256:rand:20 \
	cell:aged50:256:next:20 cell:empty:256:zero:20 cell:aged90:16:zero:4 \
	cell:seq90:256:rand:20 aging:triangle aging:triangle:file aging:8m64k aging:8m64k:file
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pin=
command -v taskset >/dev/null && pin="taskset -c 0"
for p in "$@"; do
	out=$($pin valgrind --tool=callgrind --toggle-collect=probe_phase \
		--callgrind-out-file="$tmp/cg" "$bin" "$p" 2>"$tmp/err") || {
		cat "$tmp/err" >&2
		exit 1
	}
	ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err")
	echo "$out" | awk -v ir="$ir" '{
		calls = $3; printf "%-28s calls %8d  hash %s  instr %8.1fM  %7.0f a call\n",
			$1, calls, $5, ir / 1e6, calls ? ir / calls : 0 }'
done
