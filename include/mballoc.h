/* SPDX-License-Identifier: MIT */
/*
 * mballoc.h - the ext4 multi-block allocator as a userspace library.
 *
 * A volume is a run of blocks cut into block groups.  Each group keeps a
 * block bitmap and a buddy bitmap; mb_alloc() finds space with ext4's
 * criteria passes, serves files from per-file ("inode") and per-CPU
 * ("locality group") preallocations, and never answers -ENOSPC while the
 * space asked for exists -- at any number of threads.  That last promise is
 * the point of the project: it implements the 2020 ext4 series that fixed
 * spurious ENOSPC on nearly full volumes (a per-CPU discard_pa_seq counter,
 * leftovers placed on the PA list under the group lock, strict re-checks on
 * retry).
 *
 * Units: every block number and length is in blocks of the volume's block
 * size.  Logical block numbers are positions inside a file.  Every function
 * returns 0 (or a count >= 0) on success and a negative errno on failure.
 *
 * Caveats
 * -------
 * Threads: every call is thread-safe unless its comment says otherwise.
 *   Calls on one struct mb_file are serialized internally (ext4's
 *   i_data_sem); calls on different files run in parallel.  The allocation
 *   fast path takes no volume-wide lock.
 * Destruction: mb_volume_destroy() and mb_file_close() must not race with
 *   other calls on the same object; the caller owns their lifetime.
 * fork(): a child must not use a volume opened by its parent.
 * Counters: mb_free_blocks() and the statistics are exact when no call is
 *   in flight and a close approximation otherwise (per-CPU sums).
 * Crash guarantee: in-memory volumes have none.  Persistent volumes (see
 *   mb_volume_open) come back after a crash exactly as of their last durable
 *   mb_commit() (one exception, a commit larger than the journal: see the
 *   Persistence section).
 *
 * Growing structs (ABI)
 * ---------------------
 * Every public struct ends in a `spare` array, so later versions add
 * fields there without changing its size or any field's offset:
 *   - structs the caller fills (mb_geometry, mb_request, mb_constraint,
 *     mb_open_opts, mb_store_callbacks):
 *     spare must be zero, or the call fails with -EINVAL.  Initialise
 *     them with `= { .field = ... }` or memset: a zero-initialised new
 *     field will always mean what the library did before it existed.
 *   - structs the library fills (mb_statfs, mb_stats, mb_group_stat,
 *     mb_volume_info, mb_group_bitmap): the library writes the whole
 *     struct, spare as zero.
 * mb_extent is a plain value (arrays of it are common) and does not grow.
 * One break so far: 0.3.0 (soname libmballoc.so.2) cut mb_request's spare
 * from 3 words to 1, 96 bytes to 80.  A caller zeroes the request on every
 * call, and at 96 bytes g++ -O3 zeroes `mb_request r{}` with `rep stosq`
 * (20-30 cycles, a quarter of a cheap call); at 80 it is 5 vector stores.
 * No field moved; code built against 0.2 must be rebuilt.
 */
#ifndef MBALLOC_H
#define MBALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MB_API __attribute__((visibility("default")))
#else
#define MB_API
#endif

#define MB_VERSION_MAJOR 0
#define MB_VERSION_MINOR 2
#define MB_VERSION_PATCH 0
#define MB_VERSION_STRING "0.3.0"

/** Returns the library's version string, e.g. "0.3.0". */
MB_API const char *mb_version(void);

/* ------------------------------------------------------------------------ */
/* Volume                                                                    */
/* ------------------------------------------------------------------------ */

struct mb_volume;
struct mb_file;

/*
 * Geometry of a volume.  Group g covers blocks
 * [first_data_block + g * blocks_per_group, ... + blocks_per_group), the
 * last group may be shorter.  The first reserved_per_group blocks of every
 * group hold its metadata and are never handed out.
 */
struct mb_geometry {
	uint32_t block_size;         /* bytes; power of two, 1024..65536 */
	uint32_t blocks_per_group;   /* 0 = 8 * block_size (one bitmap block); else a
					multiple of 8, 16..8 * block_size */
	uint64_t blocks_count;       /* total blocks, first_data_block included */
	uint32_t first_data_block;   /* blocks before group 0 (ext4: 1 at 1 KiB) */
	uint32_t reserved_per_group; /* metadata blocks at each group's start */
	uint32_t flex_bg;            /* groups per flex group (ext4's flex_bg size):
					0 or 1 = no flex_bg, else a power of two
					up to 2^31; ext4 keeps data out of a flex
					group's first group at CR_POWER2_ALIGNED */
	uint32_t spare[9];            /* must be zero (see Growing structs) */
};

/*
 * Creates an in-memory volume with every block free but the reserved ones.
 * Group bitmaps are built lazily, so even a huge volume is created in
 * O(groups) time and small memory.
 * Errors: -EINVAL bad geometry (block size not a power of two in 1..64 KiB,
 *         blocks_per_group not a multiple of 8 in 16..8 * block_size,
 *         blocks_count <= first_data_block, reserved_per_group >=
 *         blocks_per_group, more than 2^31 groups, flex_bg not 0 or a
 *         power of two), -ENOMEM.
 * Thread-safety: any.
 */
MB_API int mb_volume_create(const struct mb_geometry *geo, struct mb_volume **out);

/*
 * Frees the volume and everything in it (open files included).
 * Thread-safety: no other call may be in flight on this volume.
 */
MB_API void mb_volume_destroy(struct mb_volume *vol);

/* Fills *geo with the volume's geometry (blocks_per_group resolved). */
MB_API void mb_volume_geometry(const struct mb_volume *vol, struct mb_geometry *geo);

/* Number of block groups. */
MB_API uint32_t mb_groups_count(const struct mb_volume *vol);

/*
 * Free blocks in on-disk terms: preallocated but unused blocks count as
 * free (as in ext4's s_freeclusters_counter).  Exact when quiescent.
 */
MB_API uint64_t mb_free_blocks(const struct mb_volume *vol);

/* ------------------------------------------------------------------------ */
/* Allocation and free                                                       */
/* ------------------------------------------------------------------------ */

/* Request hints, with ext4's names and values. */
#define MB_HINT_MERGE 0x0001     /* a shorter extent at the goal is fine */
#define MB_HINT_FIRST 0x0008     /* take the first extent found */
#define MB_HINT_DATA 0x0020      /* file data (implied when a file is given) */
#define MB_HINT_NOPREALLOC 0x0040 /* no normalization, no preallocation */
#define MB_HINT_GOAL_ONLY 0x0100 /* allocate at the goal or fail (-ENOSPC) */
#define MB_HINT_TRY_GOAL 0x0200  /* try the exact goal block first */
/* place blocks the caller reserved with mb_reserve() (see Reservations) */
#define MB_HINT_DELALLOC_RESERVED 0x0400
/* may use the root blocks (r_blocks_count), not reserved_clusters */
#define MB_HINT_USE_ROOT_BLOCKS 0x1000
/* may use the root blocks and the system reserve (reserved_clusters) */
#define MB_HINT_USE_RESERVED 0x2000
/* Request flags beyond ext4's hints: a neighbour is given (see mb_request). */
#define MB_REQ_PLEFT 0x01000000
#define MB_REQ_PRIGHT 0x02000000
/* Request flag beyond ext4's hints: req->cpu names the request's CPU. */
#define MB_REQ_CPU 0x04000000
#define MB_HINT_PUBLIC_MASK 0x07003769

/* mb_request.cpu: the CPU the call runs on (what 0 means without MB_REQ_CPU). */
#define MB_CPU_CURRENT UINT32_MAX

/* "No goal": the search starts at the file's home group (or group 0). */
#define MB_GOAL_NONE UINT64_MAX

/*
 * Logical blocks a request may name: [logical, logical + len) must end at or
 * below this (2^40 blocks; ext4 stops at 2^32).  The headroom keeps every
 * window computation far from wrapping (a byte size is blocks << 16 at most).
 */
#define MB_LOGICAL_LIMIT (1ULL << 40)

/*
 * One allocation request (ext4's struct ext4_allocation_request).  Every
 * field has a valid range; mb_alloc() answers -EINVAL, changing nothing,
 * when one is outside it:
 *   file     NULL or a file opened on this volume.
 *   logical  logical + len <= MB_LOGICAL_LIMIT, with or without a file.
 *   goal     MB_GOAL_NONE or a block in [first_data_block, blocks_count)
 *            (a reserved block is allowed: the search starts there).
 *   len      >= 1; more than a group is cut to one group.
 *   flags    only bits of MB_HINT_PUBLIC_MASK; every combination is valid.
 *   lleft/pleft, lright/pright: the nearest mapped neighbours of the
 *            request in the file (logical and physical block), as ext4's
 *            extent tree gives them.  They let normalization stop at what
 *            is already mapped and continue a neighbour physically.
 *            A left neighbour is present when flags has MB_REQ_PLEFT or
 *            pleft is not 0 (so pleft 0 without the flag means "none",
 *            as before the flag existed; a neighbour at block 0, on a
 *            volume whose first_data_block is 0, needs the flag); the same
 *            for the right one with MB_REQ_PRIGHT.  Absent, lleft/pleft
 *            (lright/pright) are ignored.  Present, pleft (pright) must be
 *            a block in [first_data_block, blocks_count), with lleft <
 *            logical (lright >= logical + len).  They are hints beyond
 *            that: the library does not check that those blocks are
 *            allocated.
 *   cpu      the CPU whose locality group serves the request's small-file
 *            blocks (ext4 takes the CPU the request runs on, rule 7 of
 *            docs/FIDELITY.md), so a caller that queues requests to
 *            workers, or replays them, can say where each came from.
 *            Read only with MB_REQ_CPU; then any number names a CPU (CPUs
 *            fold onto the volume's per-CPU slots, a power of two >= the
 *            CPUs configured, by their low bits, as the current CPU does)
 *            and MB_CPU_CURRENT (-1) means the CPU the call runs on.
 *            Without MB_REQ_CPU it must be 0 or MB_CPU_CURRENT, and the
 *            call runs on its own CPU's group, as before the field existed.
 *            Per-CPU counters always use the CPU the call runs on.
 *   spare0, spare must be zero.
 */
struct mb_request {
	struct mb_file *file; /* owner; NULL = no preallocation (metadata) */
	uint64_t logical;     /* logical block in the file */
	uint64_t goal;        /* physical goal block, or MB_GOAL_NONE */
	uint32_t len;         /* blocks wanted, >= 1 */
	uint32_t flags;       /* MB_HINT_* */
	uint64_t lleft, pleft;
	uint64_t lright, pright;
	uint32_t cpu;         /* with MB_REQ_CPU: the CPU the request runs on */
	uint32_t spare0;      /* must be zero (see Growing structs) */
	uint64_t spare[1];    /* must be zero; 80 bytes in all: keep it so */
};

/* An allocated extent. */
struct mb_extent {
	uint64_t start;   /* first physical block */
	uint64_t logical; /* logical block of `start` (the request's logical) */
	uint32_t len;     /* 1 .. request len */
};

/*
 * Allocates up to req->len contiguous blocks.  The result may be shorter
 * than asked (never empty); a request larger than a group is cut to one.
 * Errors: -EINVAL a field outside its range (see struct mb_request: len 0,
 *         a logical range past MB_LOGICAL_LIMIT, goal or a neighbour outside
 *         the volume, inconsistent neighbours, unknown flags, a file of
 *         another volume); -ENOSPC no free block exists for it (with
 *         MB_HINT_GOAL_ONLY: none at the goal); -EROFS the volume was opened
 *         read-only; -EIO no space found, and a group's bitmap could not be
 *         read (it is read again next time); -ENOMEM.
 * Space: without MB_HINT_DELALLOC_RESERVED a request first claims its
 *         length from the free blocks nobody reserved, less the system
 *         reserve (see Reservations; USE_ROOT_BLOCKS / USE_RESERVED lower
 *         that floor), halving it until it fits, as ext4_mb_new_blocks; it
 *         fails with -ENOSPC when not one block is there for it.  With
 *         MB_HINT_DELALLOC_RESERVED it claims nothing and places blocks
 *         the caller holds from mb_reserve(); the reservation falls by the
 *         extent's length.  Such a request never fails with -ENOSPC while
 *         the caller holds a reservation (it discards preallocations,
 *         forces commits of pending frees and waits for trims, past
 *         mb_max_retries), except with MB_HINT_GOAL_ONLY or the legacy
 *         mb_enospc_policy.  The library does not check that the caller
 *         holds len blocks reserved: placing more than it reserved breaks
 *         other callers' reservations.
 * Thread-safety: any.
 */
MB_API int mb_alloc(struct mb_volume *vol, const struct mb_request *req, struct mb_extent *out);

/*
 * Frees [start, start + len), which may span groups.  All-or-nothing: if any
 * block of the range is out of the volume, reserved or already free, nothing
 * changes.  On a persistent volume the blocks become reusable once the
 * commit recording the free is durable.
 * Errors: -EINVAL zero length, out of range, or metadata blocks;
 *         -EEXIST a block in the range is already free (double free);
 *         -EROFS the volume was opened read-only; -EUCLEAN a group involved
 *         is corrupt; -EIO its bitmap cannot be read; -ENOMEM (building a
 *         group's bitmaps on first use).
 * Thread-safety: any.
 */
MB_API int mb_free(struct mb_volume *vol, uint64_t start, uint64_t len);

/*
 * Marks [start, start + len) used on disk without a search, as if it had
 * been allocated outside the allocator: to seed a volume from another
 * file system's block bitmap, or to impose another allocator's decision
 * (`mballoc replay --mode resync`).  The range may span groups.
 * All-or-nothing: if any block of it is out of the volume, reserved,
 * already used, preallocated or awaiting the commit of its free, nothing
 * changes.  Undo with mb_free().
 * Errors: -EINVAL zero length, out of range, or metadata blocks;
 *         -EEXIST a block in the range is not free in buddy terms;
 *         -EUCLEAN a group involved is corrupt; -EIO its bitmap cannot be
 *         read; -EROFS read-only volume; -ENOMEM.
 * Thread-safety: any; all-or-nothing unless another call takes part of
 * the range at the same moment (then -EEXIST and a prefix may stay used).
 */
MB_API int mb_mark_used(struct mb_volume *vol, uint64_t start, uint64_t len);

/*
 * Sets the stream goal that files numbered `ino` start their stream
 * allocations from (ext4's s_mb_last_groups slot ino hashes to) to
 * `group`, e.g. to impose another allocator's decision beside
 * mb_mark_used() (`mballoc replay --mode resync`).  Otherwise the
 * allocator keeps it itself: the group where the last stream allocation
 * hashed to that slot ended.
 * Errors: -EINVAL group past the last one.
 * Thread-safety: any (a hint: a concurrent stream allocation may replace
 * it at once).
 */
MB_API int mb_stream_goal_set(struct mb_volume *vol, uint64_t ino, uint32_t group);

/*
 * Makes [pstart, pstart + len) a preallocation another allocator decided,
 * beside mb_mark_used() (`mballoc replay --mode resync` imposes the
 * kernel's, from ext4_mb_new_inode_pa / ext4_mb_new_group_pa, so later
 * requests are served from the kernel's PAs).  The range lies in one group.
 * Its blocks allocated on disk (the share of the request that made the PA,
 * marked with mb_mark_used() first) count as used from it; every other
 * block must be free and becomes preallocated: only the PA's owner takes
 * it, mb_file_discard() / mb_discard_all() give it back.
 *   file non-NULL: an inode PA of file for logical [lstart, lstart + len)
 *     (logical l is served from pstart + l - lstart); cpu is ignored.
 *   file NULL: a locality-group PA of CPU cpu's group (cpu as in struct
 *     mb_request with MB_REQ_CPU; MB_CPU_CURRENT: the caller's); its
 *     allocated blocks must be a prefix (a group PA is used from its
 *     front); lstart is ignored.
 * Errors: -EINVAL len 0 or over a group, a range outside the data blocks
 *         or across groups, a logical range past MB_LOGICAL_LIMIT, a file
 *         of another volume, a group PA whose allocated blocks are not a
 *         prefix, no free block in the range; -EEXIST a free block of it
 *         is preallocated or a pending free already, or the inode PA
 *         overlaps one of the file's PAs; -EROFS; -EUCLEAN, -EIO, -ENOMEM
 *         (the group's bitmaps).  Nothing changes on error.
 * Thread-safety: any.
 */
MB_API int mb_prealloc_add(struct mb_volume *vol, struct mb_file *file, uint32_t cpu,
			   uint64_t pstart, uint64_t lstart, uint32_t len);

/*
 * Discards the preallocation holding unused block `block`: file's inode PA
 * whose blocks [pstart, pstart + len) hold it, or with file NULL the
 * locality-group PA (of any CPU) whose unused blocks do.  Its unused blocks
 * become free.  Returns the blocks freed (0: no such PA).
 * Errors: -EINVAL a file of another volume.  Thread-safety: any.
 */
MB_API int64_t mb_prealloc_discard_at(struct mb_volume *vol, struct mb_file *file,
				      uint64_t block);

/*
 * Counts the allocated blocks of [start, start + len) in on-disk terms
 * (preallocated but unused blocks and frees awaiting their commit count as
 * free).  Lets a caller check that what it believes it owns is allocated,
 * e.g. after a crash.
 * Metadata (reserved) blocks count as allocated.
 * Errors: -EINVAL zero length or out of range; -EUCLEAN a group involved is
 *         corrupt; -EIO its bitmap cannot be read; -ENOMEM.
 * Thread-safety: any; exact only for ranges no other call is changing.
 */
MB_API int64_t mb_allocated_blocks(struct mb_volume *vol, uint64_t start, uint64_t len);

/*
 * FITRIM: calls discard(start, len, arg) for every free run of at least
 * minlen blocks (0 = 1) inside [start, start + len), e.g. to TRIM or unmap
 * it on the device.  Runs are offered in block order and cut at group
 * boundaries and at the range's edges.
 *
 * The range is clipped to the data blocks, [first_data_block,
 * blocks_count): blocks below first_data_block or past the end are simply
 * not there, and an end past 2^64 counts as the end of the volume (so
 * len = UINT64_MAX means "to the end").  Nothing outside the range given
 * is ever offered.
 *
 * discard's return decides: 0 the run was trimmed (it is counted); < 0 an
 * error: the walk stops and mb_trim returns it; > 0 stop (e.g. a time
 * budget ran out): the walk stops, this run is not counted, and mb_trim
 * returns the blocks trimmed by the calls before it.  Either way the run
 * is allocatable again once discard returns.
 *
 * While discard runs, its run is held away from allocators: an allocation
 * that needs it sleeps until discard returns, however long that takes,
 * rather than report ENOSPC or spin.
 *
 * Returns the blocks trimmed (>= 0; 0 when the range holds no data block
 * or no long enough run).
 * Errors: -EINVAL no callback, zero length, start >= blocks_count, or
 *         minlen > blocks_per_group (no run can be that long);
 *         -EUCLEAN a group is corrupt; -EIO a bitmap cannot be read;
 *         -ENOMEM; or discard's negative return.  On an error, runs trimmed
 *         before it stay trimmed.
 * Thread-safety: any.  discard runs with no lock held and may take its
 * time, but must not allocate from this volume (mb_alloc, which may sleep
 * until this very discard returns) nor wait for a thread that does.
 */
MB_API int64_t mb_trim(struct mb_volume *vol, uint64_t start, uint64_t len, uint32_t minlen,
		       int (*discard)(uint64_t start, uint64_t len, void *arg), void *arg);

/* ------------------------------------------------------------------------ */
/* Reservations (ext4's delayed allocation)                                  */
/* ------------------------------------------------------------------------ */

/*
 * A reservation claims free blocks without placing them, as ext4 does when
 * it accepts a buffered write (s_dirtyclusters_counter); writeback places
 * them later with mb_alloc(MB_HINT_DELALLOC_RESERVED).  Reservations live in
 * memory only: a volume opens with none.  Units: blocks.
 *
 * Reservable now = free - reserved - floor, where free is mb_free_blocks()
 * (preallocated, pending and trimmed blocks count: they are reclaimable),
 * reserved is every reservation not yet placed or given back plus what
 * plain allocations in flight claimed, and floor is the system reserve:
 * tunables reserved_clusters (ext4's s_resv_clusters; ext4 defaults to 2%
 * of the volume, at most 4096 blocks, a library volume to 0 so that plain
 * mb_alloc may take every free block) + r_blocks_count (root blocks;
 * default 0).
 * MB_HINT_USE_ROOT_BLOCKS drops r_blocks_count from the floor,
 * MB_HINT_USE_RESERVED drops both (ext4's semantics).
 *
 * Exactness: a reservation fails only if the blocks are not there at the
 * moment it decides: far from empty it takes from a per-CPU share (no lock),
 * near empty it decides under a lock on the exact total.  Blocks that a
 * concurrent plain mb_alloc() claimed but may not use are waited for (the
 * caller sleeps until that allocation settles), so neither mb_reserve()
 * nor a plain mb_alloc() fails because of them.  A free or an
 * unreserve that runs concurrently with a failing mb_reserve() may be
 * counted after it; one that returned before mb_reserve() started is always
 * counted.  mb_free_blocks() and mb_mark_used() blocks are not reservable
 * once used; mb_mark_used() and a group found corrupt may take blocks away
 * from outstanding reservations (they are forced, not claimed).
 */

/* struct mb_statfs: what mb_statfs() reports, in blocks. */
struct mb_statfs {
	uint64_t total;         /* blocks_count */
	uint64_t free;          /* mb_free_blocks() */
	uint64_t reserved;      /* outstanding mb_reserve() blocks */
	uint64_t resv_clusters; /* the reserved_clusters tunable */
	uint64_t r_blocks;      /* the r_blocks_count tunable */
	uint64_t avail;         /* what mb_reserve(vol, n, 0) could get now (f_bavail) */
	uint64_t spare[8];      /* zero (see Growing structs) */
};

/*
 * Claims n blocks of free space without placing them.
 * flags: 0, MB_HINT_USE_ROOT_BLOCKS or MB_HINT_USE_RESERVED.
 * Errors: -EINVAL vol NULL, n 0 or more than blocks_count, unknown flags;
 *         -EROFS the volume was opened read-only; -ENOSPC fewer than n
 *         reservable blocks.  Nothing changes on error.
 * Thread-safety: any.  No lock while far from empty (per-CPU shares);
 *         near empty, a volume-wide leaf lock that decides exactly.
 */
MB_API int mb_reserve(struct mb_volume *vol, uint64_t n, uint32_t flags);

/*
 * Gives back n blocks of reservations (written data that was truncated
 * before writeback, say).
 * Errors: -EINVAL vol NULL, n 0, or n more than the outstanding
 *         reservations (then nothing changes; the check is exact when no
 *         reserve / unreserve / delalloc allocation runs concurrently).
 * Thread-safety: any; lock-free.
 */
MB_API int mb_unreserve(struct mb_volume *vol, uint64_t n);

/*
 * Fills *st.  st->avail is exact when no call is in flight and never more
 * than a reservation could get at the moment it was taken otherwise.
 * Errors: -EINVAL vol or st NULL.
 * Thread-safety: any; takes the reservation lock briefly.
 */
MB_API int mb_statfs(struct mb_volume *vol, struct mb_statfs *st);

/* ------------------------------------------------------------------------ */
/* Constraints and multi-extent allocation                                   */
/* ------------------------------------------------------------------------ */

/*
 * What an extent must look like (XFS's minlen and alignment, Ceph's
 * alloc_unit and max_alloc_size).  Units: blocks.  A zero field is "no
 * constraint", and a NULL or all-zero constraint is no constraint at all:
 * mb_alloc_constrained() then is mb_alloc(), decision for decision.
 *   min_len  0 or 1..blocks_per_group, a multiple of align: the extent is
 *            at least this long (0: align, or 1 without one).
 *   align    0 or a power of two 1..blocks_per_group: the extent's start
 *            (its volume block number) and its length are multiples of it.
 *   max_len  0 (no limit but a group) or a multiple of align >= min_len:
 *            no extent is longer.
 *   flags    0 (reserved).
 *
 * A constrained request is placed straight from the buddy: it neither
 * uses nor creates preallocations (a preallocation's blocks would ignore
 * the constraint), so its file only names the home group, and
 * MB_HINT_NOPREALLOC, MB_HINT_MERGE and MB_HINT_FIRST change nothing.
 *
 * ENOSPC is exact: -ENOSPC means that, at one moment during the call, no
 * free run satisfied the constraint anywhere on the volume, even though
 * shorter or unaligned pieces may be free.  Before it answers so, the call
 * reclaims what ENOSPC rounds of mb_alloc() reclaim: it discards every
 * preallocation, forces the commit of pending frees and sleeps until trims
 * in flight return their runs.  Reservations come first, as in mb_alloc():
 * a request without MB_HINT_DELALLOC_RESERVED claims its blocks from the
 * reservable space (halving, but never below the minimum), and fails with
 * -ENOSPC when not even min_len blocks are reservable.  The "never ENOSPC
 * while reserved" promise of MB_HINT_DELALLOC_RESERVED cannot hold for a
 * constraint (reserved blocks may all be unaligned crumbs): such a request
 * fails with -ENOSPC like any other, its reservation untouched.
 */
struct mb_constraint {
	uint32_t min_len;
	uint32_t align;
	uint32_t max_len;
	uint32_t flags;
	uint32_t spare[4]; /* must be zero (see Growing structs) */
};

/*
 * Allocates one extent that satisfies c: its length is the longest the
 * volume has now, up to req->len (cut to a group, to max_len and down to a
 * multiple of align), and at least min_len (-EINVAL if that cut leaves less).  The search starts at the goal
 * (the exact goal first with MB_HINT_TRY_GOAL; only there with
 * MB_HINT_GOAL_ONLY) or, without one, at the file's home group, and does
 * not visit groups that cannot hold min_len blocks (the optimized-scan
 * sets), so its cost does not grow with the size of the volume.
 * Errors: those of mb_alloc() (the request's fields have the same ranges);
 *         -EINVAL also for a bad constraint (align not a power of two or
 *         above blocks_per_group, min_len above blocks_per_group, min_len
 *         or max_len not a multiple of align, max_len < min_len, flags not
 *         0), req->len shorter than the minimum, or MB_HINT_GOAL_ONLY with a
 *         goal that is not aligned; -ENOSPC no free run satisfies c (see
 *         above), or fewer than min_len blocks are reservable.  Nothing
 *         changes on error.
 * Thread-safety: any.
 */
MB_API int mb_alloc_constrained(struct mb_volume *vol, const struct mb_request *req,
				const struct mb_constraint *c, struct mb_extent *out);

/*
 * The longest extent that satisfies c which an allocation could take now
 * (c NULL: any free extent): returns its length in blocks (at most max_len,
 * a group) and, if start is not NULL, its first block; 0 when there is
 * none.  Counts free blocks in buddy terms: blocks held by preallocations,
 * awaiting a commit or under a trim are not counted (an allocation would
 * reclaim them first), nor are reservations (they say nothing about
 * placement).
 * Errors: -EINVAL vol NULL or a bad constraint (as mb_alloc_constrained);
 *         -EIO a bitmap could not be read; -ENOMEM.
 * Thread-safety: any; exact when no call is in flight, otherwise a run that
 *         was free at some moment of the call.
 */
MB_API int64_t mb_largest_extent(struct mb_volume *vol, const struct mb_constraint *c,
				 uint64_t *start);

#define MB_VEC_ALL 0x1 /* all-or-nothing: len blocks, or nothing stays allocated */

/*
 * Gathers up to req->len blocks (not cut to a group) in at most n extents
 * that each satisfy c (NULL: none), written to out[0..): contiguous first --
 * every extent is the longest the volume has, each next one starts at the
 * end of the last when it can -- so a volume with a long enough run
 * answers with one extent.  Every extent satisfies c, except that the last
 * may be shorter than min_len when it completes req->len.  Extents are
 * placed as constrained requests are (no preallocation), also with c NULL.
 * out[i].logical continues the file: req->logical plus the lengths before
 * it.  Returns the number of extents (1..n).
 *
 * Without MB_VEC_ALL the result may be short (fewer blocks than asked); it
 * fails with -ENOSPC only when not one extent satisfies c.  With
 * MB_VEC_ALL it is exactly req->len blocks, or -ENOSPC and nothing stays
 * allocated; -ENOSPC only when the free space that satisfies c, taken in at
 * most n extents, is smaller than req->len at one moment during the call
 * (after the reclaiming described above).  With MB_HINT_DELALLOC_RESERVED
 * the blocks placed come out of the caller's reservation, as in mb_alloc;
 * otherwise the call first claims req->len blocks (with MB_VEC_ALL all of
 * them, or -ENOSPC; without, halving down to the minimum).
 * Errors: -EINVAL vol, req or out NULL, n 0, vflags unknown, a bad request
 *         (as mb_alloc: len 0, logical + len past MB_LOGICAL_LIMIT, ...) or
 *         constraint (as mb_alloc_constrained), req->len not a multiple of
 *         align or below min_len, MB_HINT_GOAL_ONLY (a vector has no single
 *         place); -ENOSPC as above; -EROFS read-only volume;
 *         -EIO, -ENOMEM as mb_alloc.  On any error nothing stays allocated.
 * Thread-safety: any.
 */
MB_API int mb_alloc_vec(struct mb_volume *vol, const struct mb_request *req,
			const struct mb_constraint *c, uint32_t vflags, struct mb_extent *out,
			uint32_t n);

/* ------------------------------------------------------------------------ */
/* Files and preallocation                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Opens a file: the owner of inode preallocations.  `ino` is any number
 * naming the file (it chooses the home group and stream goal, as ext4's
 * inode number does).
 * Errors: -ENOMEM.  Thread-safety: any.
 */
MB_API int mb_file_open(struct mb_volume *vol, uint64_t ino, struct mb_file **out);

/*
 * Sets the file's size in blocks (ext4's i_size); normalization predicts
 * growth from it (a size past MB_LOGICAL_LIMIT counts as MB_LOGICAL_LIMIT).
 * Thread-safety: any.
 */
MB_API void mb_file_set_size(struct mb_file *file, uint64_t size_blocks);

/*
 * Says whether anybody holds the file open for write (ext4's
 * inode_is_open_for_write).  A request that ends exactly at the file's
 * size (mb_file_set_size) on a closed file is its last: as ext4 does,
 * unless the volume is busy it gets no inode preallocation -- a file of
 * more than mb_stream_req blocks gets no preallocation at all, a smaller
 * one still shares its locality group's.  Writeback after close(2) is the
 * typical case: preallocating for a file nobody will extend wastes space
 * until the PA is discarded.  A new file counts as open: a caller that
 * never calls this keeps every preallocation it had before the call
 * existed, and the call is needed only to give space back early.
 * Errors: none.  Thread-safety: any; requests that start later see it.
 */
MB_API void mb_file_set_open_for_write(struct mb_file *file, bool open);

/*
 * Returns the file's unused preallocated blocks to the volume (as ext4 does
 * on truncate).  Returns the number of blocks released.
 * Errors: none (the count is >= 0).  Thread-safety: any.
 */
MB_API int64_t mb_file_discard(struct mb_file *file);

/*
 * Discards the file's preallocations and frees the handle.  Blocks already
 * allocated stay allocated.  Thread-safety: no other call on this file.
 */
MB_API void mb_file_close(struct mb_file *file);

/*
 * Discards every preallocation of the volume (inode and locality group).
 * Returns the number of blocks released.  Errors: none (the count is >= 0).
 * Thread-safety: any.
 */
MB_API int64_t mb_discard_all(struct mb_volume *vol);

/* ------------------------------------------------------------------------ */
/* Tunables and statistics                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Tunables, by ext4's /sys/fs/ext4/<dev>/ names: mb_stats, mb_max_to_scan,
 * mb_min_to_scan, mb_order2_req, mb_stream_req, mb_group_prealloc,
 * mb_max_linear_groups, mb_optimize_scan, mb_best_avail_max_trim_order,
 * mb_enospc_policy (ours: 0 = seq, the 2020 fix; 1 = legacy, before it),
 * reserved_clusters and r_blocks_count (the system reserve, see
 * Reservations; each below blocks_count).
 * Departures from ext4, each 0 (ext4's behaviour) by default and described
 * in docs/FIDELITY.md: mb_lg_sticky (1: a file keeps the locality group
 * it first used, instead of the current CPU's on every request),
 * mb_lg_continuity (1: a file continuing a group PA keeps filling it
 * whatever its size, and a small file's append that does not continue it
 * gets an inode PA instead), mb_stream_spread (1: stream goals start
 * spread over the volume, not all at group 0), mb_goal_skip_busy (1: a
 * stream's new window gives up its goal group when its lock is taken) and
 * mb_slow_skip_short (1: CR_GOAL_LEN_SLOW skips, uncounted, free runs that
 * cannot beat the best so far and groups with no run as long as the goal;
 * ext4 measures and counts every run toward mb_min/max_to_scan).
 * mb_noprealloc_no_pa (1: a MB_HINT_NOPREALLOC request is never served
 * from an inode or locality-group PA; ext4 serves it from either).
 * One departure is on by default, mb_enospc_no_prealloc (1: while any
 * request is in its ENOSPC retry rounds, no request preallocates; it was
 * added against a spurious ENOSPC; 0 is ext4's behaviour).
 * mb_profile sets every departure at once, and reserved_clusters:
 * MB_PROFILE_MBALLOC (0, the default: the values above, ext4's decisions
 * plus the departure that fixes a spurious ENOSPC; reserved_clusters 0),
 * MB_PROFILE_EXT4 (1: every ext4 value, mb_enospc_no_prealloc 0 and
 * reserved_clusters ext4's min(2%, 4096 blocks)) or MB_PROFILE_PROJECT (2:
 * every departure 1, reserved_clusters 0).  Tunables set afterwards
 * override it; reading mb_profile gives the profile last selected, even
 * if tunables changed since.  mb_scan_summary and the ext4 tunables
 * (mb_max_to_scan ...) are not part of a profile.
 * mb_scan_summary (1 by default) changes speed only, never a decision: 1
 * lets the group scan jump over free runs with a tree of each group's runs
 * (kept up to date with its bitmap) instead of walking the bitmap run by
 * run, and lets the passes over groups skip, through sets of groups by
 * free, largest and average-fragment order, the groups whose counters
 * already fail the criterion (counted as considered all the same); 0
 * always walks.
 * mb_cache_groups (memory only, never a decision): how many groups keep
 * their in-core bitmap and buddy built; the buddy of a colder group is
 * dropped and rebuilt from its on-disk bitmap when it is next used, as
 * ext4 rebuilds evicted buddy pages.  1..its maximum (mb_tunable_info);
 * the default, the maximum (every group), keeps every buddy built: a
 * volume whose every group was used holds about 55 MiB per TiB at 4 KiB
 * blocks, aged 50% or 90% (a group shares its on-disk bitmap while no
 * preallocation, uncommitted free or trim hold makes the two differ, and
 * its buddy stores orders 4 and up only; a group that differs keeps a
 * private 4 KiB copy until they agree again).  Lower values save the rest
 * (buddy and run tree) of cold groups, but requests spread over the whole
 * volume then rebuild a buddy on most calls (about 5 us each); calls
 * whose goals stay in fewer groups than that are unaffected.  Groups
 * never used cost nothing either way.  Lowering it applies to groups built afterwards.
 * Errors: -ENOENT unknown name; -EINVAL value out of range (nothing changes).
 * Thread-safety: any; a new value applies to requests that start later.
 */
MB_API int mb_tunable_get(const struct mb_volume *vol, const char *name, uint64_t *value);
MB_API int mb_tunable_set(struct mb_volume *vol, const char *name, uint64_t value);
/* The name of tunable i (0-based), or NULL past the last one. */
MB_API const char *mb_tunable_name(unsigned i);
/*
 * What tunable `name` accepts and means: *min and *max bound the values
 * mb_tunable_set() takes on vol (inclusive); with vol NULL, *max is 0 for
 * the tunables whose bound depends on the volume (mb_group_prealloc:
 * blocks per group; mb_best_avail_max_trim_order: the highest buddy order;
 * reserved_clusters and r_blocks_count: below blocks_count).  *help is a
 * static one-line description.  Any out-pointer may be NULL.
 * Errors: -ENOENT unknown name.
 * Thread-safety: any.
 */
MB_API int mb_tunable_info(const struct mb_volume *vol, const char *name, uint64_t *min,
			   uint64_t *max, const char **help);

#define MB_POLICY_SEQ 0
#define MB_POLICY_LEGACY 1

/* Values of the mb_profile tunable (see mb_tunable_set). */
#define MB_PROFILE_MBALLOC 0 /* the default: ext4 + correctness fixes */
#define MB_PROFILE_EXT4 1    /* every ext4 value */
#define MB_PROFILE_PROJECT 2 /* every departure on */

/* Criteria, in the order they are tried (ext4 6.5+ names). */
enum mb_criteria {
	MB_CR_POWER2_ALIGNED = 0,
	MB_CR_GOAL_LEN_FAST,
	MB_CR_BEST_AVAIL_LEN,
	MB_CR_GOAL_LEN_SLOW,
	MB_CR_ANY_FREE,
	MB_NUM_CRS
};

/* ext4's mb_stats.  Collected only while the mb_stats tunable is 1. */
struct mb_stats {
	uint64_t reqs, success, groups_scanned, extents_scanned;
	struct {
		uint64_t hits, groups_considered, extents_scanned, useless_loops;
	} cr[MB_NUM_CRS];
	uint64_t goal_hits, stream_goal_hits, len_goal_hits, two_n_hits;
	uint64_t breaks, lost, buddies_generated, preallocated, discarded;
	/* Beyond ext4: the ENOSPC machinery of the seed series. */
	uint64_t enospc, retries, strict_retries, discard_passes, pa_hits;
	uint64_t spare[16]; /* zero (see Growing structs) */
};

/* Copies the statistics.  Thread-safety: any (values are relaxed sums). */
MB_API void mb_stats_get(const struct mb_volume *vol, struct mb_stats *st);
MB_API void mb_stats_reset(struct mb_volume *vol);
/* Name of criterion cr ("CR_POWER2_ALIGNED", ...), or "?" */
MB_API const char *mb_criteria_name(int cr);

#define MB_MAX_ORDERS 20 /* orders 0..19: 2^19 blocks = 8 * 64 KiB */

/* One row of ext4's /proc/fs/ext4/<dev>/mb_groups. */
struct mb_group_stat {
	uint32_t free;       /* bb_free: free in buddy terms (PA space is used) */
	uint32_t fragments;  /* bb_fragments: free runs */
	uint32_t first_free; /* bb_first_free, group-relative */
	int32_t largest_free_order;
	int32_t avg_fragment_order;
	uint32_t counters[MB_MAX_ORDERS]; /* free chunks per order */
	uint32_t disk_free;  /* the descriptor's free count (on-disk terms) */
	uint32_t flags;      /* MB_GROUP_* */
	uint32_t spare[8];    /* zero (see Growing structs) */
};
#define MB_GROUP_CORRUPT 0x1
#define MB_GROUP_LOADED 0x2 /* bitmaps built (not lazily synthesized) */

/*
 * Reads group g's counters.  Errors: -EINVAL g out of range.
 * Thread-safety: any (takes the group lock).
 */
MB_API int mb_group_stat(struct mb_volume *vol, uint32_t g, struct mb_group_stat *st);

#define MB_FREE_ONDISK 0x1 /* free on disk (as e2freefrag sees it), not in buddy terms */

/*
 * Calls fn(start, len, arg) for each free extent of group g, in block
 * order; `start` is a volume block number.  By default extents are free in
 * buddy terms (allocatable now: preallocated space counts as used); with
 * MB_FREE_ONDISK, free on disk.  A non-zero return from fn stops the walk
 * and is returned.
 * Errors: -EINVAL bad g or flags, or fn NULL; -EUCLEAN the group is corrupt;
 *         -EIO its bitmap cannot be read; -ENOMEM.
 * Memory: a group never used before gets its bitmaps built (and, on a
 * persistent volume, read), as any allocation in it would: walking every
 * group of a huge volume costs about 3 bitmaps of memory per group.
 * Thread-safety: any.  fn runs under the group's lock and must not call
 * into the volume.
 */
MB_API int mb_group_free_extents(struct mb_volume *vol, uint32_t g, unsigned flags,
				 int (*fn)(uint64_t start, uint32_t len, void *arg), void *arg);

/* Highest buddy order of this volume: log2(blocks_per_group), capped at
 * log2(block_size) + 1 as ext4's (13 at 4 KiB, 11 at 1 KiB). */
MB_API int mb_max_order(const struct mb_volume *vol);

/*
 * Verifies the whole volume: every group's buddy equals a rebuild from its
 * bitmap, every counter, every preallocation, and the volume's total.
 * Writes one line per problem into buf (NUL-terminated, truncated to buflen;
 * buf may be NULL).  Returns the number of problems found (0 = clean).
 * Errors: -ENOMEM (no problem was looked for).
 * Thread-safety: any; the result is exact only when no call is in flight.
 */
MB_API int mb_check(struct mb_volume *vol, char *buf, size_t buflen);

/* ------------------------------------------------------------------------ */
/* Persistence                                                               */
/* ------------------------------------------------------------------------ */

/*
 * A persistent volume lives in a regular file or a block device, in the
 * format of docs/FORMAT.md (little-endian, crc32c on every structure):
 * superblock, group descriptor table, one bitmap block per group, journal.
 *
 * Allocations and frees change the in-memory state at once.  mb_commit()
 * (or the background thread every commit_interval_s) writes every changed
 * group's bitmap and descriptor plus the superblock to the journal with a
 * checksummed commit record, syncs, copies them home and syncs again.
 *
 * Crash guarantee: after a crash the volume opens exactly as of its last
 * durable commit -- every extent allocated before that commit is allocated,
 * every extent freed before it is free, nothing later is visible.  A commit
 * that had not returned may or may not be durable (all or nothing per
 * transaction).  One exception: a commit larger than the journal's
 * capacity (mb_volume_info.journal_capacity blocks) is written as several
 * transactions, each atomic, so a crash in the middle of it leaves some
 * groups at the new state and the others at the previous one.
 *
 * Freed blocks are not reused until the commit recording the free is
 * durable (a crash must not find them owned by someone else); the
 * allocator forces such a commit before it answers -ENOSPC.
 *
 * Opening reads the superblock, the descriptor table and (after an unclean
 * shutdown) the journal; group bitmaps are read on first use.  A failed
 * open writes nothing.
 */

#define MB_COMMIT_INTERVAL_DEFAULT 5 /* seconds */

struct mb_open_opts {
	uint32_t commit_interval_s; /* background commit period in seconds; 0 = none.
				       A NULL opts means MB_COMMIT_INTERVAL_DEFAULT */
	int read_only;              /* 1: never write; mb_commit/mb_free give -EROFS */
	uint32_t journal_blocks;    /* mb_volume_format only: journal size in blocks,
				       0 = all the room left in group 0's reserved area */
	uint32_t spare[13];         /* must be zero (see Growing structs) */
};

/*
 * Creates an empty persistent volume at `path`: a block device, or a
 * regular file (created, or resized to blocks_count * block_size bytes;
 * sparse).  Every group starts BLOCK_UNINIT, so only the superblock, the
 * descriptor table and one journal block are written.  Group 0's reserved
 * area holds the descriptor table, group 0's bitmap and the journal (and
 * the superblock when first_data_block is 0); every other group's bitmap is
 * its first block.  opts may be NULL (only journal_blocks is used).
 * Errors: -EINVAL bad geometry, or the metadata does not fit in
 *         reserved_per_group blocks (at least 1 per group; group 0 needs
 *         desc_blocks + 1 + journal (>= 8) [+ 1 when first_data_block is 0]);
 *         -ENOSPC a block device smaller than the volume; -EROFS read-only
 *         file or device; -EBUSY the volume is open (read-only or not) in
 *         this or another process (see mb_volume_open); -EIO; other -errno
 *         from open(2).
 * Thread-safety: any.
 */
MB_API int mb_volume_format(const char *path, const struct mb_geometry *geo,
			    const struct mb_open_opts *opts);

/*
 * Opens a persistent volume, replaying a committed transaction left in the
 * journal by a crash (a torn or uncommitted one is ignored), and marks it
 * in use (state dirty) unless read_only.  opts may be NULL (defaults).
 * The returned volume works like one from mb_volume_create(), with deferred
 * frees (see above).
 * One writer per volume: a read-write open holds an exclusive lock until
 * mb_volume_close()/mb_volume_destroy() (flock(2) on a regular file; on a
 * block device also O_EXCL), a read-only open a shared one.  Read-only
 * opens coexist; a writer excludes every other open, in this process or
 * another.  flock is advisory: only openers that lock (this library,
 * flock(1)) are kept out.  A process that dies releases its locks.
 * Every superblock read (the home copy and the copy a journal transaction
 * carries) passes the same checks, and everything is checked before
 * anything is written: a failed open leaves the volume's bytes unchanged.
 * An ext4 image (not an mballoc volume, but the ext2/3/4 magic) opens
 * through mb_volume_open_ext4() when read_only is asked, so every reader
 * of a PATH takes both; a read-write open of one answers -EROFS.
 * Errors: -EINVAL not an mballoc volume (magic), unsupported version or
 *         features; -EUCLEAN a bad checksum, impossible geometry, a
 *         journal or table outside its place, a bad journal transaction
 *         or a superblock copy in it that fails those checks or describes
 *         another volume, a free count or sequence number out of range;
 *         -EIO the file is shorter than the volume, or a read failed;
 *         -EROFS the file is read-only, or either superblock copy has
 *         ro_compat features this version does not know, and read_only
 *         was not asked;
 *         -EBUSY another open holds the volume (any open, for a read-write
 *         one; a read-write one, for a read-only one);
 *         -ENOMEM; other -errno from open(2) (e.g. -ENOENT).
 * Thread-safety: any.
 */
MB_API int mb_volume_open(const char *path, const struct mb_open_opts *opts,
			  struct mb_volume **out);

/*
 * Makes every change so far durable (see the crash guarantee) and lets
 * frees recorded by it be reused.  Returns 0, or -errno.  After an I/O
 * error the volume refuses every later commit with that error (its disk
 * state stays the last durable commit).
 * Errors: -EROFS read-only volume; -EIO; -ENOMEM; -EINVAL in-memory volume.
 * Thread-safety: any; commits are serialized, allocation continues while
 * one runs (each group is locked only to copy its bitmap).
 */
MB_API int mb_commit(struct mb_volume *vol);

/*
 * Commits, marks the volume clean and frees it (as mb_volume_destroy()).
 * The volume is freed even on error.  On an in-memory volume it equals
 * mb_volume_destroy() and returns 0.  mb_volume_destroy() on a persistent
 * volume stops without writing anything: the disk keeps the last durable
 * commit, exactly as after a crash.
 * Errors: those of mb_commit(); -EIO or another -errno from writing or
 *         syncing the clean superblock; 0 for a read-only volume.
 * Thread-safety: no other call may be in flight on this volume.
 */
MB_API int mb_volume_close(struct mb_volume *vol);

/* What `mballoc info` shows. */
struct mb_volume_info {
	struct mb_geometry geo; /* blocks_per_group resolved */
	uint32_t groups;
	uint32_t groups_uninit;    /* descriptors still BLOCK_UNINIT */
	uint64_t free_blocks;      /* as mb_free_blocks() */
	uint8_t uuid[16];
	uint32_t format_version;
	uint64_t desc_start;       /* block */
	uint32_t desc_blocks;
	uint64_t journal_start;    /* block */
	uint32_t journal_blocks;
	uint32_t journal_capacity; /* blocks one transaction can carry */
	uint64_t seq;              /* last durable transaction */
	int persistent, read_only;
	int was_clean;             /* the volume was closed cleanly before this open */
	int replayed;              /* this open replayed a journal transaction */
	uint64_t open_bytes_read;  /* bytes the open read from the device */
	uint64_t bytes_read, bytes_written, syncs; /* device totals since open */
	uint64_t spare[16];        /* zero (see Growing structs) */
};

/*
 * Fills *info.  For an in-memory volume only geo, groups, free_blocks are
 * meaningful (persistent = 0).  Thread-safety: any.
 */
MB_API void mb_volume_info(struct mb_volume *vol, struct mb_volume_info *info);

/*
 * Full verification of a persistent volume: reads every group's bitmap
 * (checking its crc32c against the descriptor), then runs mb_check().
 * Writes one line per problem into buf as mb_check() does.  Returns the
 * number of problems (0 = clean), or -ENOMEM.
 * Thread-safety: any; exact only when no call is in flight.
 */
MB_API int mb_volume_verify(struct mb_volume *vol, char *buf, size_t buflen);

/* ------------------------------------------------------------------------ */
/* ext4 images                                                               */
/* ------------------------------------------------------------------------ */

/*
 * An ext4 (or ext2/ext3) file system image, or block device, read through
 * libext2fs -- an optional dependency: a library built without it answers
 * -ENOTSUP.  The image is never written, whatever the options.
 *
 * Geometry comes from the superblock (block size, blocks per group, first
 * data block, blocks count; the flex_bg size where the geometry has that
 * field), with reserved_per_group 0: ext4's metadata is not at each
 * group's head, so every metadata block (superblock and descriptor copies,
 * block and inode bitmaps, inode tables) is simply used.  A group's used
 * blocks come from its block bitmap, read on first use with its checksum
 * (metadata_csum) and free count checked; a BLOCK_UNINIT group is never
 * read: its metadata is computed from the layout, as ext4 does.  A bitmap
 * that fails a check (bad checksum, a metadata block free, a free count
 * other than its descriptor's) makes its group corrupt, as in ext4: it is
 * never allocated from, and calls that need it answer -EUCLEAN.
 *
 * opts NULL or opts->read_only 1: a read-only volume (mb_alloc, mb_free,
 * mb_mark_used and reservations answer -EROFS), for inspection.
 * opts->read_only 0: a scratch volume that starts as the image: allocations
 * and frees change memory only, frees are reusable at once (nothing waits
 * for a commit; mb_commit answers -EINVAL as on an in-memory volume), so a
 * caller can replay another allocator's history from it.  mb_free() of a
 * range holding file-system metadata (superblock or descriptor copies,
 * bitmaps, inode tables) answers -EINVAL and changes nothing.
 * mb_volume_info() reports read_only.  Other fields of
 * opts are ignored.  Nothing locks the image: open it while nobody writes
 * it (a mounted file system's bitmaps may change under the reader).
 * mb_volume_close() and mb_volume_destroy() release it and write nothing.
 *
 * Errors: -ENOTSUP built without libext2fs; bigalloc, an external journal
 *         device, or a journal that needs recovery (the bitmaps on disk are
 *         stale until it is replayed); incompatible features libext2fs does
 *         not know; -EINVAL not an ext2/3/4 file system (bad magic), or
 *         path/out NULL; -EUCLEAN a superblock or group descriptor
 *         checksum is wrong, or a descriptor points outside the file
 *         system; -EIO; -ENOMEM; other -errno from open(2) (e.g. -ENOENT).
 *         mb_volume_open_error() says which, in words.
 * Thread-safety: any.  Group bitmaps are read under their group's lock;
 * reads of different groups are serialized inside the store (libext2fs is
 * not thread-safe), other groups stay usable meanwhile.
 */
MB_API int mb_volume_open_ext4(const char *path, const struct mb_open_opts *opts,
			       struct mb_volume **out);

/*
 * Why the calling thread's last failed mb_volume_open_ext4() (or an
 * mb_volume_open() that found an ext4 image) failed, in words a program
 * can print after the path: "bigalloc is not supported ...", "not an
 * ext2/3/4 file system (bad magic)".  NULL when the last open succeeded
 * or the error code says it all (e.g. -ENOENT: use strerror).  The string
 * is static; the next open on this thread replaces it.
 * Thread-safety: any (per thread).
 */
MB_API const char *mb_volume_open_error(void);


/* ------------------------------------------------------------------------ */
/* libext2fs allocator                                                       */
/* ------------------------------------------------------------------------ */

/*
 * mballoc as the block allocator of libext2fs (e2fsprogs' library), so a
 * program that writes an ext4 image through libext2fs gets ext4's
 * placement: normalization, inode and locality-group preallocations, the
 * criteria passes.  An optional part: a library built without libext2fs
 * answers -ENOTSUP to every call here.
 *
 * mb_e2fs_attach() builds a volume on the file system's live block bitmap
 * (fs->block_map, read if it was not) and installs libext2fs's allocator
 * hooks: get_alloc_block(2), new_range, block_alloc_stats and
 * block_alloc_stats_range.  The file system's bitmaps stay the truth;
 * mballoc keeps its buddy and preallocations in memory:
 *   - a block libext2fs asks for is placed by mb_alloc() and marked used
 *     by libext2fs itself (ext2fs_block_alloc_stats*), as with its own
 *     allocator;
 *   - every block libext2fs frees (truncate, punch, ...) or marks used
 *     without asking (another allocator) reaches mballoc through the stats
 *     hooks;
 *   - a block handed out that libext2fs never marked (it gave up on it) is
 *     given back by mb_e2fs_sync(), mb_e2fs_file_end() and detach.
 * After mb_e2fs_sync() (no libext2fs call in flight), mb_free_blocks() of
 * the volume (plus held_blocks, see below) equals
 * ext2fs_free_blocks_count(fs->super).
 *
 * Files: libext2fs's data allocations name their inode and logical block
 * (blk_alloc_ctx); mb_e2fs_file_begin() says the inode's size and whether
 * it is open for write, so normalization and the closed-file rule work as
 * in ext4.  An inode never begun gets a file of its own on its first data
 * block (size from its inode; the previous such file is dropped).  Range
 * allocations (ext2fs_fallocate, ext2fs_alloc_range) carry no inode: they
 * go to the last file begun and not ended, at its cursor
 * (mb_e2fs_file_seek).  Extent tree, directory and symlink blocks (no
 * context, or BLOCK_ALLOC_METADATA) take the metadata path (no file).
 * As ext4 keeps s_resv_clusters, data allocations (with a file, and every
 * range) leave 2% of the blocks (at most 4096, at least 12; stats
 * resv_blocks) to metadata, so an extent insert can always split the tree
 * to map a run already marked used (libext2fs's fallocate does not give a
 * run back when that split fails), and the last files copied onto a full
 * image are not cut into its last scraps: data gets
 * EXT2_ET_BLOCK_ALLOC_FAIL with up to resv_blocks free, as from ext4.
 *
 * libext2fs 1.43 to 1.47.3 pass (end of range, 0) to the range stats hook
 * instead of (start, length).  Attach probes for it; while it holds, the
 * hook recovers the range from the bitmaps (see mb_e2fs_stats).
 * libext2fs 1.46.6 to 1.47.3 cannot punch (truncate, delete) an extent
 * that ends at the file system's last block (EXT2_ET_BAD_BLOCK_NUM; an
 * off-by-one fixed in 1.47.4).  With those versions mballoc never hands
 * out that block: it stays free in the file system and used in mballoc
 * (stats held_blocks = 1), so the invariant below reads
 * mb_free_blocks() + held_blocks == the file system's free blocks.
 *
 * Thread-safety: libext2fs is not thread-safe.  Every call here on one
 * attachment, and every libext2fs call on its fs, must come from one
 * thread at a time; the hooks run inside those libext2fs calls.  Different
 * file systems may be used from different threads.
 */
struct struct_ext2_filsys; /* what libext2fs's ext2_filsys points to */
struct mb_e2fs;

struct mb_e2fs_opts {
	uint32_t flags;    /* MB_E2FS_*; 0 */
	uint32_t spare[7]; /* must be zero (see Growing structs) */
};
/* For tests: trust the range stats hook's arguments even on a libext2fs
 * that passes wrong ones (turns the 1.47.0 workaround off). */
#define MB_E2FS_TRUST_RANGE_ARGS 0x1

/*
 * Attaches mballoc to fs, an ext4 file system opened read-write
 * (EXT2_FLAG_RW; EXT2_FLAG_64BITS recommended).  opts may be NULL.
 * Attach reads the block bitmap if fs has none, and (only when every check
 * passed) probes the range stats hook by releasing and re-taking the
 * primary superblock's block: the counters come back as they were, but
 * the superblock and bitmaps are marked dirty (written at ext2fs_close).
 * Errors: -EINVAL fs or out NULL, fs not a libext2fs handle, unknown
 *         opts flags or spare not zero; -EROFS fs opened read-only;
 *         -ENOTSUP built without libext2fs, no extents feature (not ext4),
 *         bigalloc, an external journal device, a journal that needs
 *         recovery, a geometry the allocator cannot model; -EBUSY fs is
 *         attached already or has allocator hooks of its own;
 *         -EIO the block bitmap cannot be read; -ENOMEM.
 *         mb_volume_open_error() says which, in words.  On error nothing
 *         of fs changed (but for a block bitmap read in).
 * Thread-safety: see above.
 */
MB_API int mb_e2fs_attach(struct struct_ext2_filsys *fs, const struct mb_e2fs_opts *opts,
			  struct mb_e2fs **out);

/*
 * Gives back blocks handed out and never used (mb_e2fs_sync), ends every
 * file, discards every preallocation (no block stays reserved in memory
 * only), restores the hooks fs had before attach and frees e.  fs stays
 * open, its bitmaps as libext2fs left them; close it as usual.
 * Returns 0, or -EUCLEAN when mballoc's view and fs->block_map disagreed
 * (mb_e2fs_verify); e is freed either way.
 * Thread-safety: see above; no libext2fs call on fs may be in flight.
 */
MB_API int mb_e2fs_detach(struct mb_e2fs *e);

/*
 * The volume underneath, for mb_tunable_set(), mb_stats_get(),
 * mb_check(), mb_group_stat(), mb_free_blocks() ...  Do not allocate or
 * free on it directly: libext2fs would not know.  Valid until detach.
 */
MB_API struct mb_volume *mb_e2fs_volume(struct mb_e2fs *e);

#define MB_E2FS_FILE_CLOSED 0x1 /* nobody holds it open for write (writeback after close) */

/*
 * Before libext2fs writes inode ino: its size in blocks (the i_size ext4's
 * normalization predicts from) and flags (MB_E2FS_FILE_CLOSED, or 0: open
 * for write).  Makes ino the current file for range allocations, with its
 * cursor at logical block 0.  Again on a begun inode: updates size and
 * flags, keeps its preallocations.
 * Errors: -EINVAL ino 0 or past s_inodes_count, unknown flags; -ENOMEM.
 */
MB_API int mb_e2fs_file_begin(struct mb_e2fs *e, uint32_t ino, uint64_t size_blocks,
			      uint32_t flags);

/*
 * The logical block the current file's next range allocation starts at
 * (ext2fs_fallocate(..., start, len): seek to start first).  Each range
 * allocation advances it by its length.  Makes ino the current file.
 * Errors: -ENOENT ino not begun; -EINVAL lblk >= MB_LOGICAL_LIMIT.
 */
MB_API int mb_e2fs_file_seek(struct mb_e2fs *e, uint32_t ino, uint64_t lblk);

/*
 * Done writing ino: discards its preallocations and gives back blocks
 * handed out and never used (mb_e2fs_sync).
 * Errors: -ENOENT ino not begun.
 */
MB_API int mb_e2fs_file_end(struct mb_e2fs *e, uint32_t ino);

/*
 * Gives back to mballoc every block handed out since the last sync that
 * libext2fs did not mark used (it gave up on it).  Call it between
 * libext2fs calls, never from inside one (a block handed out is marked by
 * libext2fs only after the hook returns).  Returns the blocks given back.
 * Errors: -EIO, -ENOMEM (mballoc's own errors; the count is then partial).
 */
MB_API int64_t mb_e2fs_sync(struct mb_e2fs *e);

struct mb_e2fs_stats {
	uint64_t data_allocs, data_blocks; /* placed for a file */
	uint64_t meta_allocs, meta_blocks; /* placed on the metadata path */
	uint64_t frees, freed_blocks;      /* libext2fs frees mirrored */
	uint64_t foreign_allocs, foreign_blocks; /* marked used by libext2fs
						    without asking mballoc */
	uint64_t returned_blocks;  /* handed out, never used, given back */
	uint64_t enospc;           /* hook calls answered EXT2_ET_BLOCK_ALLOC_FAIL */
	uint64_t desync;           /* blocks where mballoc disagreed with fs (0) */
	uint64_t range_recovered;  /* range stats calls whose range was recovered */
	uint32_t range_args_broken; /* 1: this libext2fs passes (end, 0) to the
				       range stats hook (1.43..1.47.3) */
	uint32_t files;            /* files begun and not ended */
	uint64_t held_blocks;      /* blocks kept from allocation (see below) */
	uint64_t resv_blocks;      /* free blocks data may not take (ext4's
				      s_resv_clusters: 2%, at most 4096, at least 12) */
	uint64_t spare[6];         /* zero (see Growing structs) */
};

/* Fills *st.  Errors: -EINVAL e or st NULL. */
MB_API int mb_e2fs_stats_get(struct mb_e2fs *e, struct mb_e2fs_stats *st);

/*
 * Compares mballoc's on-disk view of every group (preallocated blocks
 * count as free; a group never loaded by its free count) with
 * fs->block_map and the descriptors.  Writes one line per disagreeing
 * group into buf (NUL-terminated, truncated to buflen; may be NULL).
 * Returns the blocks that disagree (0: in sync).  Exact only between
 * libext2fs calls, after mb_e2fs_sync().
 * Errors: -EINVAL e NULL; -ENOMEM.
 */
MB_API int64_t mb_e2fs_verify(struct mb_e2fs *e, char *buf, size_t buflen);

/* ------------------------------------------------------------------------ */
/* Callback store: the caller keeps the bitmaps                              */
/* ------------------------------------------------------------------------ */

/*
 * A volume whose block bitmaps live with the caller -- in a database's or
 * an object store's own pages -- and are journaled in the caller's own
 * transactions.  The library reads a group's bitmap through load() the
 * first time it needs the group, and hands every changed bitmap to
 * commit() at each mb_commit() (and before answering -ENOSPC while freed
 * blocks wait).  As on mb_volume_open() volumes, a freed block becomes
 * allocatable again only after the commit() that recorded its free has
 * returned 0, so a crash before it never finds the block reused.
 *
 * Bitmaps: bit i of a group's bitmap (word i / 64, bit i % 64) is block
 * first_data_block + group * blocks_per_group + i; 1 = used.  A bitmap is
 * (blocks_per_group + 63) / 64 uint64_t words, blocks_per_group resolved
 * (0 means 8 * block_size); bits past the end of the volume's last group
 * are set.  Each group's first reserved_per_group blocks are its metadata
 * and are always used.
 */
struct mb_group_bitmap {
	uint32_t group;
	uint32_t free;        /* blocks the bitmap shows free */
	const uint64_t *bits; /* valid only during the commit() call */
	uint64_t spare[2];    /* zero (see Growing structs) */
};

struct mb_store_callbacks {
	void *arg; /* passed to every callback */
	/*
	 * Fills bits (zeroed by the library) with group's durable bitmap.
	 * Called from any thread that needs the group, with the group's lock
	 * held: it must not call into the library for this volume.  It may be
	 * called more than once for a group.  Return 0, or a negative errno:
	 * -EUCLEAN the bitmap is damaged (the group is never allocated from),
	 * anything else a failed read (the next user tries again; mb_alloc may
	 * answer -EIO instead of -ENOSPC meanwhile).  Required.
	 */
	int (*load)(void *arg, uint32_t group, uint64_t *bits);
	/*
	 * Makes groups[0, n) durable as one transaction (all of it or none of
	 * it survives a crash): n >= 1 groups whose bitmaps changed since their
	 * last commit, in group order.  One mb_commit() may call it several
	 * times (at most max_groups groups each).  Called with no lock of the
	 * library held, one call at a time per volume, from the thread that
	 * commits (an mb_commit() caller, an allocator out of space, or the
	 * commit thread): it must not call mb_commit() or mb_volume_close() on
	 * this volume.  Return 0, or a negative errno: the groups stay changed,
	 * and every later commit of the volume fails with -EIO (-ENOMEM
	 * excepted: the next commit tries again).  Required.
	 */
	int (*commit)(void *arg, const struct mb_group_bitmap *groups, uint32_t n);
	/*
	 * Optional: the free blocks of group by the caller's own records, so
	 * that opening needs no bitmap.  NULL: the open loads every bitmap once
	 * to count.  load() must agree with it, or the group is corrupt.
	 */
	int (*group_free)(void *arg, uint32_t group, uint32_t *free);
	uint32_t max_groups; /* most groups per commit() call; 0 = 64 */
	uint32_t spare[9];   /* must be zero (see Growing structs) */
};

/*
 * Creates a volume of geometry geo on the caller's bitmaps (see above).
 * opts may be NULL (defaults); commit_interval_s > 0 starts a thread that
 * commits that often (commit() then runs on it); read_only refuses
 * everything that changes a bitmap.  group_free() (or load(), without it)
 * runs for every group before this returns.  Close with mb_volume_close()
 * (a final commit()) or mb_volume_destroy() (no commit: the caller keeps
 * the last committed state, as after a crash).  mb_volume_info() reports
 * persistent = 1.
 * Errors: -EINVAL bad geometry (as mb_volume_create), cb NULL, load or
 *         commit missing, or spare space of cb or opts not zero; -EUCLEAN a group_free() count larger than the
 *         group's blocks past its metadata, a load() at open that leaves a
 *         metadata block free, or the error group_free()/load() returned;
 *         -ENOMEM.
 * Thread-safety: any.
 */
MB_API int mb_volume_open_callbacks(const struct mb_geometry *geo,
				    const struct mb_store_callbacks *cb,
				    const struct mb_open_opts *opts, struct mb_volume **out);

#ifdef __cplusplus
}
#endif
#endif /* MBALLOC_H */
