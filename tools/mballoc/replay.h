/* SPDX-License-Identifier: MIT */
/*
 * replay.h - internals of `mballoc replay`: the ext4 image reader
 * (replay_image.c, libext2fs) and the replay engine (replay_run.c), used
 * by the command (cmd_replay.c).
 */
#ifndef MB_REPLAY_H
#define MB_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "mballoc.h"
#include "trace.h"

/* An ext4 image opened for replay (replay_image.c, the library's ext4
 * image store): its volume and the geometry replay reads. */
struct mb_rimage {
	struct mb_geometry geo; /* reserved_per_group 0: metadata is used blocks */
	uint32_t flex_bg;       /* groups per flex group, 1 without flex_bg */
	uint32_t groups;
	struct mb_volume *vol;  /* owned until mb_rimage_volume() takes it */
};

/*
 * Opens IMAGE with mb_volume_open_ext4(): scratch (changes in memory
 * only) for the start image, read-only for the end image.  Returns 0 or
 * its error, with *why in words when it has them (else NULL: strerror).
 */
int mb_rimage_load(const char *path, bool scratch, struct mb_rimage *img, const char **why);
void mb_rimage_free(struct mb_rimage *img);

/* Loads every group of img's volume (as reading mb_groups at mount does in
 * the kernel) and hands the volume to the caller.  Returns 0 or -errno
 * (-EUCLEAN: a group's bitmap is corrupt). */
int mb_rimage_volume(struct mb_rimage *img, struct mb_volume **out);

/* Blocks whose on-disk state differs between vol and the end image's
 * volume; *first = the first of them.  Returns the count or -errno. */
int64_t mb_rimage_compare(struct mb_volume *vol, const struct mb_rimage *end, uint64_t *first);

/*
 * replay_cpu.c: mb_alloc() on a thread pinned to the trace's CPU (so the
 * library picks that CPU's locality group).  *pinned false: it ran on the
 * caller's thread (no such CPU here, or pinning refused).  rc may be NULL
 * (never pin).
 */
struct mb_rcpu;
int mb_rcpu_init(struct mb_rcpu **out);
void mb_rcpu_destroy(struct mb_rcpu *rc);
int mb_rcpu_alloc(struct mb_rcpu *rc, int cpu, struct mb_volume *vol,
		  const struct mb_request *rq, struct mb_extent *ex, bool *pinned);

enum mb_replay_mode { MB_REPLAY_RESYNC, MB_REPLAY_FREE };

#define MB_REPLAY_TEXT 200 /* bytes kept of a kernel line for an example */

/* One kind of divergence, with its first example. */
struct mb_rkind {
	char name[128];
	uint64_t count;
	uint64_t first_req; /* request index of the example */
	char kernel[MB_REPLAY_TEXT]; /* the kernel's ext4_mballoc_alloc / _prealloc line */
	char ours[MB_REPLAY_TEXT];
};

struct mb_replay_result {
	uint64_t requests;      /* ext4_request_blocks paired with their result */
	uint64_t exact, same_group;
	int64_t first_divergence; /* request index, -1 none */
	uint64_t ours_failed;   /* our mb_alloc failed (-ENOSPC ...) */
	uint64_t kernel_failed; /* the kernel's result had len 0 */
	uint64_t unmatched;     /* a request without result, or a result without request */
	uint64_t replaced;      /* resync: ours replaced by the kernel's */
	uint64_t resync_conflicts; /* resync could not mark the kernel's extent */
	uint64_t resync_pa_discards; /* resync had to drop our PAs to mark it */
	uint64_t pa_resyncs;    /* resync: a request's new PA differed, the kernel's imposed */
	uint64_t pa_resync_conflicts; /* ... and the kernel's PA could not be added */
	uint64_t frees, free_blocks, free_errors, commits;
	uint64_t discards, evictions, inode_frees;
	uint64_t cpu_max;       /* highest CPU seen on a request */
	uint64_t cpu_pinned;    /* requests run on their trace CPU */
	uint64_t beyond_isize;  /* data requests ending past the i_size we followed */
	uint64_t closed_for_write; /* data requests on a file not open for write */
	struct mb_rkind *kinds;
	uint32_t nkinds, cap_kinds;
	struct mb_trace_counts trace;
	struct mb_stats stats;  /* ours at the end of the trace (before the final discards) */
};

struct mb_replay_opts {
	enum mb_replay_mode mode;
	uint32_t ex_cap; /* max divergence kinds kept (the rest count as "other") */
	bool no_pin;     /* run every request on the caller's thread */
	bool no_pa_resync; /* resync imposes extents only, not the kernel's PAs */
	bool fast_paths;   /* mb_stats off, so the PA fast paths decide (they run
			      only without it); no path labels; free mode only */
};

/*
 * Replays the trace read from f onto vol (made from the start image), then
 * applies every pending free and discards every PA (as at unmount), so vol
 * can be compared with the end image.  Returns 0, or -ENOMEM/-EIO (the
 * result then covers what was replayed).  Bad lines are counted only.
 */
int mb_replay_run(struct mb_volume *vol, const struct mb_rimage *img, FILE *f,
		  const struct mb_replay_opts *o, struct mb_replay_result *res);
/*
 * replay_stats.c: prints the kernel's mb_stats file at path with our value
 * beside each counter (JSON: the elements of an array).  Returns 0 or
 * -errno (the file cannot be opened).
 */
struct mb_json; /* j: NULL for the table, else the writer with the array open */
int mb_rstats_print(const char *path, const struct mb_stats *st, struct mb_json *j);

/* Frees what a result holds. */
void mb_replay_result_free(struct mb_replay_result *res);

#endif
