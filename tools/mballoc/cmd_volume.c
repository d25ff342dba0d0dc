/* SPDX-License-Identifier: MIT */
/*
 * cmd_volume.c - `mballoc format`, `mballoc info` and `mballoc check`: the
 * persistent-volume commands.  format creates a volume in a file or block
 * device, refusing one that holds a known signature unless forced, and
 * removes a file it created when it fails; info opens it read-only and
 * prints its superblock facts; check opens it read-only (replaying the
 * journal in memory), reads every bitmap and runs mb_check, then
 * (--expect-allocated) asks mb_allocated_blocks about every extent a file
 * lists; it exits as e2fsck does: 0 clean, 4 problems, 8 cannot check.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "stress_int.h" /* mb_format_default_reserved(), shared with stress --image */

static const char *const mb_format_help =
	"usage: mballoc format PATH --size SIZE [options]\n"
	"Creates an empty persistent volume in a file (created or resized, sparse)\n"
	"or a block device (--size defaults to the device size).\n"
	"  --size SIZE             volume size (K/M/G/T suffixes)\n"
	"  --block-size SIZE       block size, 1K..64K (default 4K)\n"
	"  --blocks-per-group N    default 8 * block size\n"
	"  --reserved N            metadata blocks per group (default: just enough for\n"
	"                          group 0's descriptor table, bitmap and journal)\n"
	"  --journal N             journal blocks (default: the room left in group 0)\n"
	"  -F, --force             format even over an mballoc volume or another known\n"
	"                          signature (ext2/3/4, XFS, btrfs, swap, LUKS, ...)\n"
	"  -h, --help\n";

struct mb_format_opts {
	uint64_t size, block_size, bpg, reserved, journal;
	bool have_reserved, force;
	const char *path;
};

/* Size of a block device, or 0. */
static uint64_t mb_blockdev_size(const char *path)
{
	struct stat st;
	uint64_t size = 0;

	if (stat(path, &st) || !S_ISBLK(st.st_mode))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (ioctl(fd, BLKGETSIZE64, &size))
			size = 0;
		close(fd);
	}
	return size;
}

static int mb_format_parse(int argc, char **argv, struct mb_format_opts *o)
{
	static const struct option longopts[] = {
		{ "size", required_argument, 0, 's' },	{ "block-size", required_argument, 0, 'b' },
		{ "blocks-per-group", required_argument, 0, 'g' },
		{ "reserved", required_argument, 0, 'r' }, { "journal", required_argument, 0, 'J' },
		{ "force", no_argument, 0, 'F' },	{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	*o = (struct mb_format_opts){ .block_size = 4096 };
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "hF", longopts, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 'F': o->force = true; break;
		case 's': ok = !mb_parse_size(optarg, &o->size); break;
		case 'b': ok = !mb_parse_size(optarg, &o->block_size); break;
		case 'g': ok = mb_parse_u64(optarg, &o->bpg); break;
		case 'r': ok = mb_parse_u64(optarg, &o->reserved); o->have_reserved = true; break;
		case 'J': ok = mb_parse_u64(optarg, &o->journal); break;
		case 'h': fputs(mb_format_help, stdout); exit(MB_EXIT_OK);
		case '?': return mb_cli_bad_option("format", argv);
		default: return MB_EXIT_USAGE;
		}
		if (!ok)
			return mb_cli_usage_err("format", "invalid value '%s'", optarg);
	}
	if (optind + 1 != argc)
		return mb_cli_usage_err("format", optind < argc ? "one PATH expected"
								 : "missing PATH");
	o->path = argv[optind];
	if (!o->size)
		o->size = mb_blockdev_size(o->path);
	if (!o->size)
		return mb_cli_usage_err("format", "--size is required");
	if (o->block_size < 1024 || o->block_size > 65536 || o->bpg > UINT32_MAX ||
	    o->reserved > UINT32_MAX || o->journal > UINT32_MAX)
		return mb_cli_usage_err("format", "invalid geometry");
	return 0;
}

/*
 * Default reserved blocks: superblock, descriptor table (32 bytes per
 * group), group 0's bitmap and a journal that holds every group's bitmap
 * in one transaction when it can (at most what one transaction carries).
 */
uint64_t mb_format_default_reserved(uint64_t blocks, uint64_t bs, uint64_t bpg, uint64_t journal)
{
	uint64_t groups = (blocks + bpg - 1) / bpg;
	uint64_t desc = (groups * 32 + bs - 1) / bs;
	uint64_t j = journal;

	if (!j) {
		uint64_t cap = (bs - 28) / 8 + 2;

		j = groups + desc + 3;
		j = j < cap ? j : cap;
		j = j < 8 ? 8 : j;
	}
	return 2 + desc + j;
}

/*
 * Refuses a PATH that holds a known signature, unless forced.  Returns 0
 * to go on, or MB_EXIT_FAIL after printing why.  A PATH that cannot be
 * read (absent, or write-only) is left to the format's own open.
 */
static int mb_format_probe(const struct mb_format_opts *o)
{
	const char *what;

	if (o->force || mb_probe(o->path, &what) || !what)
		return 0;
	mb_cli_err("format", "%s: holds %s; not formatted (-F formats it anyway)", o->path,
		   what);
	return MB_EXIT_FAIL;
}

/* Why the format failed, in words. */
static void mb_format_report(const struct mb_format_opts *o, const struct mb_geometry *geo,
			     int err)
{
	if (err == -EINVAL)
		mb_cli_err("format", "%s: impossible geometry, or group 0's %u reserved blocks "
				     "cannot hold the metadata (Invalid argument)",
			   o->path, geo->reserved_per_group);
	else if (err == -ENOSPC)
		mb_cli_err("format", "%s: the device is smaller than the volume", o->path);
	else
		mb_cli_err("format", "%s: %s", o->path, mb_cli_open_strerror(err));
}

/*
 * Leaves nothing behind after a failed format: removes the file it
 * created, and gives an existing regular file back its size (the library
 * sizes the file before its last geometry checks; what it added is holes).
 * Not after -EBUSY: the file belongs to whoever holds it.
 */
static void mb_format_undo(const char *path, bool existed, off_t old_size, int err)
{
	struct stat st;

	if (err == -EBUSY || lstat(path, &st) || !S_ISREG(st.st_mode))
		return;
	if (!existed)
		unlink(path);
	else if (st.st_size != old_size && truncate(path, old_size))
		mb_cli_err("format", "%s: cannot restore its size of %lld bytes: %s", path,
			   (long long)old_size, strerror(errno));
}

int mb_cmd_format(int argc, char **argv)
{
	struct mb_format_opts o;
	struct stat st;
	int rc = mb_format_parse(argc, argv, &o);

	if (rc || (rc = mb_format_probe(&o)))
		return rc;
	uint64_t bpg = o.bpg ? o.bpg : 8 * o.block_size;
	struct mb_geometry geo = {
		.block_size = (uint32_t)o.block_size,
		.blocks_per_group = (uint32_t)o.bpg,
		.blocks_count = o.size / o.block_size,
		.reserved_per_group = (uint32_t)(o.have_reserved ? o.reserved
					: mb_format_default_reserved(o.size / o.block_size, o.block_size, bpg,
							      o.journal)),
	};
	struct mb_open_opts opts = { .journal_blocks = (uint32_t)o.journal };
	bool existed = !lstat(o.path, &st);
	off_t old_size = st.st_size;
	int err = mb_volume_format(o.path, &geo, &opts);

	if (err) {
		mb_format_report(&o, &geo, err);
		mb_format_undo(o.path, existed, old_size, err);
		return MB_EXIT_FAIL;
	}
	printf("formatted %s: %llu blocks of %llu bytes, %llu blocks per group, %u reserved "
	       "per group\n", o.path, (unsigned long long)geo.blocks_count,
	       (unsigned long long)o.block_size, (unsigned long long)bpg, geo.reserved_per_group);
	return MB_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* info and check                                                            */
/* ------------------------------------------------------------------------ */

static const char *const mb_check_help =
	"usage: mballoc check PATH [--json] [--expect-allocated FILE]\n"
	"Opens the volume read-only (replaying its journal in memory), reads every\n"
	"bitmap and verifies everything.  Exits as e2fsck: 0 clean, 4 problems found\n"
	"(listed; nothing is repaired), 8 the volume cannot be checked (cannot open,\n"
	"in use, not an mballoc volume, cannot read), 16 usage error.\n"
	"  --expect-allocated FILE  also require every extent FILE lists (\"start len\"\n"
	"                           per line, in blocks; as written by mballoc stress\n"
	"                           --commit-log) to be fully allocated.  A last line\n"
	"                           without its newline is ignored (a write cut short)\n";

/* info and check; expect is NULL for info, which has no --expect-allocated. */
static int mb_path_json_parse(const char *cmd, int argc, char **argv, bool *json,
			      const char **path, const char **expect)
{
	static const struct option longopts[] = {
		{ "json", no_argument, 0, 'j' }, { "help", no_argument, 0, 'h' },
		{ "expect-allocated", required_argument, 0, 'E' }, { 0, 0, 0, 0 },
	};
	int c;

	*json = false;
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': *json = true; break;
		case 'E':
			if (!expect)
				return mb_cli_usage_err(cmd, "--expect-allocated is check's");
			*expect = optarg;
			break;
		case 'h':
			if (expect)
				fputs(mb_check_help, stdout);
			else
				printf("usage: mballoc info PATH [--json]\nPrints a persistent "
				       "volume's geometry, free space, journal and state\n(opened "
				       "read-only).\n");
			exit(MB_EXIT_OK);
		case '?': return mb_cli_bad_option(cmd, argv);
		default: return MB_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return mb_cli_usage_err(cmd, optind < argc ? "one PATH expected" : "missing PATH");
	*path = argv[optind];
	return 0;
}

static int mb_open_ro(const char *cmd, const char *path, struct mb_volume **vol)
{
	struct mb_open_opts o = { .commit_interval_s = 0, .read_only = 1 };
	int err = mb_volume_open(path, &o, vol);

	if (err)
		mb_cli_err(cmd, "%s: %s", path, mb_cli_volume_why(path, err));
	return err;
}

static void mb_uuid_str(const uint8_t *u, char *s)
{
	static const int dash[] = { 4, 6, 8, 10 };
	int k = 0;

	for (int i = 0; i < 16; i++) {
		for (int d = 0; d < 4; d++)
			if (dash[d] == i)
				s[k++] = '-';
		k += sprintf(s + k, "%02x", u[i]);
	}
}

static void mb_info_print(const char *path, const struct mb_volume_info *i, bool json)
{
	char uuid[40];
	const char *state = i->was_clean ? "clean" : "dirty";

	mb_uuid_str(i->uuid, uuid);
	if (!json) {
		printf("volume:            %s\nuuid:              %s\nformat version:    %u\n"
		       "state:             %s%s\n", path, uuid, i->format_version, state,
		       i->replayed ? " (a committed transaction awaits replay)" : "");
		printf("block size:        %u\nblocks:            %llu\nblocks per group:  %u\n"
		       "first data block:  %u\nreserved per group: %u\ngroups:            %u "
		       "(%u never written)\nfree blocks:       %llu\n",
		       i->geo.block_size, (unsigned long long)i->geo.blocks_count,
		       i->geo.blocks_per_group, i->geo.first_data_block, i->geo.reserved_per_group,
		       i->groups, i->groups_uninit, (unsigned long long)i->free_blocks);
		printf("descriptor table:  blocks %llu..%llu\njournal:           blocks %llu..%llu "
		       "(%u blocks, %u per transaction)\nlast transaction:  %llu\n",
		       (unsigned long long)i->desc_start,
		       (unsigned long long)(i->desc_start + i->desc_blocks - 1),
		       (unsigned long long)i->journal_start,
		       (unsigned long long)(i->journal_start + i->journal_blocks - 1),
		       i->journal_blocks, i->journal_capacity, (unsigned long long)i->seq);
		return;
	}
	struct mb_json j;

	mb_json_start(&j, stdout, "info");
	mb_json_str(&j, "path", path);
	mb_json_str(&j, "uuid", uuid);
	mb_json_u64(&j, "format_version", i->format_version);
	mb_json_str(&j, "state", state);
	mb_json_bool(&j, "needs_replay", i->replayed);
	mb_json_u64(&j, "block_size", i->geo.block_size);
	mb_json_u64(&j, "blocks_count", i->geo.blocks_count);
	mb_json_u64(&j, "blocks_per_group", i->geo.blocks_per_group);
	mb_json_u64(&j, "first_data_block", i->geo.first_data_block);
	mb_json_u64(&j, "reserved_per_group", i->geo.reserved_per_group);
	mb_json_u64(&j, "groups", i->groups);
	mb_json_u64(&j, "groups_uninit", i->groups_uninit);
	mb_json_u64(&j, "free_blocks", i->free_blocks);
	mb_json_u64(&j, "desc_start", i->desc_start);
	mb_json_u64(&j, "desc_blocks", i->desc_blocks);
	mb_json_u64(&j, "journal_start", i->journal_start);
	mb_json_u64(&j, "journal_blocks", i->journal_blocks);
	mb_json_u64(&j, "journal_capacity", i->journal_capacity);
	mb_json_u64(&j, "seq", i->seq);
	mb_json_u64(&j, "open_bytes_read", i->open_bytes_read);
	mb_json_finish(&j);
}

int mb_cmd_info(int argc, char **argv)
{
	const char *path;
	bool json;
	struct mb_volume *vol;
	struct mb_volume_info info;
	int rc = mb_path_json_parse("info", argc, argv, &json, &path, NULL);

	if (rc)
		return rc;
	if (mb_open_ro("info", path, &vol))
		return MB_EXIT_FAIL;
	mb_volume_info(vol, &info);
	mb_info_print(path, &info, json);
	mb_volume_destroy(vol);
	return MB_EXIT_OK;
}

/* What --expect-allocated found. */
struct mb_expect {
	const char *file; /* NULL: not asked */
	uint64_t checked, missing;
	bool partial; /* the last line had no newline and was ignored */
};

/* Appends a line to the report (kept NUL-terminated, truncated at len). */
__attribute__((format(printf, 3, 4))) static void mb_report_add(char *report, size_t len,
								 const char *fmt, ...)
{
	size_t used = strlen(report);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(report + used, len - used, fmt, ap);
	va_end(ap);
}

/* One "start len" line: a problem unless the extent is fully allocated. */
static int mb_expect_line(struct mb_volume *vol, struct mb_expect *ex, const char *line,
			  uint64_t lineno, char *report, size_t len)
{
	unsigned long long start, blocks;
	char extra;

	if (sscanf(line, "%llu %llu %c", &start, &blocks, &extra) != 2 || !blocks) {
		mb_report_add(report, len, "%s:%llu: not \"start len\"\n", ex->file,
			      (unsigned long long)lineno);
		return 1;
	}
	ex->checked++;
	int64_t got = mb_allocated_blocks(vol, start, blocks);

	if (got == (int64_t)blocks)
		return 0;
	ex->missing++;
	if (got < 0)
		mb_report_add(report, len, "expected extent %llu+%llu: %s\n", start, blocks,
			      strerror((int)-got));
	else
		mb_report_add(report, len, "expected extent %llu+%llu: only %lld block(s) allocated\n",
			      start, blocks, (long long)got);
	return 1;
}

/*
 * Checks every extent ex->file lists.  Returns the problems found, or
 * -errno when the file cannot be read.
 */
static int mb_expect_allocated(struct mb_volume *vol, struct mb_expect *ex, char *report,
			       size_t len)
{
	FILE *f = fopen(ex->file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t lineno = 0;
	int problems = 0;

	if (!f)
		return -errno;
	while ((n = getline(&line, &cap, f)) > 0) {
		/* the writer's write() was cut short: it never reached its fsync */
		if (line[n - 1] != '\n') {
			ex->partial = true;
			break;
		}
		problems += mb_expect_line(vol, ex, line, ++lineno, report, len);
	}
	int err = ferror(f) ? -EIO : 0;

	free(line);
	fclose(f);
	return err ? err : problems;
}

/* Prints the problem lines, as text or as JSON strings. */
static void mb_check_print(const char *path, int n, char *report, bool json,
			   const struct mb_expect *ex)
{
	if (!json) {
		if (n)
			printf("%s: %d problem%s:\n%s", path, n, n == 1 ? "" : "s", report);
		else
			printf("%s: clean\n", path);
		if (ex->file)
			printf("%s: %llu expected extent(s) checked, %llu not allocated%s\n",
			       ex->file, (unsigned long long)ex->checked,
			       (unsigned long long)ex->missing,
			       ex->partial ? " (a partial last line ignored)" : "");
		return;
	}
	struct mb_json j;

	mb_json_start(&j, stdout, "check");
	mb_json_str(&j, "path", path);
	mb_json_bool(&j, "clean", !n);
	mb_json_u64(&j, "problems", (uint64_t)n);
	if (ex->file) {
		mb_json_u64(&j, "expected_extents", ex->checked);
		mb_json_u64(&j, "expected_not_allocated", ex->missing);
	}
	mb_json_arr(&j, "messages");
	for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n"))
		mb_json_str(&j, NULL, line);
	mb_json_finish(&j);
}

/* mb_volume_verify, then the expected extents; problems or -errno. */
static int mb_check_run(struct mb_volume *vol, const char *path, struct mb_expect *ex,
			char *report, size_t len)
{
	report[0] = 0;
	int n = mb_volume_verify(vol, report, len);

	if (n < 0) {
		mb_cli_err("check", "%s: %s", path, strerror(-n));
		return n;
	}
	if (!ex->file)
		return n;
	int m = mb_expect_allocated(vol, ex, report, len);

	if (m < 0)
		mb_cli_err("check", "%s: %s", ex->file, strerror(-m));
	return m < 0 ? m : n + m;
}

/*
 * An open that found corruption is a problem found (exit 4), reported as
 * one; any other failed open is operational (exit 8).
 */
static int mb_check_open_failed(const char *path, int err, bool json)
{
	char report[256];

	if (err != -EUCLEAN)
		return MB_EXIT_CHECK_ERROR;
	snprintf(report, sizeof(report), "cannot open: %s\n", mb_cli_open_strerror(err));
	struct mb_expect none = { 0 };

	mb_check_print(path, 1, report, json, &none);
	return MB_EXIT_CHECK_PROBLEMS;
}

int mb_cmd_check(int argc, char **argv)
{
	const char *path;
	bool json;
	struct mb_volume *vol;
	struct mb_expect ex = { 0 };
	int rc = mb_path_json_parse("check", argc, argv, &json, &path, &ex.file);

	if (rc) /* e2fsck's usage error */
		return rc == MB_EXIT_USAGE ? MB_EXIT_CHECK_USAGE : rc;
	if ((rc = mb_open_ro("check", path, &vol)))
		return mb_check_open_failed(path, rc, json);
	size_t len = 1 << 20;
	char *report = malloc(len);

	if (!report) {
		mb_volume_destroy(vol);
		mb_cli_err("check", "%s: %s", path, strerror(ENOMEM));
		return MB_EXIT_CHECK_ERROR;
	}
	int n = mb_check_run(vol, path, &ex, report, len);

	mb_volume_destroy(vol);
	if (n >= 0)
		mb_check_print(path, n, report, json, &ex);
	free(report);
	if (n < 0)
		return MB_EXIT_CHECK_ERROR;
	return n ? MB_EXIT_CHECK_PROBLEMS : MB_EXIT_OK;
}
