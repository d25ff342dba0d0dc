#!/bin/sh
# SPDX-License-Identifier: MIT
# t0120-check-codes.sh - mballoc check exits as e2fsck does: 0 clean, 4
# problems found (a bitmap that fails its checksum, a corrupt descriptor,
# an expected extent not allocated), 8 the volume cannot be checked
# (missing, not an mballoc volume, in use, an unreadable extent list),
# 16 usage.  Usage: t0120-check-codes.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
T=$(mktemp -d) || exit 1
hold=
trap '[ -n "$hold" ] && kill $hold 2>/dev/null; rm -rf "$T"' EXIT
fails=0
. "${0%/*}/lib.sh"

V=$T/vol.img
"$MB" format "$V" --size 16M --block-size 1K --blocks-per-group 1024 >/dev/null || exit 1
# a short run writes every group's bitmap (none stays BLOCK_UNINIT)
"$MB" stress --image "$V" --mode churn --threads 2 --duration 1 --iterations 1 -q \
	>/dev/null || { echo "stress on the image failed"; exit 1; }
expect 0 "clean: 0" "$MB" check "$V"
expect 0 "--help: 0" "$MB" check --help
expect 16 "bad option: 16" "$MB" check "$V" --bogus
expect 16 "two paths: 16" "$MB" check "$V" "$V"

# 4: group 3's bitmap (its first block; first_data_block is 0) fails its checksum
cp "$V" "$T/bm.img"
printf '\125' | dd of="$T/bm.img" bs=1 seek=$((3 * 1024 * 1024 + 7)) conv=notrunc 2>/dev/null
expect 4 "corrupt bitmap: 4" "$MB" check "$T/bm.img"
has "$T/out" "group 3: bitmap unreadable" "corrupt bitmap: listed"
expect 4 "corrupt bitmap --json: 4" "$MB" check "$T/bm.img" --json
has "$T/out" '"clean":false' "corrupt bitmap: json says not clean"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert d["schema_version"] == 1 and d["command"] == "check", d
assert d["problems"] == len(d["messages"]) >= 1, d' "$T/out" &&
		ok "corrupt bitmap: json parses, problems = messages" || bad "check json"
fi

# 4: a corrupt descriptor stops the open itself: still a problem found
cp "$V" "$T/desc.img"
printf '\001' | dd of="$T/desc.img" bs=1 seek=$((1024 + 32 * 5)) conv=notrunc 2>/dev/null
expect 4 "corrupt descriptor: 4" "$MB" check "$T/desc.img"
has "$T/out" "1 problem" "corrupt descriptor: listed"

# 4: an expected extent that is free
printf '15000 10\n' >"$T/expect"
expect 4 "expected extent free: 4" "$MB" check "$V" --expect-allocated "$T/expect"
has "$T/out" "expected extent 15000+10" "expected extent: listed"
# 8: the list cannot be read
expect 8 "unreadable extent list: 8" "$MB" check "$V" --expect-allocated "$T/none"

# 8: missing, not an mballoc volume
expect 8 "missing: 8" "$MB" check "$T/none.img"
head -c 65536 /dev/zero >"$T/zero.img"
expect 8 "not an mballoc volume: 8" "$MB" check "$T/zero.img"
has "$T/err" "not an mballoc volume (bad magic)" "bad magic in words"

# 8: in use (a writer's exclusive lock, held here by flock(1))
if command -v flock >/dev/null; then
	# the shell becomes sleep, which keeps fd 9 and its lock: one pid to kill
	sh -c 'exec 9<"$1"; flock -x 9; exec sleep 60' sh "$V" &
	hold=$!
	n=0 # wait until the lock is held (no timing assumption)
	while flock -n -s "$V" true 2>/dev/null && [ $n -lt 600 ]; do
		n=$((n + 1)); sleep 0.05
	done
	expect 8 "in use: 8" "$MB" check "$V"
	has "$T/err" "volume is in use by another process" "in use in words"
	kill $hold 2>/dev/null; wait $hold 2>/dev/null; hold=
fi
expect 0 "clean again once released: 0" "$MB" check "$V"

[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
