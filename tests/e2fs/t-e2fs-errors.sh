#!/bin/sh
# SPDX-License-Identifier: MIT
# t-e2fs-errors.sh - `mballoc e2fs` on bad input: a clear message, exit 1
# (2 for usage), and an image that e2fsck still finds clean: not ext4
# (ext2, zeros), bigalloc, a missing image or source, a source that is not
# a directory, a name that exists, a full image (what was copied before
# the stop is whole), rm of a directory without -r, of the root, of a
# missing path; fallocate of a directory; unknown allocator or option.
# Usage: t-e2fs-errors.sh MBALLOC HAVE_EXT2FS; exit 77 = skipped.
MB=${1:?usage: $0 MBALLOC HAVE_EXT2FS}
for c in mkfs.ext4 mkfs.ext2 e2fsck debugfs dumpe2fs; do
	command -v $c >/dev/null || { echo "skip: $c not installed"; exit 77; }
done
. "${0%/*}/e2fs_lib.sh"
T=$(scratch_dir) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
if [ "$2" != 1 ]; then # without libext2fs: one clear error
	expect 1 "no libext2fs: populate fails" "$MB" e2fs populate "$T/x" "$T"
	has "$T/err" "built without libext2fs" "no libext2fs: says so"
	[ $fails = 0 ] || exit 1
	echo "skip: built without libext2fs (only its error checked)"; exit 77
fi
mkdir -p "$T/src/d" && echo one >"$T/src/d/f" && echo two >"$T/src/g"

for alloc in $(allocators); do
	A="--allocator=$alloc"
	I=$T/ok.img
	mkfs.ext4 -q -F "$I" 16M >/dev/null 2>&1 || exit 1
	mkfs.ext2 -q -F "$T/ext2.img" 16M >/dev/null 2>&1 || exit 1
	mkfs.ext4 -q -F -O bigalloc "$T/big.img" 64M >/dev/null 2>&1 || exit 1
	head -c 4M /dev/zero >"$T/zero.img"

	expect 1 "$alloc: ext2 image" "$MB" e2fs populate $A "$T/ext2.img" "$T/src"
	has "$T/err" "not ext4" "$alloc: ext2 image: not ext4"
	fsck_clean "$T/ext2.img" "$alloc: ext2 image"
	expect 1 "$alloc: zeros" "$MB" e2fs populate $A "$T/zero.img" "$T/src"
	has "$T/err" "not an ext4 file system" "$alloc: zeros: not ext4"
	expect 1 "$alloc: bigalloc" "$MB" e2fs populate $A "$T/big.img" "$T/src"
	has "$T/err" "unsupported feature: bigalloc" "$alloc: bigalloc named"
	fsck_clean "$T/big.img" "$alloc: bigalloc image"
	expect 1 "$alloc: missing image" "$MB" e2fs populate $A "$T/nosuch.img" "$T/src"
	has "$T/err" "nosuch.img: No such file or directory" "$alloc: missing image named"
	expect 1 "$alloc: missing source" "$MB" e2fs populate $A "$I" "$T/nosuch"
	has "$T/err" "nosuch: No such file or directory" "$alloc: missing source named"
	expect 1 "$alloc: source not a directory" "$MB" e2fs populate $A "$I" "$T/src/g"
	has "$T/err" "not a directory" "$alloc: not a directory"
	expect 0 "$alloc: populate" "$MB" e2fs populate $A "$I" "$T/src"
	expect 1 "$alloc: again: names exist" "$MB" e2fs populate $A "$I" "$T/src"
	has "$T/err" "/d: exists in the image" "$alloc: the existing name is given"
	fsck_clean "$I" "$alloc: after the refused copy"
	expect 1 "$alloc: --to a file" "$MB" e2fs populate $A -t /g "$I" "$T/src"
	expect 1 "$alloc: --to under a missing dir" "$MB" e2fs populate $A -t /x/y "$I" "$T/src"
	expect 1 "$alloc: rm a directory" "$MB" e2fs rm $A "$I" /d
	has "$T/err" "is a directory (use -r)" "$alloc: rm says use -r"
	expect 1 "$alloc: rm /" "$MB" e2fs rm -r $A "$I" /
	has "$T/err" "refusing to remove the root" "$alloc: rm / refused"
	expect 1 "$alloc: rm missing" "$MB" e2fs rm $A "$I" /nosuch
	has "$T/err" "/nosuch: No such file or directory" "$alloc: rm missing named"
	expect 0 "$alloc: rm -f missing" "$MB" e2fs rm -f $A "$I" /nosuch
	expect 1 "$alloc: fallocate a directory" "$MB" e2fs fallocate $A "$I" /d 1M
	expect 1 "$alloc: fallocate under a missing dir" "$MB" e2fs fallocate $A "$I" /x/y 1M
	fsck_clean "$I" "$alloc: after the refused commands"
	debugfs -R "cat /d/f" "$I" >"$T/back" 2>/dev/null
	same "$T/src/d/f" "$T/back" "$alloc: the file copied before is intact"

	# A full image: 1 KiB blocks, 3 MiB; /usr/include/linux is more.
	mkfs.ext4 -q -F -b 1024 "$T/small.img" 3M >/dev/null 2>&1 || exit 1
	expect 1 "$alloc: full image" "$MB" e2fs populate $A "$T/small.img" /usr/include/linux
	has "$T/err" "no space left on the image" "$alloc: full image: ENOSPC in words"
	has "$T/err" "stopped;" "$alloc: full image: says it stopped"
	fsck_clean "$T/small.img" "$alloc: full image"
	# every file it holds is whole
	n=0 bads=0
	debugfs -R "ls -p /" "$T/small.img" 2>/dev/null | awk -F/ '$6 != "" && $3 ~ /^10/ { print $6 }' \
		>"$T/names"
	while read -r f; do
		debugfs -R "cat /$f" "$T/small.img" >"$T/back" 2>/dev/null
		cmp -s "$T/back" "/usr/include/linux/$f" || bads=$((bads + 1))
		n=$((n + 1))
	done <"$T/names"
	[ $n -gt 0 ] && [ $bads = 0 ] && ok "$alloc: full image: its $n top-level files are whole" ||
		bad "$alloc: full image: $bads of $n files differ"
	# A file that ends at the last block of the file system is removed
	# whole (libext2fs 1.47.0's punch refuses it: 'Illegal block number').
	mkfs.ext4 -q -F -b 1024 "$T/small.img" 4M >/dev/null 2>&1 || exit 1
	dumpe2fs -h "$T/small.img" 2>/dev/null | grep -E '^Free (blocks|inodes):' >"$T/c.fresh"
	f=$(sed -n 's/^Free blocks: *//p' "$T/c.fresh")
	# (placed by libext2fs's allocator: one run to the end, no extent block
	# needed; mballoc may split it and then lack a block for the tree)
	expect 0 "$alloc: fallocate every free block" "$MB" e2fs fallocate --allocator=ext2fs \
		"$T/small.img" /all \
		$((f * 1024))
	debugfs -R "stat /all" "$T/small.img" 2>/dev/null | grep -q -- "-$(($(dumpe2fs -h \
		"$T/small.img" 2>/dev/null | sed -n 's/^Block count: *//p') - 1))\$" &&
		ok "$alloc: /all ends at the last block" || bad "$alloc: /all misses the last block"
	expect 0 "$alloc: rm the file at the last block" "$MB" e2fs rm $A "$T/small.img" /all
	dumpe2fs -h "$T/small.img" 2>/dev/null | grep -E '^Free (blocks|inodes):' >"$T/c.after"
	same "$T/c.fresh" "$T/c.after" "$alloc: every block given back"
	fsck_clean "$T/small.img" "$alloc: after rm at the last block"
	# An inode table full (-N 64) is ENOSPC too.
	mkfs.ext4 -q -F -N 64 "$T/small.img" 16M >/dev/null 2>&1 || exit 1
	expect 1 "$alloc: no inode left" "$MB" e2fs populate $A "$T/small.img" /usr/include/linux
	has "$T/err" "no space left on the image" "$alloc: no inode left: ENOSPC"
	fsck_clean "$T/small.img" "$alloc: no inode left"
done

expect 2 "unknown allocator" "$MB" e2fs populate --allocator=xyz "$T/ok.img" "$T/src"
has "$T/err" "unknown allocator 'xyz'" "unknown allocator named"
expect 2 "missing operand" "$MB" e2fs populate "$T/ok.img"
expect 2 "unknown subcommand" "$MB" e2fs frobnicate
expect 2 "bad size" "$MB" e2fs fallocate "$T/ok.img" /f 12Q
expect 0 "help" "$MB" e2fs populate --help
has "$T/out" "usage: mballoc e2fs populate" "help text"
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
