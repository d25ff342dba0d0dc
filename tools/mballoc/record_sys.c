/* SPDX-License-Identifier: MIT */
/*
 * record_sys.c - what `mballoc record` asks of the kernel: a loop device,
 * a private tracefs instance filtered to that device, and file helpers.
 * See record.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cli.h"
#include "record.h"

#define MB_REC "record"

/* ---- files ---- */

int mb_rfile_read(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got + 1 < n) {
		ssize_t r = read(fd, buf + got, n - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	return 0;
}

/* Writes all of buf; tracefs and sysfs take one write per value. */
static int mb_rfd_write(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Writes s to an existing control file (tracefs, sysfs). */
static int mb_rctl_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = mb_rfd_write(fd, s, strlen(s));
	if (close(fd) && !err)
		err = -errno;
	return err;
}

int mb_rfile_printf(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "we");
	va_list ap;
	int err = 0;

	if (!f)
		return -errno;
	va_start(ap, fmt);
	if (vfprintf(f, fmt, ap) < 0)
		err = -EIO;
	va_end(ap);
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* Copies fd to fd; counts bytes, lines and lines holding "[LOST ". */
static int mb_rfd_copy(int in, int out, struct mb_rtrace_stats *st)
{
	static char buf[1 << 16];
	ssize_t r;

	while ((r = read(in, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		int err = mb_rfd_write(out, buf, (size_t)r);
		if (err)
			return err;
		if (!st)
			continue;
		st->bytes += (uint64_t)r;
		for (ssize_t i = 0; i < r; i++)
			st->lines += buf[i] == '\n';
	}
	return 0;
}

int mb_rfile_copy(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out, err;

	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		err = -errno;
		close(in);
		return err;
	}
	err = mb_rfd_copy(in, out, NULL);
	close(in);
	if (close(out) && !err)
		err = -errno;
	return err;
}

int mb_rfile_replace(const char *path, const char *from, const char *to)
{
	static char buf[1 << 20];
	size_t flen = strlen(from);
	int err = mb_rfile_read(path, buf, sizeof(buf));
	FILE *f;

	if (err)
		return err;
	if (!flen || !strstr(buf, from))
		return 0;
	f = fopen(path, "we");
	if (!f)
		return -errno;
	for (char *p = buf, *q; *p; p = q + flen) {
		q = strstr(p, from);
		if (!q) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(q - p), f);
		fputs(to, f);
	}
	return fclose(f) ? -errno : 0;
}

/* ---- loop device ---- */

/* Binds the image to a free loop device; another process may take the
 * device we were offered, then we ask again. */
static int mb_rloop_bind(int ctl, int img, struct mb_rloop *l)
{
	struct loop_config cfg = { .fd = (uint32_t)img };

	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	for (int tries = 0; tries < 16; tries++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0)
			return -errno;
		snprintf(l->path, sizeof(l->path), "/dev/loop%d", nr);
		int fd = open(l->path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (!ioctl(fd, LOOP_CONFIGURE, &cfg)) {
			l->fd = fd;
			l->nr = nr;
			return 0;
		}
		int err = -errno;
		close(fd);
		if (err != -EBUSY)
			return err;
	}
	return -EBUSY;
}

int mb_rloop_attach(const char *image, struct mb_rloop *l)
{
	char path[64], buf[16];
	struct stat st;
	int ctl, img, err;

	*l = (struct mb_rloop){ .fd = -1, .nr = -1, .rotational = -1 };
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		err = -errno;
		mb_cli_err(MB_REC, "/dev/loop-control: %s (is the loop driver loaded?)",
			   strerror(-err));
		return err;
	}
	img = open(image, O_RDWR | O_CLOEXEC);
	err = img < 0 ? -errno : mb_rloop_bind(ctl, img, l);
	if (img >= 0)
		close(img);
	close(ctl);
	if (!err && fstat(l->fd, &st))
		err = -errno;
	if (err) {
		mb_cli_err(MB_REC, "attaching %s to a loop device: %s", image, strerror(-err));
		mb_rloop_detach(l);
		return err;
	}
	l->rdev = st.st_rdev;
	snprintf(path, sizeof(path), "/sys/block/loop%d/queue/rotational", l->nr);
	if (!mb_rfile_read(path, buf, sizeof(buf)))
		l->rotational = atoi(buf);
	return 0;
}

void mb_rloop_detach(struct mb_rloop *l)
{
	if (l->fd < 0)
		return;
	/* Fails with ENXIO if autoclear already detached it. */
	if (ioctl(l->fd, LOOP_CLR_FD, 0) && errno != ENXIO)
		mb_cli_err(MB_REC, "%s: detach: %s (autoclear detaches it when unused)", l->path,
			   strerror(errno));
	close(l->fd);
	l->fd = -1;
}

/* ---- tracefs instance ---- */

/* The jbd2 events of the shared captures (the commit's life). */
static const char *const mb_rtrace_jbd2[] = {
	"jbd2_start_commit", "jbd2_commit_locking", "jbd2_commit_flushing", "jbd2_commit_logging",
	"jbd2_end_commit",   "jbd2_drop_transaction", "jbd2_run_stats",
};

static bool mb_rdir_exists(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* Finds or mounts tracefs into t->root. */
static int mb_rtrace_root(struct mb_rtrace *t, const char *root_opt, const char *tmp)
{
	static const char *const std[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char inst[PATH_MAX + 16];

	if (root_opt) {
		snprintf(inst, sizeof(inst), "%s/instances", root_opt);
		if (!mb_rdir_exists(inst)) {
			mb_cli_err(MB_REC, "%s: not a tracefs mount (no instances/)", root_opt);
			return -ENOENT;
		}
		snprintf(t->root, sizeof(t->root), "%s", root_opt);
		return 0;
	}
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
		snprintf(inst, sizeof(inst), "%s/instances", std[i]);
		if (mb_rdir_exists(inst)) {
			snprintf(t->root, sizeof(t->root), "%s", std[i]);
			return 0;
		}
	}
	/* Not mounted: a private mount, undone at exit, leaves the system as
	 * it was. */
	snprintf(t->root, sizeof(t->root), "%s/tracefs", tmp);
	if (mkdir(t->root, 0700) || mount("nodev", t->root, "tracefs", 0, NULL)) {
		int err = -errno;
		mb_cli_err(MB_REC, "tracefs is not mounted and mounting it failed: %s "
				   "(a kernel with CONFIG_FTRACE and root are needed)",
			   strerror(-err));
		rmdir(t->root);
		return err;
	}
	t->mounted = true;
	return 0;
}

int mb_rtrace_open(struct mb_rtrace *t, const char *root_opt, const char *tmp, const char *name)
{
	char path[PATH_MAX + 32];
	int err;

	*t = (struct mb_rtrace){ 0 };
	err = mb_rtrace_root(t, root_opt, tmp);
	if (err)
		return err;
	if (snprintf(t->inst, sizeof(t->inst), "%s/instances/%s", t->root, name) >=
	    (int)sizeof(t->inst))
		return -ENAMETOOLONG;
	if (mkdir(t->inst, 0700)) {
		err = -errno;
		mb_cli_err(MB_REC, "%s: %s", t->inst, strerror(-err));
		return err;
	}
	t->made = true;
	snprintf(path, sizeof(path), "%s/tracing_on", t->inst);
	err = mb_rctl_write(path, "0");
	if (err)
		mb_cli_err(MB_REC, "%s: %s", path, strerror(-err));
	return err;
}

/* The filter that keeps one device's events: ext4 prints `dev` as the
 * kernel's dev_t (major << 20 | minor); the trim events have no `dev` but
 * dev_major/dev_minor.  Empty when the event has neither. */
static void mb_rtrace_filter(const char *format, dev_t dev, char *buf, size_t n)
{
	unsigned ma = major(dev), mi = minor(dev);

	if (strstr(format, " dev;"))
		snprintf(buf, n, "dev == %llu", ((unsigned long long)ma << 20) | mi);
	else if (strstr(format, " dev_major;") && strstr(format, " dev_minor;"))
		snprintf(buf, n, "dev_major == %u && dev_minor == %u", ma, mi);
	else
		buf[0] = '\0';
}

/* Filters and enables one event (SYS/NAME). */
static int mb_rtrace_enable(struct mb_rtrace *t, const char *sys, const char *name, dev_t dev)
{
	static char format[16384];
	char dir[PATH_MAX + 256], path[PATH_MAX + 300], filter[96];
	int err;

	snprintf(dir, sizeof(dir), "%s/events/%s/%s", t->inst, sys, name);
	snprintf(path, sizeof(path), "%s/format", dir);
	if (mb_rfile_read(path, format, sizeof(format)))
		return 0; /* not in this kernel: skipped, not listed */
	mb_rtrace_filter(format, dev, filter, sizeof(filter));
	if (!filter[0] && strlen(t->unfiltered) + strlen(name) + 2 < sizeof(t->unfiltered))
		strcat(strcat(t->unfiltered, " "), name);
	snprintf(path, sizeof(path), "%s/filter", dir);
	err = filter[0] ? mb_rctl_write(path, filter) : 0;
	if (!err) {
		snprintf(path, sizeof(path), "%s/enable", dir);
		err = mb_rctl_write(path, "1");
	}
	if (err) {
		mb_cli_err(MB_REC, "%s: %s", path, strerror(-err));
		return err;
	}
	if (strlen(t->events) + strlen(name) + 2 < sizeof(t->events))
		strcat(strcat(t->events, t->nevents ? " " : ""), name);
	t->nevents++;
	return 0;
}

static int mb_rname_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every ext4 event except the extent-status and fast-commit ones, in name
 * order (as the shared captures list them). */
static int mb_rtrace_ext4(struct mb_rtrace *t, dev_t dev)
{
	char dir[PATH_MAX + 32];
	char *names[512];
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int err = 0;

	snprintf(dir, sizeof(dir), "%s/events/ext4", t->inst);
	d = opendir(dir);
	if (!d) {
		mb_cli_err(MB_REC, "%s: %s (ext4 built without tracepoints?)", dir,
			   strerror(errno));
		return -ENOENT;
	}
	while ((de = readdir(d)) && n < sizeof(names) / sizeof(names[0])) {
		if (strncmp(de->d_name, "ext4_", 5) || !strncmp(de->d_name, "ext4_es_", 8) ||
		    !strncmp(de->d_name, "ext4_fc_", 8))
			continue;
		if (!(names[n] = strdup(de->d_name))) {
			err = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), mb_rname_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!err)
			err = mb_rtrace_enable(t, "ext4", names[i], dev);
		free(names[i]);
	}
	return err;
}

int mb_rtrace_setup(struct mb_rtrace *t, dev_t dev, uint64_t buffer_kb)
{
	char path[PATH_MAX + 32], val[32];
	int err;

	snprintf(path, sizeof(path), "%s/buffer_size_kb", t->inst);
	snprintf(val, sizeof(val), "%llu", (unsigned long long)buffer_kb);
	err = mb_rctl_write(path, val);
	if (!err) {
		/* Full ring: drop new events (counted) rather than overwrite. */
		snprintf(path, sizeof(path), "%s/options/overwrite", t->inst);
		err = mb_rctl_write(path, "0");
	}
	if (err) {
		mb_cli_err(MB_REC, "%s: %s", path, strerror(-err));
		return err;
	}
	err = mb_rtrace_ext4(t, dev);
	for (size_t i = 0; !err && i < sizeof(mb_rtrace_jbd2) / sizeof(mb_rtrace_jbd2[0]); i++)
		err = mb_rtrace_enable(t, "jbd2", mb_rtrace_jbd2[i], dev);
	return err;
}

int mb_rtrace_on(struct mb_rtrace *t, bool on)
{
	char path[PATH_MAX + 16];
	int err;

	snprintf(path, sizeof(path), "%s/tracing_on", t->inst);
	err = mb_rctl_write(path, on ? "1" : "0");
	if (err)
		mb_cli_err(MB_REC, "%s: %s", path, strerror(-err));
	return err;
}

void mb_rtrace_marker(const struct mb_rtrace *t, char *buf, size_t n)
{
	snprintf(buf, n, "%s/trace_marker", t->inst);
}

/* Sums the per-CPU ring's overruns and dropped events. */
static uint64_t mb_rtrace_lost(struct mb_rtrace *t)
{
	char path[PATH_MAX + 64], buf[2048];
	uint64_t lost = 0;

	for (int cpu = 0; cpu < 4096; cpu++) {
		snprintf(path, sizeof(path), "%s/per_cpu/cpu%d/stats", t->inst, cpu);
		if (mb_rfile_read(path, buf, sizeof(buf)))
			break;
		const char *p = strstr(buf, "overrun: ");
		if (p)
			lost += strtoull(p + 9, NULL, 10);
		p = strstr(buf, "dropped events: ");
		if (p)
			lost += strtoull(p + 16, NULL, 10);
	}
	return lost;
}

/* The header's "entries-in-buffer/entries-written: N/M" and LOST lines. */
static void mb_rtrace_scan(const char *path, struct mb_rtrace_stats *st)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "entries-in-buffer/entries-written: ");
		unsigned long long a, b;

		if (line[0] == '#' && p && sscanf(p + 35, "%llu/%llu", &a, &b) == 2) {
			st->in_buffer = a;
			st->written = b;
		}
		if (line[0] != '#' && strstr(line, "[LOST "))
			st->lost_markers++;
	}
	fclose(f);
}

int mb_rtrace_save(struct mb_rtrace *t, const char *path, struct mb_rtrace_stats *st)
{
	char src[PATH_MAX + 16];
	int in, out, err;

	*st = (struct mb_rtrace_stats){ 0 };
	snprintf(src, sizeof(src), "%s/trace", t->inst);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		err = -errno;
		mb_cli_err(MB_REC, "%s: %s", src, strerror(-err));
		return err;
	}
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	err = out < 0 ? -errno : mb_rfd_copy(in, out, st);
	close(in);
	if (out >= 0 && close(out) && !err)
		err = -errno;
	if (err) {
		mb_cli_err(MB_REC, "saving the trace to %s: %s", path, strerror(-err));
		return err;
	}
	mb_rtrace_scan(path, st);
	st->ring_lost = mb_rtrace_lost(t);
	return 0;
}

void mb_rtrace_close(struct mb_rtrace *t)
{
	if (t->made) {
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/tracing_on", t->inst);
		mb_rctl_write(path, "0");
		/* Events are switched off with the instance. */
		if (rmdir(t->inst))
			mb_cli_err(MB_REC, "%s: remove: %s", t->inst, strerror(errno));
		t->made = false;
	}
	if (t->mounted) {
		if (umount(t->root))
			mb_cli_err(MB_REC, "%s: unmount: %s", t->root, strerror(errno));
		else
			rmdir(t->root);
		t->mounted = false;
	}
}
