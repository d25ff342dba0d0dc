#!/bin/sh
# SPDX-License-Identifier: MIT
# t-e2fs-populate.sh - `mballoc e2fs populate` copies a real tree (about
# 24 MiB of /usr/share/doc and /usr/include, plus a sparse file, hard
# links, fast and slow symlinks, a FIFO, device nodes, odd modes, owners
# and nanosecond times) into fresh ext4 images (4 KiB and 1 KiB blocks)
# with each allocator: e2fsck -fn finds them clean, and the kernel, loop-
# mounting each read-only, reads every file back byte-identical with the
# same attributes.  Then fallocate: the file reads as zeros, its size and
# blocks are right, e2fsck clean.
# Usage: t-e2fs-populate.sh MBALLOC HAVE_EXT2FS; exit 77 = skipped (no
# libext2fs, no e2fsprogs; or, after the e2fsck checks, no root/loop mount).
MB=${1:?usage: $0 MBALLOC HAVE_EXT2FS}
[ "$2" = 1 ] || { echo "skip: built without libext2fs"; exit 77; }
for c in mkfs.ext4 e2fsck debugfs; do
	command -v $c >/dev/null || { echo "skip: $c not installed"; exit 77; }
done
. "${0%/*}/e2fs_lib.sh"
T=$(scratch_dir) || exit 1
MNT=$T/mnt
trap 'umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
mkdir -p "$MNT"
realtree "$T/src" 24576 || { echo "setup: cannot make the source tree"; exit 1; }
echo "source: $(du -sk "$T/src" | cut -f1) KiB, $(find "$T/src" | wc -l) entries"
mounted=0

for alloc in $(allocators); do
	for spec in "b4:-b 4096:96M" "b1:-b 1024 -I 256:96M"; do
		geo=${spec%%:*} rest=${spec#*:}
		opts=${rest%%:*} size=${rest#*:}
		img=$T/$alloc-$geo.img
		mkfs.ext4 -q -F $opts "$img" "$size" >/dev/null 2>&1 || { bad "mkfs $geo"; continue; }
		expect 0 "$alloc $geo: populate" "$MB" e2fs populate --allocator=$alloc \
			-t /copy "$img" "$T/src"
		has "$T/out" "($alloc allocator)" "$alloc $geo: the summary names the allocator"
		fsck_clean "$img" "$alloc $geo"
		# The data as libext2fs reads it back, root or not.
		debugfs -R "cat /copy/shapes/random" "$img" >"$T/random.back" 2>/dev/null
		same "$T/src/shapes/random" "$T/random.back" "$alloc $geo: debugfs reads a file back"
		if can_mount && mount -o ro,loop "$img" "$MNT"; then
			mounted=1
			same_tree "$T/src" "$MNT/copy" "$alloc $geo: mounted"
			umount "$MNT"
		fi
		# fallocate: a new file of 5 MiB and an existing one grown
		expect 0 "$alloc $geo: fallocate new" "$MB" e2fs fallocate --allocator=$alloc \
			"$img" /copy/prealloc 5M
		expect 0 "$alloc $geo: fallocate existing" "$MB" e2fs fallocate \
			--allocator=$alloc "$img" /copy/shapes/empty 1M
		fsck_clean "$img" "$alloc $geo after fallocate"
		debugfs -R "stat /copy/prealloc" "$img" >"$T/stat" 2>/dev/null
		has "$T/stat" "Size: 5242880" "$alloc $geo: fallocated size"
		if grep -q '\[u\]' "$T/stat"; then ok "$alloc $geo: unwritten extents"; else
			bad "$alloc $geo: no unwritten extent:"; cat "$T/stat"; fi
		if [ $mounted = 1 ] && mount -o ro,loop "$img" "$MNT"; then
			head -c 5242880 /dev/zero >"$T/zero5"
			same "$T/zero5" "$MNT/copy/prealloc" "$alloc $geo: fallocated file reads zeros"
			[ "$(stat -c %s "$MNT/copy/shapes/empty")" = 1048576 ] &&
				ok "$alloc $geo: grown to 1 MiB" || bad "$alloc $geo: not grown"
			umount "$MNT"
		fi
		rm -f "$img"
	done
done
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
[ $mounted = 1 ] || { echo "skip: the kernel checks need root and a loop device"; exit 77; }
echo "all passed"
