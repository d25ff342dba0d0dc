#!/bin/sh
# SPDX-License-Identifier: MIT
# t-e2fs-aging.sh - an ext4 image aged by `mballoc e2fs`: populate a real
# tree, remove a third of its files, populate again until the image is
# full (the last copy stops on ENOSPC with a clear message), fallocate past
# the end (ENOSPC again).  After each step e2fsck -fn finds it clean; the
# kernel (loop mount, read-only) reads every file that should be there
# byte-identical, and nothing that was removed.  Removing everything
# gives back exactly the free blocks and inodes of the fresh image.
# Usage: t-e2fs-aging.sh MBALLOC HAVE_EXT2FS; exit 77 = skipped.
MB=${1:?usage: $0 MBALLOC HAVE_EXT2FS}
[ "$2" = 1 ] || { echo "skip: built without libext2fs"; exit 77; }
for c in mkfs.ext4 e2fsck dumpe2fs; do
	command -v $c >/dev/null || { echo "skip: $c not installed"; exit 77; }
done
. "${0%/*}/e2fs_lib.sh"
T=$(scratch_dir) || exit 1
MNT=$T/mnt
trap 'umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
mkdir -p "$MNT"
realtree "$T/src" 12288 || { echo "setup: cannot make the source tree"; exit 1; }
(cd "$T/src" && find . -type f | sort | awk 'NR % 3 == 0' | sed 's|^\.||') >"$T/third"
# the expected /a: the source without the removed third
cp -a "$T/src" "$T/exp_a" && (cd "$T/exp_a" && sed 's|^|.|' "$T/third" | tr '\n' '\0' | xargs -0 rm -f) || exit 1
echo "source: $(du -sk "$T/src" | cut -f1) KiB, $(wc -l <"$T/third") files to remove"
mounted=0
counts() { dumpe2fs -h "$1" 2>/dev/null | grep -E '^Free (blocks|inodes):'; }

for alloc in $(allocators); do
	img=$T/$alloc.img
	mkfs.ext4 -q -F -b 4096 "$img" 40M >/dev/null 2>&1 || { bad "mkfs"; continue; }
	counts "$img" >"$T/fresh.counts"
	expect 0 "$alloc: populate /a" "$MB" e2fs populate --allocator=$alloc -t /a "$img" "$T/src"
	sed 's|^|/a|' "$T/third" | tr '\n' '\0' |
		xargs -0 "$MB" e2fs rm --allocator=$alloc "$img" >"$T/out" 2>&1
	rc=$?
	[ $rc = 0 ] && ok "$alloc: rm a third" || { bad "$alloc: rm a third (exit $rc)"; cat "$T/out"; }
	fsck_clean "$img" "$alloc: after rm"
	n=1 full=0
	while [ $n -le 6 ] && [ $full = 0 ]; do
		"$MB" e2fs populate --allocator=$alloc -t /b$n "$img" "$T/src" >"$T/out" 2>"$T/err"
		rc=$?
		if [ $rc = 1 ] && grep -q "no space left on the image" "$T/err"; then
			full=$n
		elif [ $rc != 0 ]; then
			bad "$alloc: populate /b$n exit $rc"; cat "$T/err"; break
		fi
		n=$((n + 1))
	done
	[ $full != 0 ] && ok "$alloc: populate /b$full stopped on ENOSPC" ||
		bad "$alloc: the image never filled"
	fsck_clean "$img" "$alloc: full"
	expect 1 "$alloc: fallocate on a full image fails" "$MB" e2fs fallocate \
		--allocator=$alloc "$img" /a/huge 100M
	has "$T/err" "no space left on the image" "$alloc: fallocate says ENOSPC"
	fsck_clean "$img" "$alloc: after a failed fallocate"
	if can_mount && mount -o ro,loop "$img" "$MNT"; then
		mounted=1
		content_diff "$T/exp_a" "$MNT/a" &&
			ok "$alloc: /a holds exactly the files kept, byte-identical" ||
			{ bad "$alloc: /a differs:"; head "$T/diff.out"; }
		i=1
		while [ $i -lt $full ]; do
			same_tree "$T/src" "$MNT/b$i" "$alloc: /b$i"
			i=$((i + 1))
		done
		# The copy that ran out: what is there is whole and identical.
		(cd "$MNT/b$full" && find . -type f | sort) >"$T/partial"
		bads=0
		while read -r f; do
			cmp -s "$T/src/$f" "$MNT/b$full/$f" || { bads=$((bads + 1)); echo "differs: $f"; }
		done <"$T/partial"
		[ $bads = 0 ] && ok "$alloc: /b$full: its $(wc -l <"$T/partial") files byte-identical" ||
			bad "$alloc: /b$full: $bads files differ"
		umount "$MNT"
	fi
	expect 0 "$alloc: rm -r everything" "$MB" e2fs rm -r --allocator=$alloc "$img" /a \
		$(i=1; while [ $i -le $full ]; do echo /b$i; i=$((i + 1)); done)
	fsck_clean "$img" "$alloc: emptied"
	counts "$img" >"$T/empty.counts"
	if cmp -s "$T/fresh.counts" "$T/empty.counts"; then
		ok "$alloc: every block and inode given back"
	else
		bad "$alloc: free counts differ from the fresh image:"
		cat "$T/fresh.counts" "$T/empty.counts"
	fi
	rm -f "$img"
done
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
[ $mounted = 1 ] || { echo "skip: the kernel checks need root and a loop device"; exit 77; }
echo "all passed"
