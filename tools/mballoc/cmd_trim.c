/* SPDX-License-Identifier: MIT */
/*
 * cmd_trim.c - `mballoc trim PATH`: fstrim for a volume.  Every free run
 * of at least --minimum (mb_trim, the library's FITRIM) is discarded: a
 * hole is punched in a regular file (so an image becomes sparse there), a
 * block device gets BLKDISCARD.
 *
 * The volume is opened read-only: its shared lock keeps every writer out
 * for the whole walk, so no run can be allocated and written while it is
 * being discarded, and nothing of the volume's metadata is written.  The
 * discards go through a second descriptor opened for writing.
 */
#define _GNU_SOURCE /* fallocate */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *const mb_trim_help =
	"usage: mballoc trim PATH [options]\n"
	"Discards the free space of the volume in PATH, as fstrim: each free run is\n"
	"punched out of a regular file (it becomes sparse there) or discarded on a\n"
	"block device.  Writers are kept out meanwhile; allocated blocks are never\n"
	"touched.\n"
	"  -o, --offset SIZE       start of the range, in bytes (default 0)\n"
	"  -l, --length SIZE       length of the range, in bytes (default: to the end)\n"
	"  -m, --minimum SIZE      skip free runs shorter than SIZE bytes (default: one\n"
	"                          block)\n"
	"  -n, --dry-run           count what would be discarded; discard nothing\n"
	"  -v, --verbose           print every run discarded\n"
	"  --json                  one JSON object on stdout\n"
	"  -h, --help\n";

struct mb_trim_opts {
	const char *path;
	uint64_t offset, length, minimum; /* bytes; length 0 = to the end */
	bool dry_run, verbose, json;
};

/* State of the walk, handed to each discard. */
struct mb_trim_run {
	const struct mb_trim_opts *o;
	int fd;             /* -1 on a dry run */
	bool blockdev;
	uint32_t block_size;
	uint64_t runs;
	uint64_t largest;   /* blocks */
};

static int mb_trim_parse(int argc, char **argv, struct mb_trim_opts *o)
{
	static const struct option lo[] = {
		{ "offset", required_argument, 0, 'o' }, { "length", required_argument, 0, 'l' },
		{ "minimum", required_argument, 0, 'm' }, { "dry-run", no_argument, 0, 'n' },
		{ "verbose", no_argument, 0, 'v' },	 { "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },	 { 0, 0, 0, 0 },
	};
	int c;

	*o = (struct mb_trim_opts){ 0 };
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "ho:l:m:nv", lo, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 'o': ok = !mb_parse_size(optarg, &o->offset); break;
		case 'l': ok = !mb_parse_size(optarg, &o->length) && o->length; break;
		case 'm': ok = !mb_parse_size(optarg, &o->minimum); break;
		case 'n': o->dry_run = true; break;
		case 'v': o->verbose = true; break;
		case 'j': o->json = true; break;
		case 'h': fputs(mb_trim_help, stdout); exit(MB_EXIT_OK);
		case '?': return mb_cli_bad_option("trim", argv);
		default: return MB_EXIT_USAGE;
		}
		if (!ok)
			return mb_cli_usage_err("trim", "invalid value '%s'", optarg);
	}
	if (optind + 1 != argc)
		return mb_cli_usage_err("trim", optind < argc ? "one PATH expected" : "missing PATH");
	o->path = argv[optind];
	return 0;
}

/* mb_trim's callback: one free run, in blocks. */
static int mb_trim_discard(uint64_t start, uint64_t len, void *arg)
{
	struct mb_trim_run *r = arg;
	uint64_t range[2] = { start * r->block_size, len * r->block_size };
	int err = 0;

	if (r->fd >= 0 && r->blockdev)
		err = ioctl(r->fd, BLKDISCARD, range) ? -errno : 0;
	else if (r->fd >= 0)
		err = fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)range[0],
				(off_t)range[1]) ? -errno : 0;
	if (err)
		return err;
	r->runs++;
	r->largest = len > r->largest ? len : r->largest;
	if (r->o->verbose && !r->o->json)
		printf("  %llu+%llu\n", (unsigned long long)start, (unsigned long long)len);
	return 0;
}

/* The descriptor the discards go through; -1 and a message on failure. */
static int mb_trim_fd(const char *path, bool *blockdev)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		mb_cli_err("trim", "%s: cannot open for discarding: %s", path,
			   errno == EACCES || errno == EROFS ? "read-only file or device"
							     : strerror(errno));
		return -1;
	}
	*blockdev = !fstat(fd, &st) && S_ISBLK(st.st_mode);
	return fd;
}

static void mb_trim_print(const struct mb_trim_opts *o, const struct mb_trim_run *r,
			  int64_t blocks)
{
	uint64_t bytes = (uint64_t)blocks * r->block_size;

	if (!o->json) {
		printf("%s: %llu bytes (%llu blocks in %llu runs) %s\n", o->path,
		       (unsigned long long)bytes, (unsigned long long)blocks,
		       (unsigned long long)r->runs, o->dry_run ? "would be trimmed" : "trimmed");
		return;
	}
	struct mb_json j;

	mb_json_start(&j, stdout, "trim");
	mb_json_str(&j, "path", o->path);
	mb_json_bool(&j, "dry_run", o->dry_run);
	mb_json_u64(&j, "block_size", r->block_size);
	mb_json_u64(&j, "trimmed_blocks", (uint64_t)blocks);
	mb_json_u64(&j, "trimmed_bytes", bytes);
	mb_json_u64(&j, "runs", r->runs);
	mb_json_u64(&j, "largest_run_blocks", r->largest);
	mb_json_finish(&j);
}

/* Bytes to blocks: the range shrinks to whole blocks, the minimum grows. */
static int64_t mb_trim_walk(struct mb_volume *vol, const struct mb_trim_opts *o,
			    struct mb_trim_run *r)
{
	uint64_t bs = r->block_size;
	uint64_t start = (o->offset + bs - 1) / bs;
	uint64_t end = o->length && o->length <= UINT64_MAX - o->offset
			       ? (o->offset + o->length) / bs : UINT64_MAX;
	uint64_t minlen = (o->minimum + bs - 1) / bs;
	struct mb_geometry geo;

	mb_volume_geometry(vol, &geo);
	if (start >= geo.blocks_count || end <= start)
		return 0; /* nothing of the volume in the range: nothing to do */
	if (minlen > geo.blocks_per_group)
		return 0; /* no free run can be that long */
	return mb_trim(vol, start, end - start, (uint32_t)minlen, mb_trim_discard, r);
}

int mb_cmd_trim(int argc, char **argv)
{
	struct mb_trim_opts o;
	struct mb_volume *vol;
	struct mb_geometry geo;
	struct mb_open_opts oo = { .commit_interval_s = 0, .read_only = 1 };
	struct mb_trim_run r = { .o = &o, .fd = -1 };
	int rc = mb_trim_parse(argc, argv, &o);

	if (rc)
		return rc;
	int err = mb_volume_open(o.path, &oo, &vol);

	if (err) {
		mb_cli_err("trim", "%s: %s", o.path, mb_cli_volume_why(o.path, err));
		return MB_EXIT_FAIL;
	}
	mb_volume_geometry(vol, &geo);
	r.block_size = geo.block_size;
	if (!o.dry_run && (r.fd = mb_trim_fd(o.path, &r.blockdev)) < 0) {
		mb_volume_destroy(vol);
		return MB_EXIT_FAIL;
	}
	int64_t n = mb_trim_walk(vol, &o, &r);

	if (n < 0)
		mb_cli_err("trim", "%s: %s", o.path,
			   n == -EOPNOTSUPP ? "the file system holding it cannot punch holes"
					    : strerror((int)-n));
	else
		mb_trim_print(&o, &r, n);
	if (r.fd >= 0)
		close(r.fd);
	mb_volume_destroy(vol);
	return n < 0 ? MB_EXIT_FAIL : MB_EXIT_OK;
}
