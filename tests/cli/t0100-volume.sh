#!/bin/sh
# SPDX-License-Identifier: MIT
# t0100-volume.sh - mballoc format / info / check: exit codes (check's are
# e2fsck's: 0 clean, 4 problems, 8 cannot check, 16 usage), --json, error
# messages in words, and damaged images.  Usage: t0100-volume.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
. "${0%/*}/lib.sh"
# expect CODE NAME CMD...: runs CMD, checks its exit code
expect() {
	want=$1 name=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" = "$want" ]; then ok "$name"; else
		bad "$name (exit $got, want $want)"; cat "$T/out" "$T/err"; fi
}

V=$T/vol.img
expect 0 "format 64M" "$MB" format "$V" --size 64M --block-size 1K --blocks-per-group 1024
has "$T/out" "formatted" "format prints a summary"
expect 0 "info" "$MB" info "$V"
has "$T/out" "state: *clean" "info says clean"
expect 0 "info --json" "$MB" info "$V" --json
has "$T/out" '"groups":64' "json has the group count"
has "$T/out" '"schema_version":1' "json has the schema version"
has "$T/out" '"blocks_count":65536' "json names the size blocks_count"
has "$T/out" '"state":"clean"' "json has the state"
[ "$(wc -l <"$T/out")" = 1 ] && ok "json is one line" || bad "json is one line"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" &&
		ok "info json parses" || bad "info json parses"
fi
expect 0 "check clean" "$MB" check "$V"
has "$T/out" "clean" "check says clean"
expect 0 "check --json" "$MB" check "$V" --json
has "$T/out" '"problems":0' "check json counts problems"

# usage errors exit 2
expect 2 "format without size" "$MB" format "$T/x.img"
expect 2 "info without path" "$MB" info
expect 16 "check bad option: e2fsck's usage code" "$MB" check "$V" --bogus
expect 16 "check without path" "$MB" check
expect 0 "format --help" "$MB" format --help

# impossible geometry: exit 1 with the path and why; the file it made is gone
expect 1 "reserved too small" "$MB" format "$T/y.img" --size 1M --block-size 1K --reserved 2
has "$T/err" "mballoc: format: $T/y.img: impossible geometry" "format error message"
[ ! -e "$T/y.img" ] && ok "a failed format leaves no file behind" ||
	bad "a failed format left $T/y.img behind"

# missing file: info fails (1), check cannot check (8)
expect 1 "info missing" "$MB" info "$T/none.img"
has "$T/err" "mballoc: info: $T/none.img: No such file or directory" "missing file message"
expect 8 "check missing: operational error" "$MB" check "$T/none.img"

# wrong magic: words, not "Invalid argument"
dd if=/dev/zero of="$T/zero.img" bs=1024 count=64 2>/dev/null
expect 8 "check zeroes: operational error" "$MB" check "$T/zero.img"
has "$T/err" "mballoc: check: $T/zero.img: not an mballoc volume (bad magic)$" "wrong magic message"
expect 1 "info zeroes" "$MB" info "$T/zero.img"
has "$T/err" "mballoc: info: $T/zero.img: not an mballoc volume (bad magic)$" "info: wrong magic"
# an XFS signature is named
printf 'XFSB' | dd of="$T/zero.img" conv=notrunc 2>/dev/null
expect 1 "groups on XFS" "$MB" groups "$T/zero.img"
has "$T/err" "not an mballoc volume (bad magic; it holds an XFS file system)" "names what it holds"

# bad superblock checksum: flip a byte of blocks_count
cp "$V" "$T/crc.img"
printf '\377' | dd of="$T/crc.img" bs=1 seek=41 conv=notrunc 2>/dev/null
expect 1 "bad checksum" "$MB" info "$T/crc.img"
has "$T/err" "Structure needs cleaning" "bad checksum message"

# truncated file
head -c 65536 "$V" >"$T/short.img"
expect 8 "truncated: cannot read" "$MB" check "$T/short.img"
has "$T/err" "Input/output error" "truncated message"

# a damaged descriptor table: a problem found (4), listed in the JSON
cp "$V" "$T/desc.img"
printf '\001' | dd of="$T/desc.img" bs=1 seek=$((1024 + 32 * 5)) conv=notrunc 2>/dev/null
expect 4 "bad descriptor: problems found" "$MB" check "$T/desc.img" --json
has "$T/err" "Structure needs cleaning" "bad descriptor message"
has "$T/out" '"clean":false,"problems":1' "bad descriptor: json counts it"

# a read-only file opens for info/check (read-only opens)
cp "$V" "$T/ro.img"
chmod 0444 "$T/ro.img"
expect 0 "info read-only file" "$MB" info "$T/ro.img"

[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
