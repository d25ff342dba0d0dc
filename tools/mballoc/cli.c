/* SPDX-License-Identifier: MIT */
/* cli.c - argument parsing and error reporting shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

bool mb_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool mb_parse_double(const char *s, double *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

int mb_parse_size(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	int shift = 0;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case 'p': case 'P': shift = 50; break;
	default: return -EINVAL;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

void mb_cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mballoc: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *mb_cli_open_strerror(int err)
{
	switch (err) {
	case -EBUSY: return "volume is in use by another process";
	case -EINVAL: return "not an mballoc volume (bad magic), or an unsupported version";
	case -EUCLEAN: return "corrupt volume: a checksum or a field is wrong "
			      "(Structure needs cleaning)";
	case -EROFS: return "read-only file or device (Read-only file system)";
	default: return strerror(-err);
	}
}

const char *mb_cli_volume_why(const char *path, int err)
{
	static char buf[160];
	const char *what;

	if (mb_volume_open_error()) /* an ext4 image the library refused, in its words */
		return mb_volume_open_error();
	if (err != -EINVAL || mb_probe(path, &what))
		return mb_cli_open_strerror(err);
	if (what && !strcmp(what, MB_PROBE_MBALLOC))
		return "unsupported mballoc format version or features";
	if (!what)
		return "not an mballoc volume (bad magic)";
	snprintf(buf, sizeof(buf), "not an mballoc volume (bad magic; it holds %s)", what);
	return buf;
}

int mb_cli_usage_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mballoc: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'mballoc %s --help'.\n", cmd);
	return MB_EXIT_USAGE;
}

int mb_cli_make_volume(const char *cmd, const struct mb_vol_opts *o, struct mb_volume **out)
{
	struct mb_geometry geo = {
		.block_size = (uint32_t)o->block_size,
		.blocks_per_group = (uint32_t)o->blocks_per_group,
		.blocks_count = o->block_size ? o->size / o->block_size : 0,
		.reserved_per_group = (uint32_t)o->reserved,
	};
	if (o->block_size > 65536 || o->blocks_per_group > UINT32_MAX || o->reserved > UINT32_MAX) {
		mb_cli_err(cmd, "invalid geometry: %s", strerror(EINVAL));
		return -EINVAL;
	}
	int err = mb_volume_create(&geo, out);

	if (err)
		mb_cli_err(cmd, "cannot create volume (size %llu, block size %llu, blocks per group "
				"%llu): %s",
			   (unsigned long long)o->size, (unsigned long long)o->block_size,
			   (unsigned long long)o->blocks_per_group, strerror(-err));
	return err;
}

int mb_cli_bad_option(const char *cmd, char **argv)
{
	return mb_cli_usage_err(cmd, "bad option or missing value: '%s'", argv[optind - 1]);
}
