#!/bin/sh
# SPDX-License-Identifier: MIT
#
# kernel_ext4.sh - the kernel's ext4 allocator as a peer of `mballoc bench`
# (run by `mballoc bench --kernel`, or by hand).  Makes an ext4 file system
# on a loop device over a file in tmpfs, so no disk is involved, and
# allocates with fallocate() the same sizes the bench's workload asks:
#
#   kernel_ext4.sh threads N BLOCK_SIZE quick|full
#       N processes, each its own files: objects of 2 MiB or 64 KiB (even
#       odds) written in 64 KiB fallocate() calls, kept between the
#       process's share of the 0.8/0.6 marks (files unlinked at random).
#   kernel_ext4.sh files N MIB BLOCK_SIZE quick|full
#       N big files appended 64 KiB at a time, round-robin, with 4 small
#       files of 1-4 blocks per round; reports extents per big file
#       (filefrag).
#
# Prints one line "ops=N ns=N note=..." (fallocate calls and wall time),
# or "skipped: why" when not root or no loop device.  Needs python3 for the
# fallocate loop (os.posix_fallocate).
set -u

say_skip() { echo "skipped: $*"; exit 0; }

[ "$(id -u)" = 0 ] || say_skip "not root"
[ -e /dev/loop-control ] || say_skip "no loop device"
command -v losetup >/dev/null || say_skip "losetup not installed"
command -v mkfs.ext4 >/dev/null || say_skip "mkfs.ext4 not installed"
command -v python3 >/dev/null || say_skip "python3 not installed"

mode=${1:-}
case "$mode" in
threads) n=$2; bs=$3; size=$4; mib=0 ;;
files) n=$2; mib=$3; bs=$4; size=$5 ;;
*) echo "usage: $0 threads N BS quick|full | files N MIB BS quick|full" >&2; exit 2 ;;
esac
if [ "$size" = quick ]; then vol_mib=256; secs=0.05; else vol_mib=4096; secs=1; fi

dir=$(mktemp -d /tmp/mballoc-kext4.XXXXXX) || say_skip "mktemp failed"
dev=""
cleanup() {
	umount "$dir/mnt" 2>/dev/null
	[ -n "$dev" ] && losetup -d "$dev" 2>/dev/null
	umount "$dir/tmpfs" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

mkdir -p "$dir/tmpfs" "$dir/mnt"
mount -t tmpfs -o size=$((vol_mib + 64))m tmpfs "$dir/tmpfs" || say_skip "cannot mount tmpfs"
truncate -s ${vol_mib}M "$dir/tmpfs/img" || say_skip "cannot create image"
dev=$(losetup -f --show "$dir/tmpfs/img" 2>/dev/null) || say_skip "no free loop device"
mkfs.ext4 -F -q -b "$bs" -m 0 -E nodiscard "$dev" || say_skip "mkfs.ext4 failed"
mount "$dev" "$dir/mnt" || say_skip "cannot mount ext4 on $dev"

python3 - "$mode" "$dir/mnt" "$n" "$mib" "$bs" "$secs" "$vol_mib" <<'EOF'
import os, random, subprocess, sys, time
from multiprocessing import Process, Value

mode, mnt, n, mib, bs, secs, vol_mib = sys.argv[1:8]
n, mib, bs, secs, vol_mib = int(n), int(mib), int(bs), float(secs), int(vol_mib)
PIECE = 64 << 10

def fall(path, off, length):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, off, length)
    finally:
        os.close(fd)

def worker(idx, stop_at, ops):
    rnd = random.Random(idx)
    high = 0.8 * (vol_mib << 20) / n
    low = 0.6 * (vol_mib << 20) / n
    used, files, seq, count = 0, [], 0, 0
    while time.monotonic() < stop_at:
        if used >= high:
            while files and used > low:
                p, sz = files.pop(rnd.randrange(len(files)))
                os.unlink(p)
                used -= sz
            continue
        size = (2 << 20) if rnd.random() < 0.5 else (64 << 10)
        seq += 1
        p = os.path.join(mnt, "t%d-%d" % (idx, seq))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            for off in range(0, size, PIECE):
                os.posix_fallocate(fd, off, PIECE)
                count += 1
        except OSError:
            os.close(fd)
            os.unlink(p)
            while files and used > low:
                q, sz = files.pop(rnd.randrange(len(files)))
                os.unlink(q)
                used -= sz
            continue
        os.close(fd)
        files.append((p, size))
        used += size
    with ops.get_lock():
        ops.value += count

if mode == "threads":
    ops = Value("q", 0)
    t0 = time.monotonic_ns()
    stop_at = time.monotonic() + secs * 5
    procs = [Process(target=worker, args=(i, stop_at, ops)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    ns = time.monotonic_ns() - t0
    print("ops=%d ns=%d note=%d processes, python fallocate loop" % (ops.value, ns, n))
else:
    rnd = random.Random(1)
    big = [os.path.join(mnt, "big%d" % i) for i in range(n)]
    fds = [os.open(p, os.O_WRONLY | os.O_CREAT, 0o644) for p in big]
    ops, ns, small = 0, 0, 0
    for rnd_i in range((mib << 20) // PIECE):
        for fd in fds:
            t = time.monotonic_ns()
            os.posix_fallocate(fd, rnd_i * PIECE, PIECE)
            ns += time.monotonic_ns() - t
            ops += 1
        for k in range(4):
            small += 1
            fd = os.open(os.path.join(mnt, "s%d" % small), os.O_WRONLY | os.O_CREAT, 0o644)
            t = time.monotonic_ns()
            os.posix_fallocate(fd, 0, bs * (1 + rnd.randrange(4)))
            ns += time.monotonic_ns() - t
            ops += 1
            os.close(fd)
    for fd in fds:
        os.fsync(fd)
        os.close(fd)
    ext = 0
    for p in big:
        out = subprocess.run(["filefrag", p], capture_output=True, text=True).stdout
        ext += int(out.rsplit(":", 1)[1].split()[0]) if "extent" in out else 0
    print("ops=%d ns=%d note=extents per big file %.1f (filefrag; ext4 caps an extent "
          "at 32768 blocks)" % (ops, ns, ext / n))
EOF
