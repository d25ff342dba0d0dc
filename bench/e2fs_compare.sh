#!/bin/sh
# SPDX-License-Identifier: MIT
# e2fs_compare.sh - one real tree placed in the same ext4 image size by
# three allocators, fresh and aged, and the layouts compared:
#   libext2fs  mke2fs -d (fresh); aged with `mballoc e2fs --allocator=ext2fs`
#              (libext2fs's own allocator, the one mke2fs -d uses)
#   kernel     cp -a onto a loop mount of the running kernel's ext4, sync, umount
#   mballoc    mballoc e2fs populate (mballoc placing every block)
# Aging, the same for all three: copy the tree to /a, remove every third
# file of it (name order), copy it again to /b, /c, ... until the image is
# full.  Measured: extents per non-empty file (filefrag on the mounted
# image: mean, p99, max, share of files in more than one extent), free
# space (free extents, largest, Ceph's fragmentation score, e2freefrag's
# histogram in OUTDIR) and the wall time of the copies.
# Usage: e2fs_compare.sh [-t TREE_MIB] [-s IMAGE_SIZE] [-o OUTDIR] MBALLOC
# Needs root (loop mounts), e2fsprogs, python3.  Prints a markdown table.
set -u
TREE_MIB=96 SIZE=256M OUT=
while getopts t:s:o: c; do
	case $c in
	t) TREE_MIB=$OPTARG ;;
	s) SIZE=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) echo "usage: $0 [-t TREE_MIB] [-s IMAGE_SIZE] [-o OUTDIR] MBALLOC" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
MB=${1:?usage: $0 [-t TREE_MIB] [-s IMAGE_SIZE] [-o OUTDIR] MBALLOC}
[ "$(id -u)" = 0 ] || { echo "$0: needs root (loop mounts)" >&2; exit 1; }
for c in mkfs.ext4 e2fsck e2freefrag dumpe2fs filefrag python3; do
	command -v $c >/dev/null || { echo "$0: $c not installed" >&2; exit 1; }
done
W=$(mktemp -d -p /dev/shm e2fs_compare.XXXXXX 2>/dev/null || mktemp -d) || exit 1
MNT=$W/mnt
trap 'umount "$MNT" 2>/dev/null; rm -rf "$W"' EXIT
OUT=${OUT:-$W/out}
mkdir -p "$MNT" "$OUT" "$W/tree" || exit 1
now() { date +%s.%N; }

# The tree: whole directories of /usr/share/doc, /usr/include and
# /usr/lib/x86_64-linux-gnu (shared libraries: files of 1-30 MiB) in name
# order, about a third each, TREE_MIB in all.
part=$((TREE_MIB * 1024 / 3))
for top in /usr/share/doc /usr/include /usr/lib/x86_64-linux-gnu; do
	total=0
	mkdir -p "$W/tree/${top##*/}"
	for d in "$top"/*; do
		[ $total -lt $part ] || break
		[ -L "$d" ] && continue
		kb=$(du -sk "$d" 2>/dev/null | cut -f1)
		[ $((total + kb)) -le $((part * 5 / 4)) ] || continue
		cp -a "$d" "$W/tree/${top##*/}/" 2>/dev/null || continue
		total=$((total + kb))
	done
done
(cd "$W/tree" && find . -type f | sort | awk 'NR % 3 == 0' | sed 's|^\.||') >"$W/third"
echo "tree: $(du -sm "$W/tree" | cut -f1) MiB, $(find "$W/tree" -type f | wc -l) files;" \
	"image $SIZE; kernel $(uname -r); $(mkfs.ext4 -V 2>&1 | head -1)" >"$OUT/setup.txt"

# extents IMAGE: one line per non-empty regular file: its extent count.
extents() {
	mount -o ro,loop "$1" "$MNT" || return 1
	find "$MNT" -type f -size +0 -print0 | xargs -0 filefrag 2>/dev/null |
		sed -n 's/.*: \([0-9]*\) extents\{0,1\} found$/\1/p'
	umount "$MNT"
}

# free_extents IMAGE: the free extents' lengths in blocks (dumpe2fs's
# per-group lists, runs that continue across a group boundary joined).
free_extents() {
	dumpe2fs "$1" 2>/dev/null | sed -n 's/^  Free blocks: //p' | tr ',' '\n' |
		python3 -c '
import sys
runs = []
for t in sys.stdin:
    t = t.strip()
    if not t: continue
    a, _, b = t.partition("-")
    a = int(a); b = int(b) if b else a
    if runs and runs[-1][1] + 1 == a: runs[-1][1] = b
    else: runs.append([a, b])
for a, b in runs: print(b - a + 1)'
}

# row STATE PLACER IMAGE SECONDS: one table row.
row() {
	bs=$(dumpe2fs -h "$3" 2>/dev/null | sed -n 's/^Block size: *//p')
	extents "$3" >"$W/ext" || return 1
	free_extents "$3" >"$W/free"
	e2freefrag "$3" >"$OUT/$1-$2.freefrag" 2>&1
	e2fsck -fn "$3" >"$OUT/$1-$2.fsck" 2>&1 && fsck=clean || fsck=ERRORS
	python3 - "$W/ext" "$W/free" "$bs" "$1" "$2" "$4" "$fsck" <<'EOF'
import sys
ext = sorted(int(l) for l in open(sys.argv[1]) if l.strip())
free = [int(l) for l in open(sys.argv[2]) if l.strip()]
bs = int(sys.argv[3])
# Ceph's fragmentation score (BlueStore Allocator::get_fragmentation_score,
# as /work/shared/peers/ceph/frag_score.h states it): a free chunk of 2X
# bytes is worth 1.1 times as much per byte as one of X bytes, linear in
# between; score = (ideal - actual) / (ideal - terrible), ideal = all free
# bytes in one chunk, terrible = each free byte alone.
scales = [1.0]
def worth(v):
    if v == 0: return 0.0
    g = v.bit_length() - 1
    while len(scales) <= g + 1: scales.append(scales[-1] * 1.1)
    base = float(1 << g); x = (v - base) / base
    return base * scales[g] * (1 - x) + 2 * base * scales[g + 1] * x
total = sum(f * bs for f in free)
actual = sum(worth(f * bs) for f in free)
ideal, terrible = worth(total), total * worth(1)
score = (ideal - actual) / (ideal - terrible) if total and ideal != terrible else 0.0
n = len(ext)
mean = sum(ext) / n if n else 0
p99 = ext[min(n - 1, int(0.99 * n))] if n else 0
multi = 100.0 * sum(1 for e in ext if e > 1) / n if n else 0
print(f"| {sys.argv[4]} | {sys.argv[5]} | {n} | {mean:.3f} | {p99} | {ext[-1] if n else 0} "
      f"| {multi:.1f}% | {len(free)} | {max(free) * bs // 1024 if free else 0} "
      f"| {score:.4f} | {float(sys.argv[6]):.1f} | {sys.argv[7]} |")
EOF
}

# Copies the tree into IMAGE as /a (already there), removes the third,
# then /b, /c, ... until full.  populate and remove are shell commands
# taking IMAGE and the target name; the seconds copying go to $W/secs.
age() { # age IMAGE POPULATE_FN RM_FN
	"$3" "$1" || return 1
	secs=0
	for n in b c d e f g h; do
		t0=$(now)
		"$2" "$1" "/$n"
		rc=$?
		secs=$(python3 -c "print($secs + $(now) - $t0)")
		[ $rc = 0 ] || break
	done
	echo "$secs" >"$W/secs"
}

# --- libext2fs: mke2fs -d, then mballoc e2fs --allocator=ext2fs ---
mkdir -p "$W/wrap" && cp -al "$W/tree" "$W/wrap/a" || exit 1
lib_pop() { "$MB" e2fs populate -q --no-progress --allocator=ext2fs -t "$2" "$1" "$W/tree" \
	2>/dev/null; }
lib_rm() { sed 's|^|/a|' "$W/third" | tr '\n' '\0' |
	xargs -0 "$MB" e2fs rm -q --allocator=ext2fs "$1"; }
img=$W/lib.img
t0=$(now)
mkfs.ext4 -q -F -d "$W/wrap" "$img" "$SIZE" >/dev/null 2>&1 || { echo "mke2fs -d failed" >&2; exit 1; }
t=$(python3 -c "print($(now) - $t0)")
echo "| state | placed by | files | extents/file mean | p99 | max | files >1 extent |" \
	"free extents | largest free KiB | Ceph score | copy s | e2fsck |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
row fresh "libext2fs (mke2fs -d)" "$img" "$t"
age "$img" lib_pop lib_rm && row aged "libext2fs (e2fs --allocator=ext2fs)" "$img" "$(cat "$W/secs")"

# --- kernel ext4: cp -a onto a loop mount ---
k_cp() {
	mount -o loop "$1" "$MNT" || return 1
	cp -a "$W/tree" "$MNT$2" 2>/dev/null
	rc=$?
	sync
	umount "$MNT"
	return $rc
}
k_rm() {
	mount -o loop "$1" "$MNT" || return 1
	sed "s|^|$MNT/a|" "$W/third" | tr '\n' '\0' | xargs -0 rm -f
	umount "$MNT"
}
# A fresh image, the tree copied as /a (a fresh row), then aged (an aged row).
place() { # place IMAGE LABEL POPULATE_FN RM_FN
	mkfs.ext4 -q -F "$1" "$SIZE" >/dev/null 2>&1 || exit 1
	t0=$(now)
	"$3" "$1" /a || { echo "$2: copy failed" >&2; exit 1; }
	row fresh "$2" "$1" "$(python3 -c "print($(now) - $t0)")"
	age "$1" "$3" "$4" && row aged "$2" "$1" "$(cat "$W/secs")"
}
place "$W/kernel.img" "kernel $(uname -r | cut -d- -f1)" k_cp k_rm

# --- mballoc: mballoc e2fs populate ---
mb_pop() { "$MB" e2fs populate -q --no-progress --allocator=mballoc -t "$2" "$1" "$W/tree" \
	2>/dev/null; }
mb_rm() { sed 's|^|/a|' "$W/third" | tr '\n' '\0' |
	xargs -0 "$MB" e2fs rm -q --allocator=mballoc "$1"; }
img=$W/mballoc.img
place "$img" "mballoc e2fs populate" mb_pop mb_rm
resv=$(($(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Block count: *//p') / 50))
[ $resv -le 4096 ] || resv=4096
echo "block size $(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Block size: *//p') (mkfs.ext4's" \
	"default for $SIZE); mballoc and the kernel leave $resv blocks to metadata" \
	"(s_resv_clusters), libext2fs none" >>"$OUT/setup.txt"
cat "$OUT/setup.txt"
