#!/bin/sh
# SPDX-License-Identifier: MIT
# t0110-format-safety.sh - mballoc format refuses a file holding an mballoc
# volume or another known signature (ext2/3/4, XFS, btrfs, swap, LUKS, GPT)
# unless -F, and leaves it byte for byte as it was; a failed format leaves
# nothing behind (no new file, an existing file's size restored).
# Usage: t0110-format-safety.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
. "${0%/*}/lib.sh"
FMT="--size 1M --block-size 1K --blocks-per-group 1024"

# sig NAME OFFSET BYTES(printf format) WHAT: a 128K file with that signature
sig() {
	head -c 131072 /dev/zero >"$T/$1.img"
	printf "$3" | dd of="$T/$1.img" bs=1 seek="$2" conv=notrunc 2>/dev/null
	cp "$T/$1.img" "$T/$1.orig"
	expect 1 "$1: refused" "$MB" format "$T/$1.img" $FMT
	has "$T/err" "mballoc: format: $T/$1.img: holds $4; not formatted (-F formats it anyway)" \
		"$1: says what it holds"
	same "$T/$1.img" "$T/$1.orig" "$1: untouched"
}
sig ext4 1080 '\123\357' "an ext2/ext3/ext4 file system"
sig xfs 0 'XFSB' "an XFS file system"
sig btrfs 65600 '_BHRfS_M' "a btrfs file system"
sig swap 4086 'SWAPSPACE2' "a swap area"
sig luks 0 'LUKS\272\276' "a LUKS encrypted volume"
sig gpt 512 'EFI PART' "a GPT partition table"

# -F formats over it; the result is an mballoc volume
expect 0 "xfs: -F formats" "$MB" format -F "$T/xfs.img" $FMT
expect 0 "xfs: now a clean volume" "$MB" check "$T/xfs.img"

# an existing mballoc volume: refused, untouched; -F (long --force) reformats
V=$T/vol.img
expect 0 "format a volume" "$MB" format "$V" $FMT
cp "$V" "$T/vol.orig"
expect 1 "mballoc volume: refused" "$MB" format "$V" $FMT
has "$T/err" "holds an mballoc volume; not formatted" "mballoc volume: says so"
same "$V" "$T/vol.orig" "mballoc volume: untouched"
expect 0 "mballoc volume: --force reformats" "$MB" format --force "$V" $FMT

# a file system made by mkfs.ext4 itself, when e2fsprogs is installed
if command -v mkfs.ext4 >/dev/null || [ -x /sbin/mkfs.ext4 ]; then
	MKFS=$(command -v mkfs.ext4 || echo /sbin/mkfs.ext4)
	"$MKFS" -q -F "$T/real.img" 4M >/dev/null 2>&1
	cp "$T/real.img" "$T/real.orig"
	expect 1 "mkfs.ext4 image: refused" "$MB" format "$T/real.img" $FMT
	has "$T/err" "holds an ext2/ext3/ext4 file system" "mkfs.ext4 image: named"
	same "$T/real.img" "$T/real.orig" "mkfs.ext4 image: untouched"
fi
if command -v mkswap >/dev/null || [ -x /sbin/mkswap ]; then
	MKSWAP=$(command -v mkswap || echo /sbin/mkswap)
	head -c 1048576 /dev/zero >"$T/swap2.img"
	if "$MKSWAP" "$T/swap2.img" >/dev/null 2>&1; then
		expect 1 "mkswap area: refused" "$MB" format "$T/swap2.img" $FMT
		has "$T/err" "holds a swap area" "mkswap area: named"
	fi
fi

# a failed format: a file it created is removed ...
expect 1 "impossible geometry" "$MB" format "$T/new.img" $FMT --reserved 2
[ ! -e "$T/new.img" ] && ok "new file removed" || bad "a failed format left $T/new.img"
# ... and an existing plain file keeps its bytes and size
head -c 65536 /dev/urandom >"$T/plain.img"
printf '\0\0\0\0' | dd of="$T/plain.img" bs=1 seek=0 conv=notrunc 2>/dev/null
printf '\0\0' | dd of="$T/plain.img" bs=1 seek=1080 conv=notrunc 2>/dev/null
printf '\0\0' | dd of="$T/plain.img" bs=1 seek=510 conv=notrunc 2>/dev/null
printf '\0\0\0\0\0\0\0\0' | dd of="$T/plain.img" bs=1 seek=512 conv=notrunc 2>/dev/null
printf '\0\0\0\0\0\0\0\0' | dd of="$T/plain.img" bs=1 seek=536 conv=notrunc 2>/dev/null
cp "$T/plain.img" "$T/plain.orig"
expect 1 "impossible geometry over a plain file" "$MB" format "$T/plain.img" $FMT --reserved 2
same "$T/plain.img" "$T/plain.orig" "plain file: same bytes and size"
# a missing directory: nothing created, a system error in words
expect 1 "missing directory" "$MB" format "$T/no/dir.img" $FMT
has "$T/err" "No such file or directory" "missing directory message"

[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
