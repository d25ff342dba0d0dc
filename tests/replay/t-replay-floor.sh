#!/bin/sh
# SPDX-License-Identifier: MIT
# t-replay-floor.sh - resync replays of all five real traces: the exact
# matches may not fall below what the library reached (docs/FIDELITY.md,
# "after" table), so a change that loses a kernel decision is caught.
# Each replay takes under a second in a release build.  Raise a floor when
# a rule lands; never lower one without saying why in FIDELITY.md.
# Usage: t-replay-floor.sh MBALLOC TRACES_DIR HAVE_EXT2FS; exit 77 = skipped.
MB=${1:?usage: $0 MBALLOC TRACES HAVE_EXT2FS}
TR=$2
[ "$3" = 1 ] || { echo "skip: built without libext2fs"; exit 77; }
for c in zstd e2image; do
	command -v $c >/dev/null || { echo "skip: $c not installed"; exit 77; }
done
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0

# trace, exact-match floor (requests: s1 32, s3 2060, s4 200, s5 852, s6 80)
for spec in s1:32 s3:2060 s4:200 s5:852 s6:80; do
	s=${spec%%:*} floor=${spec#*:}
	[ -f "$TR/$s/trace.txt.zst" ] || { echo "skip: no traces at $TR"; exit 77; }
	zstd -qdf "$TR/$s/trace.txt.zst" -o "$T/trace.txt" &&
		zstd -qdf "$TR/$s/start.e2i.zst" -o "$T/start.qcow2" &&
		zstd -qdf "$TR/$s/end.e2i.zst" -o "$T/end.qcow2" &&
		rm -f "$T/start.raw" "$T/end.raw" &&
		e2image -r "$T/start.qcow2" "$T/start.raw" 2>/dev/null &&
		e2image -r "$T/end.qcow2" "$T/end.raw" 2>/dev/null ||
		{ echo "FAIL unpacking $s"; exit 1; }
	"$MB" replay --json --end "$T/end.raw" "$T/start.raw" "$T/trace.txt" >"$T/out" 2>"$T/err"
	rc=$?
	exact=$(sed -n 's/.*"exact":\([0-9]*\),.*/\1/p' "$T/out")
	if [ $rc != 0 ] || [ -z "$exact" ]; then
		echo "FAIL $s: replay exit $rc"; cat "$T/err"; fails=$((fails + 1))
	elif [ "$exact" -lt "$floor" ]; then
		echo "FAIL $s: exact $exact < floor $floor"; fails=$((fails + 1))
	else
		echo "ok   $s: exact $exact >= $floor"
	fi
	grep -q '"final_bitmap_matches":true' "$T/out" && echo "ok   $s: final bitmap" ||
		{ echo "FAIL $s: final bitmap differs"; fails=$((fails + 1)); }
	# the ext4 profile (every departure at ext4's value) is the kernel too
	"$MB" replay --json --tunable mb_profile=ext4 --end "$T/end.raw" "$T/start.raw" \
		"$T/trace.txt" >"$T/out" 2>"$T/err"
	exact=$(sed -n 's/.*"exact":\([0-9]*\),.*/\1/p' "$T/out")
	if [ "$exact" = "$floor" ] && grep -q '"final_bitmap_matches":true' "$T/out"; then
		echo "ok   $s: mb_profile=ext4 exact $exact, final bitmap"
	else
		echo "FAIL $s: mb_profile=ext4 exact '$exact' != $floor"; cat "$T/err"
		fails=$((fails + 1))
	fi
done
# profile names: a bad one is a usage error in words, a good one works
"$MB" replay --tunable mb_profile=bogus "$T/start.raw" "$T/trace.txt" >"$T/out" 2>"$T/err"
[ $? = 2 ] && grep -q "mb_profile: invalid value 'bogus'" "$T/err" &&
	echo "ok   mb_profile=bogus refused" ||
	{ echo "FAIL mb_profile=bogus"; cat "$T/err"; fails=$((fails + 1)); }
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
