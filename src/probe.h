/* SPDX-License-Identifier: MIT */
/*
 * probe.h - USDT probes (provider `mballoc`) where ext4 has tracepoints,
 * with ext4's names and, as far as USDT's 12 arguments allow, its
 * arguments.  Built when sys/sdt.h is found (CMake: MB_HAVE_SDT); without
 * it every mb_probe_* compiles to nothing.  A probe is a nop instruction
 * with a semaphore (sys/sdt.h's _SDT_HAS_SEMAPHORES): a tracer that
 * attaches (bpftrace, perf, systemtap, gdb) counts itself in the probe's
 * semaphore, and only then are its arguments computed (a file's ino, a
 * goal block: a PA hit paid ~20 instructions for them with nobody
 * listening).  So a probe costs one load and one not-taken branch until
 * traced.  `dev` in ext4 is the volume pointer here; extents ext4 prints
 * as group/start/len are absolute blocks and a length, except in
 * ext4_mballoc_free and ext4_trim_extent, which keep group and offset.
 *
 *   ext4_request_blocks      vol ino len logical lleft lright goal pleft pright flags
 *   ext4_allocate_blocks     vol ino block len logical lleft lright goal pleft pright flags
 *                            (block 0, len 0: it failed)
 *   ext4_mballoc_alloc       vol ino cr groups found result_len result_block
 *                            orig_block orig_len goal_block goal_len flags
 *                            (the regular allocator's search; result_len 0: failed)
 *   ext4_mballoc_prealloc    vol ino result_block result_len result_logical
 *                            orig_len orig_block orig_logical
 *   ext4_mb_new_inode_pa     vol ino pa_pstart pa_len pa_lstart
 *   ext4_mb_new_group_pa     vol ino pa_pstart pa_len pa_lstart
 *   ext4_mb_release_inode_pa vol ino block count   (each run given back)
 *   ext4_mb_release_group_pa vol pa_pstart pa_len
 *   ext4_discard_preallocations vol ino len        (len: the file's PAs)
 *   ext4_mballoc_free        vol ino group start len (ino 0: mb_free has none)
 *   ext4_trim_extent         vol group start len
 *
 * ext4's two search probes have more arguments than USDT allows (12), so
 * they lose ext4's logical blocks, buddy and tail; and what one reads most
 * comes first (bpftrace 0.17 reads only arg0..arg5).
 *
 * Every probe fires only on paths that act: a request refused by
 * validation (-EINVAL) fires nothing, and one refused before the search
 * (-EROFS, the free-space claim) fires ext4_request_blocks alone.
 * Included by the .c files that fire them; one line each.
 */
#ifndef MB_PROBE_H
#define MB_PROBE_H

#include "alloc_ctx.h"

#ifdef MB_HAVE_SDT
#define SDT_USE_VARIADIC /* STAP_PROBEV: any count up to 12 */
#define _SDT_HAS_SEMAPHORES 1 /* every probe's note names its semaphore */
#include <sys/sdt.h>

/* Every probe of probe.h: X(name) each (one semaphore apiece).  The hot
   ones first: the probes every allocation tests (mb_probe_hot). */
#define MB_PROBE_HOT_NAMES(X)                                                                      \
	X(ext4_request_blocks)                                                                     \
	X(ext4_allocate_blocks)                                                                    \
	X(ext4_mballoc_alloc)                                                                      \
	X(ext4_mballoc_prealloc)
#define MB_PROBE_COLD_NAMES(X)                                                                     \
	X(ext4_mb_new_inode_pa)                                                                    \
	X(ext4_mb_new_group_pa)                                                                    \
	X(ext4_mb_release_inode_pa)                                                                \
	X(ext4_mb_release_group_pa)                                                                \
	X(ext4_discard_preallocations)                                                             \
	X(ext4_mballoc_free)                                                                       \
	X(ext4_trim_extent)
#define MB_PROBE_NAMES(X) MB_PROBE_HOT_NAMES(X) MB_PROBE_COLD_NAMES(X)

/*
 * The semaphores, named as sys/sdt.h's notes expect (provider_name_semaphore)
 * and kept in section .probes, where systemtap's tools look.  A tracer
 * writes them from outside the process (uprobe ref_ctr_offset, or
 * /proc/pid/mem): read with a relaxed atomic load, which any stale value
 * only makes fire a probe late or once more.  Defined once, in prealloc.c
 * (MB_PROBE_SEMAPHORES_DEFINE).
 *
 * The four hot ones, in MB_PROBE_HOT_NAMES' order, are the four halfwords
 * of one aligned word, mb_probe_hot: an allocation asks "is anybody
 * tracing it?" with one load and one test (four loads, three ORs and two
 * tests before, ~6 instructions a request on the power-of-two fast path).
 * C cannot place four named objects side by side, so they are defined in
 * assembly, labels inside the word: the notes and the C names see each as
 * its own semaphore, as before.  A semaphore is written by the tracer
 * only; a load of the word that sees a halfword's write late is the stale
 * value above.
 */
union mb_probe_hot {
	unsigned short sem[4]; /* MB_PROBE_HOT_NAMES' order */
	uint64_t any;
};
extern __attribute__((visibility("hidden"))) union mb_probe_hot mb_probe_hot;
#define MB_PROBE_SEM_DECLARE(name)                                                                 \
	extern __attribute__((visibility("hidden"))) unsigned short mballoc_##name##_semaphore;
MB_PROBE_NAMES(MB_PROBE_SEM_DECLARE)
#define MB_PROBE_SEM_DEFINE(name)                                                                  \
	__attribute__((section(".probes"), used)) unsigned short mballoc_##name##_semaphore;
#define MB_PROBE_HOT_LABEL(name)                                                                   \
	"\t.globl mballoc_" #name "_semaphore\n\t.hidden mballoc_" #name "_semaphore\n"            \
	"\t.type mballoc_" #name "_semaphore, STT_OBJECT\n"                                        \
	"\t.size mballoc_" #name "_semaphore, 2\n"                                                 \
	"mballoc_" #name "_semaphore: .2byte 0\n"
#define MB_PROBE_SEMAPHORES_DEFINE                                                                 \
	__asm__("\t.pushsection .probes, \"aw\"\n\t.balign 8\n"                                     \
		"\t.globl mb_probe_hot\n\t.hidden mb_probe_hot\n"                                    \
		"\t.type mb_probe_hot, STT_OBJECT\n\t.size mb_probe_hot, 8\n"                         \
		"mb_probe_hot:\n" MB_PROBE_HOT_NAMES(MB_PROBE_HOT_LABEL) "\t.popsection\n");         \
	MB_PROBE_COLD_NAMES(MB_PROBE_SEM_DEFINE)

/* The hot semaphores' word, and its halfwords of the named hot probes
   (a constant whatever the byte order) */
#define MB_PROBE_HOT() MB_READ_ONCE(mb_probe_hot.any)
#define MB_PROBE_HOT_MASK(...) ((union mb_probe_hot){ .sem = { __VA_ARGS__ } }).any
#define MB_PROBE_HOT_DONE MB_PROBE_HOT_MASK(0, 0xffff, 0xffff, 0xffff)
/* mb_probe_pa_fast's two semaphores' halfwords */
#define MB_PROBE_HOT_PA_FAST MB_PROBE_HOT_MASK(0, 0xffff, 0, 0xffff)

#define MB_PROBE_SEM(name) MB_READ_ONCE(mballoc_##name##_semaphore)
#define MB_PROBE_ON(name) (MB_PROBE_SEM(name) != 0)
#define MB_PROBE(name, ...)                                                                        \
	do {                                                                                       \
		if (MB_UNLIKELY(MB_PROBE_ON(name)))                                                \
			STAP_PROBEV(mballoc, name, __VA_ARGS__);                                   \
	} while (0)

static inline uint64_t mb_probe_ino(const struct mb_file *file)
{
	return file ? file->f_ino : 0;
}

static inline void mb_probe_request(const struct mb_volume *vol, const struct mb_request *r)
{
	MB_PROBE(ext4_request_blocks, vol, mb_probe_ino(r->file), r->len, r->logical, r->lleft,
		 r->lright, r->goal, r->pleft, r->pright, r->flags);
}

/* mb_probe_alloc_done's probes, when somebody listens: out of line, cold
   (unused in the files that include this and never call it). */
static __attribute__((noinline, cold, unused)) void mb_probe_alloc_fire(const struct mb_ac *ac,
									  int err)
{
	const struct mb_volume *vol = ac->vol;
	const struct mb_request *r = ac->req;
	uint64_t ino = mb_probe_ino(ac->file);
	uint64_t block = err ? 0 : mb_fex_block(vol, &ac->b_ex);
	uint32_t len = err ? 0 : ac->b_ex.fe_len;

	/* a PA hit (prealloc.c mb_pa_hit) is found without measuring an extent */
	if (!err && !ac->found)
		MB_PROBE(ext4_mballoc_prealloc, vol, ino, block, len, ac->b_ex.fe_logical,
			 ac->o_ex.fe_len, mb_fex_block(vol, &ac->o_ex), ac->o_ex.fe_logical);
	else
		MB_PROBE(ext4_mballoc_alloc, vol, ino, ac->criteria, ac->groups_scanned, ac->found,
			 len, block, mb_fex_block(vol, &ac->o_ex), ac->o_ex.fe_len,
			 mb_fex_block(vol, &ac->g_ex), ac->g_ex.fe_len, ac->flags);
	MB_PROBE(ext4_allocate_blocks, vol, ino, block, len, r->logical, r->lleft, r->lright,
		 r->goal, r->pleft, r->pright, r->flags);
}

/*
 * The search's outcome (mballoc_alloc or _prealloc), then the request's.
 * The test inline, the probes out of line: as one inline function gcc
 * kept it a call (~7 instructions a request of the regular path).
 */
static inline __attribute__((always_inline)) void mb_probe_alloc_done(const struct mb_ac *ac,
								       int err)
{
	/* one test of the three semaphores' halfwords, not three branches */
	if (MB_UNLIKELY(MB_PROBE_HOT() & MB_PROBE_HOT_DONE))
		mb_probe_alloc_fire(ac, err); /* else nobody listens: compute nothing */
}

/*
 * mb_alloc_done's two probes for a request prealloc.c's fast path served
 * from an inode PA: the same arguments an allocation context would give
 * (the original goal: the caller's, else the start of the home group).
 */
static inline void mb_probe_pa_fast(const struct mb_volume *vol, const struct mb_request *r,
				    uint64_t block, uint32_t len, uint32_t olen)
{
	/* the two semaphores' halfwords, one test */
	if (MB_LIKELY(!(MB_PROBE_HOT() & MB_PROBE_HOT_PA_FAST)))
		return; /* nobody listens: compute nothing */
	uint64_t ino = mb_probe_ino(r->file);
	uint64_t goal = r->goal != MB_GOAL_NONE ? r->goal
						 : mb_group_first_block(vol, r->file->f_home);

	MB_PROBE(ext4_mballoc_prealloc, vol, ino, block, len, r->logical, olen, goal, r->logical);
	MB_PROBE(ext4_allocate_blocks, vol, ino, block, len, r->logical, r->lleft, r->lright,
		 r->goal, r->pleft, r->pright, r->flags);
}

static inline void mb_probe_new_pa(const struct mb_ac *ac, const struct mb_pa *pa)
{
	uint64_t ino = mb_probe_ino(ac->file);

	if (pa->pa_type == MB_INODE_PA)
		MB_PROBE(ext4_mb_new_inode_pa, ac->vol, ino, pa->pa_pstart, pa->pa_len,
			 pa->pa_lstart);
	else
		MB_PROBE(ext4_mb_new_group_pa, ac->vol, ino, pa->pa_pstart, pa->pa_len,
			 pa->pa_lstart);
}

static inline void mb_probe_release_inode_pa(const struct mb_volume *vol, const struct mb_pa *pa,
					     uint64_t block, uint32_t count)
{
	MB_PROBE(ext4_mb_release_inode_pa, vol, mb_probe_ino(pa->pa_file), block, count);
}

static inline void mb_probe_release_group_pa(const struct mb_volume *vol, const struct mb_pa *pa)
{
	MB_PROBE(ext4_mb_release_group_pa, vol, pa->pa_pstart, pa->pa_len);
}

/* Caller holds f_data_sem (the tree is the file's). */
static inline void mb_probe_discard_preallocations(const struct mb_file *file)
{
	MB_PROBE(ext4_discard_preallocations, file->f_vol, file->f_ino,
		 (uint32_t)file->f_pa_tree.count);
}

static inline void mb_probe_free(const struct mb_volume *vol, mb_grp_t g, mb_grpblk_t off,
				 uint32_t len)
{
	MB_PROBE(ext4_mballoc_free, vol, (uint64_t)0, g, off, len);
}

static inline void mb_probe_trim_extent(const struct mb_volume *vol, mb_grp_t g,
					mb_grpblk_t off, uint32_t len)
{
	MB_PROBE(ext4_trim_extent, vol, g, off, len);
}

#else /* no sys/sdt.h: nothing at all */

#define MB_PROBE_SEMAPHORES_DEFINE
#define MB_PROBE_HOT() ((uint64_t)0)
#define MB_PROBE_HOT_DONE ((uint64_t)0)
#define MB_PROBE_HOT_PA_FAST ((uint64_t)0)

#define mb_probe_request(vol, r) ((void)0)
#define mb_probe_alloc_done(ac, err) ((void)0)
#define mb_probe_pa_fast(vol, r, block, len, olen) ((void)0)
#define mb_probe_new_pa(ac, pa) ((void)0)
#define mb_probe_release_inode_pa(vol, pa, block, count) ((void)0)
#define mb_probe_release_group_pa(vol, pa) ((void)0)
#define mb_probe_discard_preallocations(file) ((void)0)
#define mb_probe_free(vol, g, off, len) ((void)0)
#define mb_probe_trim_extent(vol, g, off, len) ((void)0)

#endif
#endif
