/* SPDX-License-Identifier: MIT */
/*
 * record.h - the system side of `mballoc record` (record_sys.c): a loop
 * device over an image file, a private tracefs instance with the ext4 and
 * jbd2 events of ../shared/traces filtered to one device, and small file
 * helpers.  Every function prints its own error ("mballoc: record: ...")
 * and returns 0 or -errno; every resource has an undo that is safe to call
 * on a half-made or already undone object, so the command can clean up from
 * any step (error or signal).
 *
 * Thread-safety: none needed; the command is single-threaded.
 */
#ifndef MB_RECORD_H
#define MB_RECORD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A loop device attached to an image file (autoclear: the kernel also
 * detaches it when the last user goes, should we be killed). */
struct mb_rloop {
	int fd;             /* open /dev/loopN, -1 when not attached */
	int nr;             /* N */
	char path[32];      /* /dev/loopN */
	dev_t rdev;         /* its device number */
	int rotational;     /* /sys/block/loopN/queue/rotational, -1 unknown */
};

int mb_rloop_attach(const char *image, struct mb_rloop *l);
void mb_rloop_detach(struct mb_rloop *l);

/* A private tracefs instance. */
struct mb_rtrace {
	char root[PATH_MAX];  /* the tracefs mount */
	char inst[PATH_MAX];  /* root/instances/NAME */
	bool mounted;         /* we mounted root (a private mount), unmount it */
	bool made;            /* we made inst, remove it */
	char events[4096];    /* the events enabled, space-separated */
	unsigned nevents;
	char unfiltered[512]; /* enabled events without a device field */
};

/* Counters read after the trace is stopped. */
struct mb_rtrace_stats {
	uint64_t lines, bytes;
	uint64_t in_buffer, written; /* the header's entries-in-buffer/entries-written */
	uint64_t ring_lost;          /* per-CPU overrun + dropped events */
	uint64_t lost_markers;       /* "[LOST N EVENTS]" lines */
};

/*
 * Finds tracefs at root_opt (NULL: /sys/kernel/tracing, then
 * /sys/kernel/debug/tracing; if neither is mounted, mounts tracefs on
 * tmp/tracefs) and makes instances/NAME with tracing off.
 */
int mb_rtrace_open(struct mb_rtrace *t, const char *root_opt, const char *tmp, const char *name);
/* Sizes the per-CPU ring (KiB, drop rather than overwrite when full),
 * filters every event to dev and enables them. */
int mb_rtrace_setup(struct mb_rtrace *t, dev_t dev, uint64_t buffer_kb);
int mb_rtrace_on(struct mb_rtrace *t, bool on);
/* Path of the instance's trace_marker (for the workload). */
void mb_rtrace_marker(const struct mb_rtrace *t, char *buf, size_t n);
/* Copies the instance's trace text to path and counts it. */
int mb_rtrace_save(struct mb_rtrace *t, const char *path, struct mb_rtrace_stats *st);
/* Removes the instance and unmounts tracefs if we mounted it. */
void mb_rtrace_close(struct mb_rtrace *t);

/* Copies the file src to dst (created 0644). */
int mb_rfile_copy(const char *src, const char *dst);
/* Writes a file from a format; -errno. */
int mb_rfile_printf(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replaces every `from` by `to` in a text file (the paths of the run). */
int mb_rfile_replace(const char *path, const char *from, const char *to);
/* Reads a small sysfs/proc file into buf (NUL-terminated, trailing newline
 * kept); -errno. */
int mb_rfile_read(const char *path, char *buf, size_t n);

#endif
