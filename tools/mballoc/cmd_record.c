/* SPDX-License-Identifier: MIT */
/*
 * cmd_record.c - `mballoc record -o OUTDIR -- COMMAND...` (root): captures
 * a Linux ext4 allocator trace the way ../shared/traces were made, so that
 * `mballoc replay` can hold the library against the kernel on any workload.
 * It makes a file system on a tmpfs-backed image (mkfs.ext4 options passed
 * through), loop-mounts it, traces the ext4 and jbd2 events on a private
 * tracefs instance filtered to the device, runs COMMAND in the mount point,
 * and saves the captures' files: start.e2i.zst, trace.txt.zst,
 * mb_groups.start, tunables, mb_stats.end, mb_groups.end, end.e2i.zst,
 * dumpe2fs.start, fsck.txt, freefrag.txt and, last, meta.txt.
 *
 * Every resource (temp dir, image, loop device, mount, trace instance,
 * tracefs mount) is undone on success, error, SIGINT, SIGTERM and SIGHUP:
 * the handler only records the signal and forwards it to the running
 * child's process group; the steps check it and unwind through one
 * cleanup.  SIGKILL cannot be caught: the loop device is autoclear, the
 * rest stays (the temp dir's name says what it was).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "record.h"

#define MB_REC "record"
#define MB_REC_MAX_ARGS 64
#define MB_REC_MKFS_BASE "mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0"

struct mb_rec_opts {
	const char *mkfs_opts; /* passed through, split at blanks */
	const char *size_str;
	uint64_t size;         /* image bytes */
	const char *outdir, *tmpdir, *tracefs;
	uint64_t buffer_kb;    /* per-CPU ring */
	uint64_t settle;       /* seconds between the two final syncs */
	char **cmd;
};

struct mb_rec {
	struct mb_rec_opts o;
	char tmp[PATH_MAX];     /* our temp dir, "" when not made */
	char image[PATH_MAX + 16], mnt[PATH_MAX + 16];
	bool mnt_made, mounted;
	bool outdir_made;
	struct mb_rloop loop;
	struct mb_rtrace tr;
	char dev[32];           /* loopN, as /proc/fs/ext4 and /sys/fs/ext4 name it */
	int workload_rc, fsck_rc;
	double seconds;
	struct mb_rtrace_stats ts;
};

/* ---- signals and children ---- */

static volatile sig_atomic_t mb_rec_sig;     /* the last signal caught, 0 none */
static volatile sig_atomic_t mb_rec_nsig;    /* how many */
static volatile sig_atomic_t mb_rec_pgid;    /* running child's process group, 0 none */

/* Async-signal-safe: records, forwards to the child's group (a third
 * signal kills it), nothing else; the steps notice mb_rec_sig. */
static void mb_rec_on_signal(int sig)
{
	pid_t g = (pid_t)mb_rec_pgid;

	mb_rec_sig = sig;
	mb_rec_nsig++;
	if (g > 0)
		kill(-g, mb_rec_nsig >= 3 ? SIGKILL : sig);
}

static void mb_rec_signals(void (*h)(int))
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = h }; /* no SA_RESTART: waits see EINTR */

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* In the child before exec: its own process group (so the whole workload
 * is signalled together), default signals, stdout/stderr to `out`. */
static void mb_rec_child(char *const argv[], const char *out, const char *cwd)
{
	setpgid(0, 0);
	mb_rec_signals(SIG_DFL);
	if (out) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
	}
	if (cwd && chdir(cwd))
		_exit(126);
	execvp(argv[0], argv);
	fprintf(stderr, "mballoc: record: %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Runs argv to completion.  Returns its exit status, 128 + signal if a
 * signal ended it, or -errno if it could not start. */
static int mb_rec_spawn(char *const argv[], const char *out, const char *cwd)
{
	int status;
	pid_t pid;

	fflush(NULL); /* our output first, then the child's */
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		mb_rec_child(argv, out, cwd);
	setpgid(pid, pid); /* both sides, so a signal never finds it unset */
	mb_rec_pgid = pid;
	if (mb_rec_sig)
		kill(-pid, mb_rec_sig);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			mb_rec_pgid = 0;
			return -errno;
		}
	mb_rec_pgid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs a helper tool that must succeed; names it in the error, with its
 * output (kept in `out`, or in tmp/tool.out when out is NULL). */
static int mb_rec_tool(const struct mb_rec *r, char *const argv[], const char *out)
{
	char quiet[PATH_MAX + 16];
	int rc;

	if (!out) {
		snprintf(quiet, sizeof(quiet), "%s/tool.out", r->tmp);
		out = quiet;
	}
	rc = mb_rec_spawn(argv, out, NULL);
	if (rc == 0)
		return 0;
	if (mb_rec_sig)
		return -EINTR;
	if (rc < 0)
		mb_cli_err(MB_REC, "%s: %s", argv[0], strerror(-rc));
	else
		mb_cli_err(MB_REC, "%s failed (exit status %d); its output:", argv[0], rc);
	if (rc > 0 && out) {
		char buf[2048];
		if (!mb_rfile_read(out, buf, sizeof(buf)))
			fputs(buf, stderr);
	}
	return rc < 0 ? rc : -EIO;
}

#define MB_REC_CHECK_SIG()                                                                         \
	do {                                                                                       \
		if (mb_rec_sig)                                                                    \
			return -EINTR;                                                             \
	} while (0)

/* ---- steps ---- */

static void mb_rec_path(const struct mb_rec *r, char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", r->tmp, name);
}

static void mb_rec_out(const struct mb_rec *r, char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", r->o.outdir, name);
}

/* zstd-compresses tmp/NAME into OUTDIR/NAME.zst (small and slow is fine:
 * captures live in repositories). */
static int mb_rec_zstd(const struct mb_rec *r, const char *name, const char *outname)
{
	char in[PATH_MAX + 64], out[PATH_MAX + 64];
	char *argv[] = { "zstd", "-q", "-19", "-T0", "-f", in, "-o", out, NULL };

	mb_rec_path(r, in, sizeof(in), name);
	mb_rec_out(r, out, sizeof(out), outname);
	int err = mb_rec_tool(r, argv, NULL);
	/* zstd keeps the source's mode; e2image makes it 0600. */
	if (!err && chmod(out, 0644))
		err = -errno;
	return err;
}

/* e2image -Q of the image, compressed to OUTDIR/NAME. */
static int mb_rec_e2image(const struct mb_rec *r, const char *outname)
{
	char q[PATH_MAX + 64];
	char *argv[] = { "e2image", "-Q", (char *)r->image, q, NULL };
	int err;

	mb_rec_path(r, q, sizeof(q), "image.e2i");
	unlink(q);
	err = mb_rec_tool(r, argv, NULL);
	if (!err)
		err = mb_rec_zstd(r, "image.e2i", outname);
	unlink(q);
	return err;
}

/* OUTDIR is made (*made set), or must be empty: a capture is never mixed
 * with another. */
static int mb_rec_outdir(const char *dir, bool *made)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	*made = !mkdir(dir, 0755);
	if (*made)
		return 0;
	if (errno != EEXIST || !(d = opendir(dir))) {
		mb_cli_err(MB_REC, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	if (!n)
		return 0;
	mb_cli_err(MB_REC, "%s: exists and is not empty", dir);
	return -EEXIST;
}

/* Temp dir with the image (sparse; tmpfs by default, so the loop device is
 * non-rotational as in the shared captures) and the mount point. */
static int mb_rec_tmp(struct mb_rec *r)
{
	char tmpl[PATH_MAX];
	int fd;

	snprintf(tmpl, sizeof(tmpl), "%s/mballoc-record.XXXXXX", r->o.tmpdir);
	if (!mkdtemp(tmpl)) {
		mb_cli_err(MB_REC, "%s: %s", tmpl, strerror(errno));
		return -errno;
	}
	snprintf(r->tmp, sizeof(r->tmp), "%s", tmpl);
	mb_rec_path(r, r->image, sizeof(r->image), "image");
	mb_rec_path(r, r->mnt, sizeof(r->mnt), "mnt");
	fd = open(r->image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)r->o.size)) {
		int err = -errno;
		mb_cli_err(MB_REC, "%s: %s", r->image, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	close(fd);
	if (mkdir(r->mnt, 0755)) {
		mb_cli_err(MB_REC, "%s: %s", r->mnt, strerror(errno));
		return -errno;
	}
	r->mnt_made = true;
	return 0;
}

/* mkfs.ext4 with the fixed options of the shared captures, then ours. */
static int mb_rec_mkfs(struct mb_rec *r)
{
	char opts[1024], *argv[MB_REC_MAX_ARGS + 2];
	int n = 0;

	snprintf(opts, sizeof(opts), "%s %s", MB_REC_MKFS_BASE,
		 r->o.mkfs_opts ? r->o.mkfs_opts : "");
	for (char *s = strtok(opts, " \t"); s; s = strtok(NULL, " \t")) {
		if (n == MB_REC_MAX_ARGS) {
			mb_cli_err(MB_REC, "--mkfs-opts: more than %d words", MB_REC_MAX_ARGS);
			return -E2BIG;
		}
		argv[n++] = s;
	}
	argv[n++] = r->image;
	argv[n] = NULL;
	return mb_rec_tool(r, argv, NULL);
}

static int mb_rec_prepare(struct mb_rec *r)
{
	char out[PATH_MAX + 64];
	char *dumpe2fs[] = { "dumpe2fs", "-h", r->image, NULL };
	int err = mb_rec_tmp(r);

	/* tracefs first: without it there is nothing to record. */
	if (!err)
		err = mb_rtrace_open(&r->tr, r->o.tracefs, r->tmp, strrchr(r->tmp, '/') + 1);
	if (!err)
		err = mb_rec_mkfs(r);
	MB_REC_CHECK_SIG();
	if (err)
		return err;
	mb_rec_out(r, out, sizeof(out), "dumpe2fs.start");
	err = mb_rec_tool(r, dumpe2fs, out);
	if (!err)
		err = mb_rfile_replace(out, r->image, "IMAGE");
	if (!err)
		err = mb_rec_e2image(r, "start.e2i.zst");
	MB_REC_CHECK_SIG();
	return err;
}

/* Copies /proc/fs/ext4/DEV/NAME (or /sys/fs/ext4/DEV/NAME) to OUTDIR/out. */
static int mb_rec_save_proc(struct mb_rec *r, const char *base, const char *name,
			    const char *outname)
{
	char src[PATH_MAX], dst[PATH_MAX + 64];
	int err;

	snprintf(src, sizeof(src), "%s/%s/%s", base, r->dev, name);
	mb_rec_out(r, dst, sizeof(dst), outname);
	err = mb_rfile_copy(src, dst);
	if (err)
		mb_cli_err(MB_REC, "%s: %s", src, strerror(-err));
	return err;
}

/* The mb_* tunables and reserved_clusters at mount, "name value" lines. */
static int mb_rec_tunables(struct mb_rec *r)
{
	static const char *const names[] = {
		"mb_best_avail_max_trim_order", "mb_group_prealloc", "mb_max_linear_groups",
		"mb_max_to_scan", "mb_min_to_scan", "mb_order2_req", "mb_prefetch",
		"mb_prefetch_limit", "mb_stats", "mb_stream_req", "reserved_clusters",
	};
	char path[PATH_MAX + 64], val[64];
	FILE *f;

	mb_rec_out(r, path, sizeof(path), "tunables");
	f = fopen(path, "we");
	if (!f)
		return -errno;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char src[PATH_MAX];
		snprintf(src, sizeof(src), "/sys/fs/ext4/%s/%s", r->dev, names[i]);
		if (!mb_rfile_read(src, val, sizeof(val)))
			fprintf(f, "%s %s", names[i], val);
	}
	return fclose(f) ? -errno : 0;
}

static int mb_rec_mount(struct mb_rec *r)
{
	char path[PATH_MAX];
	int err = mb_rloop_attach(r->image, &r->loop);

	if (err)
		return err;
	if (mount(r->loop.path, r->mnt, "ext4", 0, NULL)) {
		err = -errno;
		mb_cli_err(MB_REC, "mounting %s on %s: %s", r->loop.path, r->mnt, strerror(-err));
		return err;
	}
	r->mounted = true;
	snprintf(r->dev, sizeof(r->dev), "loop%d", r->loop.nr);
	/* Reading mb_groups loads every buddy, as in the shared captures. */
	err = mb_rec_save_proc(r, "/proc/fs/ext4", "mb_groups", "mb_groups.start");
	if (!err)
		err = mb_rec_tunables(r);
	snprintf(path, sizeof(path), "/sys/fs/ext4/%s/mb_stats", r->dev);
	if (!err && (err = mb_rfile_printf(path, "1")))
		mb_cli_err(MB_REC, "%s: %s", path, strerror(-err));
	MB_REC_CHECK_SIG();
	return err;
}

static double mb_rec_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The workload: cwd and $MB_RECORD_MNT = the mount point. */
static int mb_rec_workload(struct mb_rec *r)
{
	char marker[PATH_MAX + 16];
	double t0;
	int err;

	err = mb_rtrace_setup(&r->tr, r->loop.rdev, r->o.buffer_kb);
	if (err)
		return err;
	mb_rtrace_marker(&r->tr, marker, sizeof(marker));
	if (setenv("MB_RECORD_MNT", r->mnt, 1) || setenv("MB_RECORD_DEV", r->loop.path, 1) ||
	    setenv("MB_RECORD_MARKER", marker, 1))
		return -errno;
	MB_REC_CHECK_SIG();
	err = mb_rtrace_on(&r->tr, true);
	if (err)
		return err;
	t0 = mb_rec_now();
	r->workload_rc = mb_rec_spawn(r->o.cmd, NULL, r->mnt);
	r->seconds = mb_rec_now() - t0;
	if (r->workload_rc < 0) {
		mb_cli_err(MB_REC, "%s: %s", r->o.cmd[0], strerror(-r->workload_rc));
		return r->workload_rc;
	}
	MB_REC_CHECK_SIG();
	return 0;
}

/* sleep(3) that a signal cuts short. */
static void mb_rec_settle(uint64_t seconds)
{
	struct timespec ts = { .tv_sec = (time_t)seconds };

	while (!mb_rec_sig && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* After the workload: let the last journal commit finish (it returns the
 * last frees), stop tracing, save the trace and the end counters. */
static int mb_rec_stop(struct mb_rec *r)
{
	char path[PATH_MAX + 64], df_out[PATH_MAX + 64];
	char *df[] = { "df", "-k", r->mnt, NULL };
	int err;

	sync();
	mb_rec_settle(r->o.settle);
	sync();
	MB_REC_CHECK_SIG();
	err = mb_rtrace_on(&r->tr, false);
	if (err)
		return err;
	mb_rec_path(r, path, sizeof(path), "trace.txt");
	err = mb_rtrace_save(&r->tr, path, &r->ts);
	if (!err)
		err = mb_rec_save_proc(r, "/proc/fs/ext4", "mb_stats", "mb_stats.end");
	if (!err)
		err = mb_rec_save_proc(r, "/proc/fs/ext4", "mb_groups", "mb_groups.end");
	mb_rec_path(r, df_out, sizeof(df_out), "df");
	if (!err && mb_rec_spawn(df, df_out, NULL) != 0)
		mb_rfile_printf(df_out, "(df failed)\n");
	MB_REC_CHECK_SIG();
	return err;
}

static int mb_rec_umount(struct mb_rec *r)
{
	if (r->mounted) {
		if (umount(r->mnt)) {
			int err = -errno;
			mb_cli_err(MB_REC, "unmounting %s: %s%s", r->mnt, strerror(-err),
				   err == -EBUSY ? " (a process of the workload still uses it?)" : "");
			return err;
		}
		r->mounted = false;
	}
	mb_rloop_detach(&r->loop);
	return 0;
}

/* The unmounted file system: checked, its free extents, its end image. */
static int mb_rec_post(struct mb_rec *r)
{
	char fsck[PATH_MAX + 64], freefrag[PATH_MAX + 64], tout[PATH_MAX + 64];
	char *tune2fs[] = { "tune2fs", "-M", "MNT", r->image, NULL };
	char *e2fsck[] = { "e2fsck", "-fn", r->image, NULL };
	char *e2freefrag[] = { "e2freefrag", r->image, NULL };
	int err;

	/* ext4 stored our temp mount point as the last-mounted path; the shared
	 * captures say MNT there, so two captures differ only in what ran. */
	mb_rec_path(r, tout, sizeof(tout), "tune2fs.out");
	err = mb_rec_tool(r, tune2fs, tout);
	if (err)
		return err;
	mb_rec_out(r, fsck, sizeof(fsck), "fsck.txt");
	r->fsck_rc = mb_rec_spawn(e2fsck, fsck, NULL);
	MB_REC_CHECK_SIG();
	if (r->fsck_rc < 0)
		return r->fsck_rc;
	mb_rec_out(r, freefrag, sizeof(freefrag), "freefrag.txt");
	err = mb_rec_tool(r, e2freefrag, freefrag);
	if (!err)
		err = mb_rfile_replace(fsck, r->image, "IMAGE");
	if (!err)
		err = mb_rfile_replace(freefrag, r->image, "IMAGE");
	if (!err)
		err = mb_rec_e2image(r, "end.e2i.zst");
	if (!err)
		err = mb_rec_zstd(r, "trace.txt", "trace.txt.zst");
	return err;
}

/* Appends a file's text (the mount point shown as MNT) to f. */
static void mb_rec_append(FILE *f, const struct mb_rec *r, const char *name)
{
	char path[PATH_MAX + 64], buf[8192];

	mb_rec_path(r, path, sizeof(path), name);
	if (mb_rfile_replace(path, r->mnt, "MNT") || mb_rfile_read(path, buf, sizeof(buf)))
		return;
	fputs(buf, f);
}

/* e2fsprogs' version line, from `mke2fs -V`. */
static void mb_rec_e2version(const struct mb_rec *r, char *buf, size_t n)
{
	char path[PATH_MAX + 64];
	char *argv[] = { "mke2fs", "-V", NULL };

	buf[0] = '\0';
	mb_rec_path(r, path, sizeof(path), "version");
	if (mb_rec_spawn(argv, path, NULL) == 0 && !mb_rfile_read(path, buf, n))
		buf[strcspn(buf, "\n")] = '\0';
}

static void mb_rec_meta_body(FILE *f, const struct mb_rec *r)
{
	const struct mb_rtrace_stats *ts = &r->ts;
	unsigned ma = major(r->loop.rdev), mi = minor(r->loop.rdev);

	fprintf(f, "event_filter dev == DEV (dev_major/dev_minor for ext4_trim_*); dev %llu\n",
		((unsigned long long)ma << 20) | mi);
	fprintf(f, "unfiltered_skipped %s\n", r->tr.unfiltered[0] ? r->tr.unfiltered : " none");
	fprintf(f, "buffer_size_kb %llu\ntrace_lines %llu\ntrace_bytes %llu\n",
		(unsigned long long)r->o.buffer_kb, (unsigned long long)ts->lines,
		(unsigned long long)ts->bytes);
	fprintf(f, "entries_in_buffer_written %llu/%llu\nlost_markers %llu\n",
		(unsigned long long)ts->in_buffer, (unsigned long long)ts->written,
		(unsigned long long)ts->lost_markers);
	fprintf(f, "ring_overrun_or_dropped %llu\nfsck_rc %d\nseconds %.1f\n",
		(unsigned long long)ts->ring_lost, r->fsck_rc, r->seconds);
	fprintf(f, "--- df at end\n");
	mb_rec_append(f, r, "df");
}

/* The block size, from dumpe2fs.start. */
static unsigned mb_rec_block_size(const struct mb_rec *r)
{
	char path[PATH_MAX + 64], buf[8192];
	const char *p;

	mb_rec_out(r, path, sizeof(path), "dumpe2fs.start");
	if (mb_rfile_read(path, buf, sizeof(buf)) || !(p = strstr(buf, "\nBlock size:")))
		return 0;
	return (unsigned)strtoul(p + 12, NULL, 10);
}

/* meta.txt, written last: its presence says the capture is complete. */
static int mb_rec_meta(struct mb_rec *r)
{
	char path[PATH_MAX + 64], e2[256], name[PATH_MAX];
	struct utsname u;
	FILE *f;

	mb_rec_e2version(r, e2, sizeof(e2));
	uname(&u);
	snprintf(name, sizeof(name), "%s", r->o.outdir);
	while (strlen(name) > 1 && name[strlen(name) - 1] == '/')
		name[strlen(name) - 1] = '\0';
	mb_rec_out(r, path, sizeof(path), "meta.txt");
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "name %s\nkernel %s\ne2fsprogs %s\nimage_size %s\n",
		strrchr(name, '/') ? strrchr(name, '/') + 1 : name, u.release, e2,
		r->o.size_str);
	fprintf(f, "block_size %u\n", mb_rec_block_size(r));
	fprintf(f, "mkfs %s %s\nmount default options (ordered data, delalloc)\n",
		MB_REC_MKFS_BASE, r->o.mkfs_opts ? r->o.mkfs_opts : "");
	fprintf(f, "loop_rotational %d\nworkload", r->loop.rotational);
	for (char **a = r->o.cmd; *a; a++)
		fprintf(f, " %s", *a);
	fprintf(f, "\nworkload_rc %d\nevents %s\n", r->workload_rc, r->tr.events);
	mb_rec_meta_body(f, r);
	return fclose(f) ? -errno : 0;
}

/* Undoes whatever was made, in reverse order; signals no longer cut it short. */
static void mb_rec_cleanup(struct mb_rec *r)
{
	char path[PATH_MAX + 64];
	static const char *const tmpfiles[] = { "image", "image.e2i", "trace.txt", "df", "version",
						"tune2fs.out", "tool.out" };

	mb_rec_signals(SIG_IGN);
	mb_rtrace_close(&r->tr);
	if (r->mounted && umount(r->mnt)) {
		mb_cli_err(MB_REC, "unmounting %s: %s; detaching it lazily", r->mnt, strerror(errno));
		umount2(r->mnt, MNT_DETACH);
	}
	r->mounted = false;
	mb_rloop_detach(&r->loop);
	if (!r->tmp[0])
		return;
	if (r->mnt_made && rmdir(r->mnt))
		mb_cli_err(MB_REC, "%s: %s", r->mnt, strerror(errno));
	for (size_t i = 0; i < sizeof(tmpfiles) / sizeof(tmpfiles[0]); i++) {
		mb_rec_path(r, path, sizeof(path), tmpfiles[i]);
		unlink(path);
	}
	if (rmdir(r->tmp))
		mb_cli_err(MB_REC, "%s: %s", r->tmp, strerror(errno));
}

static int mb_rec_run(struct mb_rec *r)
{
	int err = mb_rec_prepare(r);

	if (!err)
		err = mb_rec_mount(r);
	if (!err)
		err = mb_rec_workload(r);
	if (!err)
		err = mb_rec_stop(r);
	if (!err)
		err = mb_rec_umount(r);
	if (!err)
		err = mb_rec_post(r);
	if (!err)
		err = mb_rec_meta(r);
	return err;
}

/* The summary line; a capture with a failed command, lost events or an
 * unclean file system is kept but fails the command. */
static int mb_rec_report(const struct mb_rec *r)
{
	const struct mb_rtrace_stats *ts = &r->ts;
	uint64_t lost = ts->ring_lost + ts->lost_markers + (ts->written - ts->in_buffer);
	int rc = MB_EXIT_OK;

	printf("recorded %s: %llu trace lines, %u events, %s, command exit %d, %.1f s\n",
	       r->o.outdir, (unsigned long long)ts->lines, r->tr.nevents, r->loop.path,
	       r->workload_rc, r->seconds);
	if (r->workload_rc) {
		mb_cli_err(MB_REC, "%s exited with status %d (capture saved)", r->o.cmd[0],
			   r->workload_rc);
		rc = MB_EXIT_FAIL;
	}
	if (lost) {
		mb_cli_err(MB_REC, "the trace lost %llu events (capture saved; raise --buffer)",
			   (unsigned long long)lost);
		rc = MB_EXIT_FAIL;
	}
	if (r->fsck_rc) {
		mb_cli_err(MB_REC, "e2fsck -fn exit %d on the final file system (see fsck.txt)",
			   r->fsck_rc);
		rc = MB_EXIT_FAIL;
	}
	return rc;
}

static void mb_rec_usage(FILE *f)
{
	fprintf(f,
		"usage: mballoc record [options] -o OUTDIR -- COMMAND [ARG...]\n"
		"Captures a Linux ext4 allocator trace (root): makes an ext4 image, loop-mounts\n"
		"it, traces the ext4 and jbd2 events of its device on a private tracefs instance,\n"
		"runs COMMAND in the mount point ($MB_RECORD_MNT; $MB_RECORD_MARKER is the\n"
		"instance's trace_marker) and saves the files `mballoc replay` reads.\n"
		"  -o, --output DIR     where the capture goes (made; must be empty if it exists)\n"
		"  -m, --mkfs-opts STR  mkfs.ext4 options, e.g. \"-b 1024 -O ^flex_bg\" (split at\n"
		"                       blanks; added to " MB_REC_MKFS_BASE ")\n"
		"  -s, --size SIZE      image size (default 256M; sparse)\n"
		"  --buffer SIZE        trace ring per CPU (default 64M)\n"
		"  --settle SECONDS     wait between the two final syncs for the last journal\n"
		"                       commit (default 6)\n"
		"  --tmpdir DIR         where the image and mount point live (default /dev/shm:\n"
		"                       tmpfs, so the loop device is non-rotational)\n"
		"  --tracefs DIR        the tracefs mount (default /sys/kernel/tracing, or a\n"
		"                       private mount if none)\n"
		"  -h, --help\n");
}

static int mb_rec_size_opt(const char *name, const char *arg, uint64_t *out)
{
	if (mb_parse_size(arg, out) || !*out)
		return mb_cli_usage_err(MB_REC, "invalid value for %s: '%s'", name, arg);
	return 0;
}

static int mb_rec_parse(int argc, char **argv, struct mb_rec_opts *o)
{
	static const struct option lo[] = {
		{ "output", required_argument, 0, 'o' }, { "mkfs-opts", required_argument, 0, 'm' },
		{ "size", required_argument, 0, 's' },   { "buffer", required_argument, 0, 'B' },
		{ "settle", required_argument, 0, 'S' }, { "tmpdir", required_argument, 0, 'T' },
		{ "tracefs", required_argument, 0, 'F' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t buf = 64ULL << 20;
	int c, err = 0;

	*o = (struct mb_rec_opts){ .size_str = "256M", .size = 256ULL << 20,
				   .tmpdir = "/dev/shm", .settle = 6 };
	optind = 1;
	opterr = 0;
	/* '+': options end at the first non-option, COMMAND's own are its. */
	while (!err && (c = getopt_long(argc, argv, "+ho:m:s:", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o->outdir = optarg; break;
		case 'm': o->mkfs_opts = optarg; break;
		case 's':
			o->size_str = optarg;
			err = mb_rec_size_opt("--size", optarg, &o->size);
			break;
		case 'B': err = mb_rec_size_opt("--buffer", optarg, &buf); break;
		case 'S':
			if (!mb_parse_u64(optarg, &o->settle) || o->settle > 3600)
				err = mb_cli_usage_err(MB_REC, "invalid value for --settle: '%s'",
						       optarg);
			break;
		case 'T': o->tmpdir = optarg; break;
		case 'F': o->tracefs = optarg; break;
		case 'h': mb_rec_usage(stdout); exit(MB_EXIT_OK);
		default: return mb_cli_bad_option(MB_REC, argv);
		}
	}
	if (err)
		return err;
	o->buffer_kb = buf >> 10 ? buf >> 10 : 1;
	if (!o->outdir)
		return mb_cli_usage_err(MB_REC, "-o OUTDIR is required");
	if (optind >= argc)
		return mb_cli_usage_err(MB_REC, "COMMAND is required (after --)");
	o->cmd = argv + optind;
	return 0;
}

int mb_cmd_record(int argc, char **argv)
{
	struct mb_rec r = { .loop = { .fd = -1, .nr = -1 } };
	int err = mb_rec_parse(argc, argv, &r.o);

	if (err)
		return err;
	if (geteuid() != 0) {
		mb_cli_err(MB_REC, "must run as root (it mounts a loop device and uses tracefs)");
		return MB_EXIT_FAIL;
	}
	if (mb_rec_outdir(r.o.outdir, &r.outdir_made))
		return MB_EXIT_FAIL;
	mb_rec_sig = 0;
	mb_rec_signals(mb_rec_on_signal);
	err = mb_rec_run(&r);
	mb_rec_cleanup(&r);
	if (mb_rec_sig || err) {
		/* An OUTDIR still empty goes; a partial capture stays for a look. */
		bool kept = !r.outdir_made || rmdir(r.o.outdir) != 0;

		if (mb_rec_sig)
			fprintf(stderr, "mballoc: record: interrupted by signal %d; ",
				(int)mb_rec_sig);
		else
			fprintf(stderr, "mballoc: record: failed; ");
		fprintf(stderr, "cleaned up%s%s%s\n", kept ? ", " : "", kept ? r.o.outdir : "",
			kept ? " holds a partial capture (no meta.txt)" : "");
		return mb_rec_sig ? 128 + mb_rec_sig : MB_EXIT_FAIL;
	}
	return mb_rec_report(&r);
}
