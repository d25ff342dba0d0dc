#!/bin/sh
# SPDX-License-Identifier: MIT
# record.sh - re-records the captures of this folder with `mballoc record`
# (root, loop devices, tracefs).  Each line: name, image size, mkfs.ext4
# options, workload.sh arguments.  A new recording replaces the old one and
# its numbers in t-replay-captures.sh have to be measured again.
# Usage: record.sh MBALLOC [NAME...]   (no NAME: all)
MB=${1:?usage: $0 MBALLOC [NAME...]}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
WL=$HERE/workload.sh
while read -r name size mkfs args; do
	case $name in '#'* | '') continue ;; esac
	if [ $# -gt 0 ]; then
		case " $* " in *" $name "*) ;; *) continue ;; esac
	fi
	rm -rf "${HERE:?}/$name"
	echo "== $name: $size, mkfs $mkfs, workload $args"
	# shellcheck disable=SC2086 # the options and arguments are words
	"$MB" record -s "$size" -m "$(echo "$mkfs" | tr , ' ')" -o "$HERE/$name" -- \
		taskset -c 0 sh "$WL" $args || exit 1
done <<'LIST'
# name             size  mkfs (commas = blanks)   workload.sh MODE SEED ARGS
k4-seq             1G    -b,4096                  seq 1 4 4096
k4-falloc          1G    -b,4096                  falloc 2 40 4 4096
k4-interleave-nofl 512M  -b,4096,-O,^flex_bg      interleave 3 3 1024
k2-seq             256M  -b,2048                  seq 4 3 2048
k2-small-nofl      256M  -b,2048,-O,^flex_bg      small 5 300 1 16384
k2-falloc-nofl     256M  -b,2048,-O,^flex_bg      falloc 6 30 2 2048
k1-small           128M  -b,1024                  small 7 400 1 8192
k1-churn-nofl      32M   -b,1024,-O,^flex_bg      churn 8 300 1 32768
LIST
