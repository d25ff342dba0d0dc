#!/bin/sh
# SPDX-License-Identifier: MIT
# workload.sh - the workloads of the captures in this folder; run by
# `mballoc record` (cwd = the mount point).  Sizes come from awk's srand
# with a fixed seed, so a re-recording writes the same files (the kernel's
# decisions may still differ: writeback timing and CPUs vary).
# Usage: workload.sh MODE SEED ARGS...
#   seq N KIB          N files of KIB KiB one after another, 256 KiB O_DSYNC writes
#   interleave N KIB   N files grown round-robin by 64 KiB O_DSYNC appends
#   small N MIN MAX    N files of MIN..MAX bytes over 8 directories, one write
#                      each, closed, one sync at the end
#   falloc N MIN MAX   N files fallocated (mode 0) to MIN..MAX KiB, log-uniform
#   churn N MIN MAX    small N MIN MAX, then delete every other file, sync, and
#                      write N/2 new ones; sync
set -e
mode=$1 seed=$2
shift 2
# rnd N LO HI LOG: N integers in [LO, HI], uniform or log-uniform
rnd() {
	awk -v s="$seed" -v n="$1" -v lo="$2" -v hi="$3" -v lg="$4" 'BEGIN {
		srand(s)
		for (i = 0; i < n; i++) {
			if (lg) v = exp(log(lo) + rand() * (log(hi + 1) - log(lo)))
			else v = lo + rand() * (hi - lo + 1)
			printf "%d\n", v
		}
	}'
}
small() { # small PREFIX N MIN MAX
	i=0
	for d in 0 1 2 3 4 5 6 7; do mkdir -p d$d; done
	rnd "$2" "$3" "$4" 0 | while read -r n; do
		head -c "$n" /dev/zero >"d$((i % 8))/$1$i"
		i=$((i + 1))
	done
}
case $mode in
seq)
	i=0
	while [ $i -lt "$1" ]; do
		dd if=/dev/zero of=f$i bs=256K count=$(($2 / 256)) oflag=dsync status=none
		i=$((i + 1))
	done ;;
interleave)
	c=0
	while [ $c -lt $(($2 / 64)) ]; do
		i=0
		while [ $i -lt "$1" ]; do
			dd if=/dev/zero of=f$i bs=64K count=1 oflag=append,dsync conv=notrunc \
				status=none
			i=$((i + 1))
		done
		c=$((c + 1))
	done
	sync ;;
small)
	small f "$@"
	sync ;;
falloc)
	i=0
	rnd "$1" "$2" "$3" 1 | while read -r k; do
		fallocate -l "${k}K" f$i
		i=$((i + 1))
	done
	sync ;;
churn)
	small f "$@"
	sync
	find . -name 'f*[02468]' -type f -exec rm {} +
	sync
	seed=$((seed + 1))
	small g $(($1 / 2)) "$2" "$3"
	sync ;;
*)
	echo "workload.sh: unknown mode '$mode'" >&2
	exit 2 ;;
esac
