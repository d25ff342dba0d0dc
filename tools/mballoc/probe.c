/* SPDX-License-Identifier: MIT */
/*
 * probe.c - what a file or device already holds, by the signatures of
 * well-known formats at their fixed offsets: `mballoc format` refuses to
 * overwrite any of them without -F, and a failed open names what it found
 * instead of a bare "Invalid argument".  A signature is a hint, not proof
 * (an ext2 magic is two bytes), which is why -F exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct mb_sig {
	const char *what;
	uint32_t off;
	const char *magic;
	uint32_t len;
};

/* Bytes read from the start: enough for every offset below (btrfs at 64K + 64). */
#define MB_PROBE_BYTES (65600 + 8)

/* The mballoc volume first; the DOS boot signature last: FAT and NTFS carry it too. */
static const struct mb_sig mb_sigs[] = {
	{ MB_PROBE_MBALLOC, 0, "\x1c\xa1\x0c\xb1", 4 }, /* 0xB10CA11C, little-endian */
	{ "an ext2/ext3/ext4 file system", 1080, "\x53\xef", 2 },
	{ "an XFS file system", 0, "XFSB", 4 },
	{ "a btrfs file system", 65600, "_BHRfS_M", 8 },
	{ "an F2FS file system", 1024, "\x10\x20\xf5\xf2", 4 },
	{ "a swap area", 4086, "SWAPSPACE2", 10 },
	{ "a swap area", 4086, "SWAP-SPACE", 10 },
	{ "a swap area", 16374, "SWAPSPACE2", 10 },
	{ "a swap area", 65526, "SWAPSPACE2", 10 },
	{ "a LUKS encrypted volume", 0, "LUKS\xba\xbe", 6 },
	{ "an LVM2 physical volume", 536, "LVM2 001", 8 },
	{ "a squashfs image", 0, "hsqs", 4 },
	{ "an ISO 9660 image", 32769, "CD001", 5 },
	{ "an NTFS file system", 3, "NTFS    ", 8 },
	{ "a FAT file system", 54, "FAT1", 4 },
	{ "a FAT file system", 82, "FAT32   ", 8 },
	{ "a GPT partition table", 512, "EFI PART", 8 },
	{ "a DOS partition table or boot sector", 510, "\x55\xaa", 2 },
};

int mb_probe(const char *path, const char **what)
{
	static unsigned char buf[MB_PROBE_BYTES];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*what = NULL;
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, sizeof(buf), 0);
	int err = n < 0 ? -errno : 0;

	close(fd);
	for (size_t i = 0; n > 0 && i < sizeof(mb_sigs) / sizeof(mb_sigs[0]); i++) {
		const struct mb_sig *s = &mb_sigs[i];

		if ((size_t)n >= (size_t)s->off + s->len && !memcmp(buf + s->off, s->magic, s->len)) {
			*what = s->what;
			break;
		}
	}
	return err;
}
