#!/bin/sh
# SPDX-License-Identifier: MIT
# t-ext4img-inspect.sh - `mballoc freefrag` and `mballoc groups` on ext4
# images.  freefrag prints exactly what e2freefrag prints (whole output,
# the device line aside) on images mkfs.ext4 makes and fills (1, 2, 4 and
# 64 KiB blocks, with and without flex_bg, meta_bg, files deleted to
# fragment the free space, --chunk) and on every shared trace's start and
# end image; groups prints the kernel's mb_groups of each trace's start
# image (mb_groups.start) byte for byte.  Bad images get clear errors.
# Usage: t-ext4img-inspect.sh MBALLOC TRACES_DIR HAVE_EXT2FS; exit 77 = skipped.
MB=${1:?usage: $0 MBALLOC TRACES HAVE_EXT2FS}
TR=$2
[ "$3" = 1 ] || { echo "skip: built without libext2fs"; exit 77; }
for c in mkfs.ext4 e2freefrag debugfs; do
	command -v $c >/dev/null || { echo "skip: $c not installed"; exit 77; }
done
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

# same_freefrag IMAGE NAME [e2freefrag -c KB] [mballoc --chunk SIZE]
same_freefrag() {
	e2freefrag $3 "$1" >"$T/want" 2>"$T/want.err" || { bad "$2: e2freefrag failed"; return; }
	"$MB" freefrag $4 "$1" >"$T/got" 2>"$T/got.err" || {
		bad "$2: mballoc freefrag exit $?"; cat "$T/got.err"; return; }
	sed 1d "$T/want" >"$T/want.body"
	sed 1d "$T/got" >"$T/got.body"
	if cmp -s "$T/want.body" "$T/got.body" && grep -q "^Device: " "$T/got"; then
		ok "$2: freefrag == e2freefrag ($(grep -c . "$T/want") lines)"
	else
		bad "$2: freefrag differs from e2freefrag:"; diff "$T/want" "$T/got"
	fi
}

# A file system with files, then every third deleted: free space in pieces.
# mkimage NAME MKFS_OPTS SIZE
mkimage() {
	rm -rf "$T/src" && mkdir "$T/src" || return 1
	i=0
	while [ $i -lt 60 ]; do
		head -c $(((i * 7919) % 300 * 1024 + 1)) /dev/zero >"$T/src/f$i" || return 1
		i=$((i + 1))
	done
	mkfs.ext4 -F -q $2 -d "$T/src" "$T/$1" "$3" >/dev/null 2>&1 || return 1
	: >"$T/rm.cmds"
	i=0
	while [ $i -lt 60 ]; do
		echo "rm /f$i" >>"$T/rm.cmds"
		i=$((i + 3))
	done
	debugfs -w -f "$T/rm.cmds" "$T/$1" >/dev/null 2>&1
}

for spec in "b1:-b 1024:48M" "b2nf:-b 2048 -O ^flex_bg:96M" "b4:-b 4096:600M" \
	"b4meta:-b 4096 -O meta_bg,^resize_inode:300M" "b64:-b 65536:1G" \
	"b1csum:-b 1024 -O ^metadata_csum,uninit_bg:40000K"; do
	name=${spec%%:*} rest=${spec#*:}
	opts=${rest%%:*} size=${rest#*:}
	if mkimage "$name.img" "$opts" "$size"; then
		same_freefrag "$T/$name.img" "$name"
	else
		bad "$name: mkfs.ext4 $opts $size"
	fi
done
same_freefrag "$T/b1.img" "b1 chunk 64K" "-c 64" "--chunk 64K"
same_freefrag "$T/b4.img" "b4 chunk 1M" "-c 1024" "--chunk 1M"

# The shared traces: the kernel's own images and tables.
if command -v zstd >/dev/null && command -v e2image >/dev/null && [ -d "$TR/s1" ]; then
	for s in s1 s3 s4 s5 s6; do
		[ -f "$TR/$s/start.e2i.zst" ] || continue
		for which in start end; do
			rm -f "$T/$which.raw"
			zstd -qdf "$TR/$s/$which.e2i.zst" -o "$T/$which.qcow2" &&
				e2image -r "$T/$which.qcow2" "$T/$which.raw" 2>/dev/null ||
				{ bad "$s: unpacking $which"; continue; }
			same_freefrag "$T/$which.raw" "$s $which"
		done
		"$MB" groups "$T/start.raw" >"$T/groups" 2>"$T/groups.err"
		if cmp -s "$T/groups" "$TR/$s/mb_groups.start"; then
			ok "$s: groups == kernel mb_groups.start ($(wc -l <"$T/groups") lines)"
		else
			bad "$s: groups differs from mb_groups.start:"
			diff "$TR/$s/mb_groups.start" "$T/groups" | head -20; cat "$T/groups.err"
		fi
	done
else
	echo "note: no shared traces (or zstd/e2image) at $TR: kernel tables not compared"
fi

# Unsupported or foreign images: a clear error, exit 1, nothing written.
mkfs.ext4 -F -q -b 4096 -O bigalloc -C 65536 "$T/big.img" 256M >/dev/null 2>&1
sum=$(cksum <"$T/big.img")
"$MB" freefrag "$T/big.img" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc = 1 ] && grep -q "bigalloc is not supported" "$T/err"; then
	ok "bigalloc refused in words: $(cat "$T/err")"
else
	bad "bigalloc: exit $rc, stderr:"; cat "$T/err"
fi
[ "$(cksum <"$T/big.img")" = "$sum" ] && ok "bigalloc image unchanged" || bad "bigalloc image changed"
head -c 1048576 /dev/zero >"$T/zero.img"
"$MB" groups "$T/zero.img" >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] && [ -s "$T/err" ] && ok "zeros refused: $(cat "$T/err")" ||
	{ bad "zeros: exit $rc"; cat "$T/err"; }
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
