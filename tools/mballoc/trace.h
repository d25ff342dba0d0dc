/* SPDX-License-Identifier: MIT */
/*
 * trace.h - reader of ftrace's text output ("trace" file of a tracefs
 * instance) for the ext4 allocator events `mballoc replay` uses.  One
 * line at a time; a line that is not an event, or an event the replay
 * uses whose fields are missing or bad, is counted and skipped, never
 * fatal.  The format is described in ../shared/traces/README.md.
 */
#ifndef MB_TRACE_H
#define MB_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum mb_tev_kind {
	MB_TEV_OTHER,            /* well formed, not used by the replay */
	MB_TEV_REQUEST,          /* ext4_request_blocks */
	MB_TEV_ALLOCATED,        /* ext4_allocate_blocks */
	MB_TEV_MBALLOC,          /* ext4_mballoc_alloc: the kernel's search */
	MB_TEV_PREALLOC,         /* ext4_mballoc_prealloc: served from a PA */
	MB_TEV_NEW_INODE_PA,     /* ext4_mb_new_inode_pa */
	MB_TEV_NEW_GROUP_PA,     /* ext4_mb_new_group_pa */
	MB_TEV_DISCARD_PA,       /* ext4_discard_preallocations */
	MB_TEV_RELEASE_INODE_PA, /* ext4_mb_release_inode_pa */
	MB_TEV_RELEASE_GROUP_PA, /* ext4_mb_release_group_pa */
	MB_TEV_MB_FREE,          /* ext4_mballoc_free: one group extent */
	MB_TEV_COMMIT_FLUSHING,  /* jbd2_commit_flushing */
	MB_TEV_END_COMMIT,       /* jbd2_end_commit */
	MB_TEV_WRITE_END,        /* ext4_da_write_end, ext4_write_end */
	MB_TEV_FALLOC_ENTER,     /* ext4_fallocate_enter, ext4_zero_range */
	MB_TEV_FALLOC_EXIT,      /* ext4_fallocate_exit */
	MB_TEV_COLLAPSE,         /* ext4_collapse_range: i_size shrinks by len */
	MB_TEV_INSERT,           /* ext4_insert_range: i_size grows by len */
	MB_TEV_TRUNCATE,         /* ext4_begin_ordered_truncate */
	MB_TEV_NEW_INODE,        /* ext4_allocate_inode */
	MB_TEV_FREE_INODE,       /* ext4_free_inode */
	MB_TEV_EVICT,            /* ext4_evict_inode */
	MB_TEV_NKINDS
};

/* ext4's EXT4_MB_* request flag bits, as the trace prints their names. */
#define MB_EXT4_HINT_MERGE 0x0001
#define MB_EXT4_HINT_FIRST 0x0008
#define MB_EXT4_HINT_DATA 0x0020
#define MB_EXT4_HINT_NOPREALLOC 0x0040
#define MB_EXT4_HINT_GRP_ALLOC 0x0080
#define MB_EXT4_HINT_GOAL_ONLY 0x0100
#define MB_EXT4_HINT_TRY_GOAL 0x0200
#define MB_EXT4_DELALLOC_RESV 0x0400
#define MB_EXT4_STREAM_ALLOC 0x0800
#define MB_EXT4_USE_ROOT_BLKS 0x1000
#define MB_EXT4_USE_RESV 0x2000
#define MB_EXT4_STRICT_CHECK 0x4000

/* A group-relative extent as ext4 prints it: "group/start/len[@logical]". */
struct mb_tev_gex {
	uint64_t group;
	int64_t start; /* -1 possible in a normalized goal */
	uint64_t len;
	uint64_t logical;
};

/* One event.  Only the fields of its kind are set. */
struct mb_tev {
	enum mb_tev_kind kind;
	uint32_t pid;
	int cpu;
	char event[48]; /* the event's name */
	uint64_t ino;
	/* REQUEST, ALLOCATED */
	uint32_t flags; /* ext4 bits (MB_EXT4_*) */
	bool unknown_flag; /* a flag name this parser does not know */
	uint64_t len, lblk, goal, lleft, pleft, lright, pright;
	uint64_t block; /* ALLOCATED: first block; RELEASE_*_PA: block */
	/* MBALLOC, PREALLOC: orig, goal, result; criterion name; NEW_*_PA: pstart/len/lstart
	   in block/len/lblk; MB_FREE: extent in res */
	struct mb_tev_gex orig, gl, res;
	char cr[24];
	uint32_t mflags; /* MBALLOC: the allocator's own flags after its decisions */
	uint64_t grps, blks; /* MBALLOC: groups and extents examined */
	/* WRITE_END: pos + copied in a; FALLOC_ENTER: offset + len in a, keep_size;
	   TRUNCATE: new_size in a; COLLAPSE/INSERT: len in a; commits: tid in a */
	uint64_t a;
	bool keep_size;
	int ret; /* FALLOC_EXIT */
};

struct mb_trace_counts {
	uint64_t lines;      /* lines read */
	uint64_t comments;   /* '#' header lines and blank lines */
	uint64_t events;     /* lines that parsed as events */
	uint64_t malformed;  /* not an event line, or a used event with bad fields */
	uint64_t too_long;   /* lines over the reader's limit (also malformed) */
	uint64_t ignored;    /* well-formed events the replay does not use */
	uint64_t unknown_flags; /* requests/results naming a flag we do not know */
	uint64_t kind[MB_TEV_NKINDS];
	uint64_t first_malformed; /* line number, 0 = none */
	char first_malformed_text[128];
};

struct mb_trace_reader {
	FILE *f;
	char line[4096];
	struct mb_trace_counts n;
};

/* Parses one line (no trailing newline needed).  Returns 1 for a comment or
 * blank line, 0 for an event (kind may be MB_TEV_OTHER), -EINVAL for a line
 * that is not an event, -EBADMSG for a used event with bad fields. */
int mb_trace_parse_line(const char *line, struct mb_tev *ev);

/* Next event of the reader (counts everything it skips).  Returns 1 with
 * *ev set, 0 at end of file, -errno on a read error. */
int mb_trace_next(struct mb_trace_reader *r, struct mb_tev *ev);

/* ext4's name of a kind's event (the first, when several share a kind). */
const char *mb_tev_kind_name(enum mb_tev_kind k);

#endif
