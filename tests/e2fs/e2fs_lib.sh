# SPDX-License-Identifier: MIT
# e2fs_lib.sh - helpers of the `mballoc e2fs` shell tests (t-e2fs-*.sh):
# the shared checks of tests/cli/lib.sh, plus making a real source tree,
# checking an image with e2fsck, and mounting it read-only.  Source it
# after setting MB, T (a scratch directory) and fails=0.
. "${0%/*}/../cli/lib.sh"

# A scratch directory in memory when there is one (images and trees of tens
# of MiB: no disk writeback to wait for on a loaded machine).
scratch_dir() {
	mktemp -d -p /dev/shm mballoc-e2fs.XXXXXX 2>/dev/null || mktemp -d
}

# The allocators this mballoc offers: ext2fs always, mballoc when built in.
allocators() {
	mkfs.ext4 -q -F "$T/probe.img" 4M >/dev/null 2>&1 || return
	mkdir -p "$T/probe.d"
	if "$MB" e2fs populate -q --allocator=mballoc "$T/probe.img" "$T/probe.d" 2>/dev/null
	then echo "ext2fs mballoc"; else echo ext2fs; fi
	rm -rf "$T/probe.img" "$T/probe.d"
}

# realtree DEST KIB: a real tree from the system (directories of
# /usr/share/doc, then /usr/include, in name order) of about KIB KiB, copied
# with cp -a, plus the shapes a system tree may lack: a sparse file, hard
# links, fast and slow symlinks, a FIFO, device nodes (root), odd modes,
# owners (root), nanosecond times, a directory that needs several blocks.
realtree() {
	mkdir -p "$1/real" || return 1
	total=0
	for d in /usr/share/doc/* /usr/include/*; do
		[ $total -lt "$2" ] || break
		[ -d "$d" ] && [ ! -L "$d" ] || continue
		kb=$(du -sk "$d" 2>/dev/null | cut -f1)
		[ $((total + kb)) -le $(($2 * 3 / 2)) ] || continue
		cp -a "$d" "$1/real/" 2>/dev/null || continue
		total=$((total + kb))
	done
	mkdir -p "$1/shapes/big_dir" "$1/shapes/sub"
	i=0
	while [ $i -lt 400 ]; do
		echo "$i" >"$1/shapes/big_dir/a_rather_long_file_name_to_fill_blocks_$i"
		i=$((i + 1))
	done
	head -c 300000 /dev/urandom >"$1/shapes/random"
	truncate -s 20M "$1/shapes/sparse"
	printf 'middle' | dd of="$1/shapes/sparse" bs=1 seek=7000000 conv=notrunc 2>/dev/null
	printf 'end' | dd of="$1/shapes/sparse" bs=1 seek=$((20 * 1048576 - 3)) conv=notrunc \
		2>/dev/null
	: >"$1/shapes/empty"
	ln "$1/shapes/random" "$1/shapes/sub/random_hardlink"
	ln -s random "$1/shapes/fast_symlink"
	ln -s "$(printf '%0200d' 0)/long/target" "$1/shapes/slow_symlink"
	mkfifo "$1/shapes/fifo"
	chmod 4751 "$1/shapes/random"
	chmod 1777 "$1/shapes/sub"
	touch -d '2001-02-03 04:05:06.123456789' "$1/shapes/empty"
	if [ "$(id -u)" = 0 ]; then
		mknod "$1/shapes/null" c 1 3
		mknod "$1/shapes/bigdev" b 300 70000
		chown 1234:5678 "$1/shapes/random"
		chown -h 42:43 "$1/shapes/fast_symlink"
	fi
	touch -d '2010-10-10 10:10:10.987654321' "$1/shapes/sub"
}

# fsck_clean IMAGE NAME: e2fsck -fn finds nothing.
fsck_clean() {
	if e2fsck -fn "$1" >"$T/fsck.out" 2>&1; then ok "$2: e2fsck -fn clean"; else
		bad "$2: e2fsck -fn found problems:"; head -40 "$T/fsck.out"; fi
}

# can_mount: root, and a loop device mounts (else the mount checks skip).
can_mount() {
	[ "$(id -u)" = 0 ] || return 1
	[ -n "${E2FS_MNT_OK:-}" ] && return "$E2FS_MNT_OK"
	mkfs.ext4 -q -F "$T/m.img" 4M >/dev/null 2>&1 && mkdir -p "$T/m.d" &&
		mount -o ro,loop "$T/m.img" "$T/m.d" 2>/dev/null && umount "$T/m.d"
	E2FS_MNT_OK=$?
	rm -f "$T/m.img"
	return $E2FS_MNT_OK
}

# attrs DIR: one line per entry: type, mode, owner, size (not for
# directories: their size depends on the layout), mtime and ctime with
# nanoseconds, link count, symlink target, device numbers.
attrs() {
	(cd "$1" && find . ! -path './lost+found*' -printf '%p %y %m %U %G %n %T@ %C@ %l\n' |
		sort) >"$T/attrs.$$" || return 1
	(cd "$1" && find . ! -path './lost+found*' ! -type d -printf '%p %s\n' | sort) \
		>>"$T/attrs.$$"
	(cd "$1" && find . \( -type b -o -type c \) -exec stat -c '%n %t %T' {} + | sort) \
		>>"$T/attrs.$$"
	cat "$T/attrs.$$"
	rm -f "$T/attrs.$$"
}

# content_diff A B: diff -r, quiet about FIFOs and device nodes (attrs
# compares those); true when the contents are the same, else the
# differences are in $T/diff.out.
content_diff() {
	diff -r --no-dereference "$1" "$2" 2>&1 |
		grep -Ev '^File .* is a (fifo|character special file|block special file) while file .* is a (fifo|character special file|block special file)$' \
		>"$T/diff.out"
	! [ -s "$T/diff.out" ]
}

# same_tree SRC MNT NAME: byte-identical data and identical attributes.
same_tree() {
	if content_diff "$1" "$2"; then
		ok "$3: every file byte-identical ($(find "$1" -type f | wc -l) files)"
	else
		bad "$3: contents differ:"; head -20 "$T/diff.out"
	fi
	attrs "$1" >"$T/a.src"
	attrs "$2" >"$T/a.img"
	if cmp -s "$T/a.src" "$T/a.img"; then
		ok "$3: modes, owners, times (ns), links, symlinks identical"
	else
		bad "$3: attributes differ:"; diff "$T/a.src" "$T/a.img" | head -20
	fi
}
