/* SPDX-License-Identifier: MIT */
/*
 * gset.c - sets of groups for optimized scanning (ext4's mb_optimize_scan
 * lists, in the 6.17 shape: indexed by group and walked from the goal
 * group upward, then wrapping).  A 64-ary bitmap tree: level 0 has a bit
 * per group, level i+1 a bit per non-empty word of level i.
 *
 * Concurrency: updates are made by the holder of that group's lock;
 * lookups are lock-free hints.  The one invariant that matters is "no
 * summary bit stays clear over a non-empty word", else a group could
 * become invisible.  With threads, updates are atomic RMWs: a remover
 * clears the summary bit when its word became empty and then re-reads the
 * word; if an adder slipped in, it sets the summary bit again.  An adder
 * sets the word bit before the summary bit.  Why that is enough, and with
 * which memory orders: above mb_gset_del.  While the process has one
 * thread, plain stores (gset.h); the moves' level-0 words take plain
 * stores with threads too, under the word's lock (gset.h), and only the
 * summaries above them these RMWs.  A family word (fam) is one more level
 * above the top word, shared by a family of sets: a bit per set, set by
 * an adder that filled the top word, and cleared by a remover that
 * emptied it, which then looks at the top word again (mb_gset_fam_clear;
 * gset.h's threaded adders of two-level sets look at the bit rather than
 * at the top word's old value: above mb_gset_up_mt).
 *
 * A fill (volume creation: every group is pristine, so in the sets of the
 * pristine orders) maps a file of its words copy-on-write rather than
 * storing them: see above mb_gset_image_open.
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gset.h"

/* mb_gset_init, level 0 at lvl0 (zeroed, not the set's to free) when
   given and the set has more than one level */
static int mb_gset_init_at(struct mb_gset *s, uint32_t nbits, _Atomic uint64_t *lvl0)
{
	uint32_t bits = nbits ? nbits : 1;

	s->nbits = nbits;
	s->nlevels = 0;
	s->fam = NULL;
	s->fam_bit = 0;
	s->lvl0_block = 0;
	s->lvl0_borrowed = false;
	atomic_init(&s->top, 0);
	for (;;) {
		uint32_t words = (bits + 63) / 64;

		if (s->nlevels == MB_GSET_MAX_LEVELS) {
			mb_gset_destroy(s);
			return -EINVAL;
		}
		s->nwords[s->nlevels] = words;
		if (words == 1) { /* the top: the struct's own word */
			s->lvl[s->nlevels] = &s->top;
			s->top_shift = 6 * (uint32_t)s->nlevels++;
			return 0;
		}
		if (!s->nlevels && lvl0) {
			s->lvl[0] = lvl0;
			s->lvl0_borrowed = true;
			s->nlevels++;
			bits = words;
			continue;
		}
		s->lvl[s->nlevels] = mb_zmap(words * sizeof(uint64_t));
		if (!s->lvl[s->nlevels]) {
			mb_gset_destroy(s);
			return -ENOMEM;
		}
		s->nlevels++;
		bits = words;
	}
}

int mb_gset_init(struct mb_gset *s, uint32_t nbits)
{
	return mb_gset_init_at(s, nbits, NULL);
}

/*
 * sets[0..n) (n <= MB_MAX_ORDERS), as mb_gset_init each: a family that
 * mb_gset_move_ge_as moves groups through, set k holding those of order k
 * or more.  Sets of two levels (65 to 4096 groups, most volumes) take
 * their level 0 from one block, side by side: a group's words in the
 * family are then a stride apart (the words of a level 0), and a move
 * over many orders steps through them from one pointer, without each
 * set's (mb_gset_move_ge_two_as).  The block is as big as the levels were
 * apart and as dense: a 64 GiB volume's family is 20 cache lines, g's
 * words in it one a line (a stride of 64 words, 512 bytes whatever the
 * size, cost CPU time though it saved instructions: 10 KiB a family, its
 * words 4 KiB apart alias).  Other shapes are as mb_gset_init makes them
 * (past 4096 groups, fills map level 0: images).
 */
/* a family's level 0 (at most 64 words a set) is below what an image maps
   (mb_gset_image_open: levels of MB_BIGMEM_MIN bytes and more), so no fill
   maps over a set's borrowed words */
_Static_assert(64 * sizeof(uint64_t) < MB_BIGMEM_MIN, "a family's level 0 is never an image's");

int mb_gset_init_family(struct mb_gset *sets, int n, uint32_t nbits)
{
	_Atomic uint64_t *block = NULL;
	size_t words = ((size_t)nbits + 63) / 64;

	assert(n > 0 && n <= MB_MAX_ORDERS);
	if (nbits > 64 && nbits <= 64 * 64) {
		block = mb_zmap((size_t)n * words * sizeof(uint64_t));
		if (!block)
			return -ENOMEM;
	}
	for (int k = 0; k < n; k++) {
		int err = mb_gset_init_at(&sets[k], nbits, block ? block + (size_t)k * words : NULL);

		if (err)
			return err; /* not with a block: two levels, nothing to allocate */
		assert(!block || (sets[k].nlevels == 2 && sets[k].lvl0_borrowed));
	}
	if (block) { /* the first set frees it */
		sets[0].lvl0_borrowed = false;
		sets[0].lvl0_block = (uint32_t)((size_t)n * words);
	}
	return 0;
}

void mb_gset_destroy(struct mb_gset *s)
{
	for (int i = 0; i < s->nlevels; i++)
		if (s->lvl[i] != &s->top && !(i == 0 && (s->lvl0_borrowed || s->lvl0_block)))
			mb_zunmap((void *)s->lvl[i], s->nwords[i] * sizeof(uint64_t));
	if (s->nlevels && s->lvl0_block)
		mb_zunmap((void *)s->lvl[0], s->lvl0_block * sizeof(uint64_t));
	s->nlevels = 0;
	s->lvl0_block = 0;
	s->lvl0_borrowed = false;
}

/* From now on fam's bit `bit` says whether s has a member (s still empty). */
void mb_gset_set_family(struct mb_gset *s, _Atomic uint64_t *fam, int bit)
{
	assert(bit < 64 && !atomic_load(&s->lvl[s->nlevels - 1][0]));
	s->fam = fam;
	s->fam_bit = 1ULL << bit;
}

/*
 * Levels of a set of nbits groups, as mb_gset_init sizes them: words[l],
 * and members[l] for the members [0, n) of level 0 (bits of level l that a
 * fill sets).  Returns the number of levels.
 */
static int mb_gset_shape(uint32_t nbits, uint32_t n, uint32_t *words, uint32_t *members)
{
	uint32_t bits = nbits ? nbits : 1;
	int l = 0;

	do {
		words[l] = (bits + 63) / 64;
		members[l] = n;
		n = (n + 63) / 64;
		bits = words[l++];
	} while (bits > 1 && l < MB_GSET_MAX_LEVELS);
	return l;
}

/* Writes len bytes of ones at off of fd: 0, or -1. */
static int mb_gset_image_ones(int fd, int64_t off, size_t len)
{
	size_t chunk = len < (64u << 10) ? len : 64u << 10;
	unsigned char *buf;

	if (!len)
		return 0;
	buf = malloc(chunk);
	if (!buf)
		return -1;
	memset(buf, 0xff, chunk);
	while (len) {
		ssize_t done = pwrite(fd, buf, len < chunk ? len : chunk, (off_t)off);

		if (done <= 0)
			break;
		off += done;
		len -= (size_t)done;
	}
	free(buf);
	return len ? -1 : 0;
}

/*
 * A fill writes a bit per group in each set it fills, ~45 sets, all with
 * the same members: 48 MiB at 1 PiB, and on some VMs a first write to a
 * page costs more than the write (the fill was 86% of creating 1 PiB).
 * Instead the words are written once, to a memory file, and each fill maps
 * them MAP_PRIVATE: until a writer changes a page, the sets share the
 * file's page (reads fault it in), and the first write to it makes the
 * kernel copy that page for this set only.  Loads and RMWs act on these
 * words exactly as on anonymous memory (the kernel swaps the page under
 * its page-table lock, and the old page is read-only meanwhile, so no
 * write is lost and no reader sees a bit that was never there), so the
 * protocol below is unchanged.  Only the levels mb_zmap maps (from
 * MB_BIGMEM_MIN bytes) are in the file, each at a page-aligned offset;
 * past a level's members the file is a hole, read as zeros.  Best effort:
 * without memfd_create, or on any error, img->fd is -1 and fills store.
 */
void mb_gset_image_open(struct mb_gset_image *img, uint32_t nbits, uint32_t n)
{
	uint32_t words[MB_GSET_MAX_LEVELS], members[MB_GSET_MAX_LEVELS];
	int levels = mb_gset_shape(nbits, n, words, members);
	int64_t page = sysconf(_SC_PAGESIZE), size = 0;

	img->fd = -1;
	img->nbits = nbits;
	img->n = n;
	for (int l = 0; l < MB_GSET_MAX_LEVELS; l++)
		img->off[l] = -1;
#ifdef MFD_CLOEXEC
	if (page <= 0)
		return;
	for (int l = 0; l < levels; l++) {
		uint64_t bytes = (uint64_t)words[l] * sizeof(uint64_t);

		if (bytes < MB_BIGMEM_MIN || !members[l])
			continue;
		img->off[l] = size;
		size += ((int64_t)bytes + page - 1) / page * page;
	}
	if (!size)
		return;
	img->fd = memfd_create("mb_gset_image", MFD_CLOEXEC);
	if (img->fd < 0 || ftruncate(img->fd, (off_t)size))
		goto fail;
	for (int l = 0; l < levels; l++) {
		uint64_t tail = members[l] % 64 ? (1ULL << (members[l] % 64)) - 1 : 0;

		if (img->off[l] < 0)
			continue;
		if (mb_gset_image_ones(img->fd, img->off[l],
				       (size_t)(members[l] / 64) * sizeof(uint64_t)))
			goto fail;
		if (tail && pwrite(img->fd, &tail, sizeof(tail),
				   (off_t)(img->off[l] + members[l] / 64 * sizeof(uint64_t))) !=
				    sizeof(tail))
			goto fail;
	}
	return;
fail:
	mb_gset_image_close(img);
#else
	(void)levels;
	(void)page;
	(void)size;
#endif
}

/* The fills' mappings keep the file: it goes with the last of them. */
void mb_gset_image_close(struct mb_gset_image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
	for (int l = 0; l < MB_GSET_MAX_LEVELS; l++)
		img->off[l] = -1;
}

/*
 * img's level l mapped copy-on-write: anywhere (at NULL), or over [at, at +
 * bytes), page-aligned memory the caller owns and has not published (a
 * failed MAP_FIXED may leave a hole there).  bytes: MB_BIGMEM_MIN or more
 * (the caller frees it with mb_zunmap, which then munmaps), and no more
 * than the level's words rounded up to a page, as the file holds them.
 * NULL when the image has no such level or the mapping fails.
 */
void *mb_gset_image_map(const struct mb_gset_image *img, int l, void *at, size_t bytes)
{
	uint32_t words[MB_GSET_MAX_LEVELS], members[MB_GSET_MAX_LEVELS];
	int64_t page = sysconf(_SC_PAGESIZE);

	if (img->fd < 0 || img->off[l] < 0 || page <= 0 || bytes < MB_BIGMEM_MIN ||
	    (uintptr_t)at % (uint64_t)page)
		return NULL;
	mb_gset_shape(img->nbits, img->n, words, members);
	if (bytes > ((uint64_t)words[l] * sizeof(uint64_t) + (uint64_t)page - 1) /
			    (uint64_t)page * (uint64_t)page)
		return NULL;
	void *p = mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | (at ? MAP_FIXED : 0),
		       img->fd, (off_t)img->off[l]);

	return p == MAP_FAILED ? NULL : p;
}

/* Level l of s becomes img's copy-on-write mapping (s still empty). */
static bool mb_gset_map_level(struct mb_gset *s, int l, const struct mb_gset_image *img)
{
	size_t bytes = (size_t)s->nwords[l] * sizeof(uint64_t);
	void *p = s->lvl[l] == &s->top ? NULL : mb_gset_image_map(img, l, NULL, bytes);

	if (!p)
		return false;
	mb_zunmap((void *)s->lvl[l], bytes);
	s->lvl[l] = p;
	return true;
}

/*
 * Makes groups [0, n) members, summaries included: s must be empty, and
 * not yet shared (volume creation).  img: NULL, or an image of s's size
 * with members [0, n), whose levels are mapped rather than stored (the
 * others, plain stores, O(n / 64)).  Returns the number of levels mapped.
 */
int mb_gset_fill(struct mb_gset *s, uint32_t n, const struct mb_gset_image *img)
{
	int mapped = 0;

	if (img && (img->nbits != s->nbits || img->n != n))
		img = NULL; /* another set's image: not ours to map */
	if (n && s->fam)
		atomic_fetch_or_explicit(s->fam, s->fam_bit, memory_order_relaxed);
	for (int l = 0; l < s->nlevels && n; l++) {
		if (img && mb_gset_map_level(s, l, img)) {
			mapped++;
			n = (n + 63) / 64;
			continue;
		}
		mb_zmap_prefault((void *)s->lvl[l], (n + 63) / 64 * sizeof(uint64_t));
		for (uint32_t w = 0; w < n / 64; w++)
			atomic_store_explicit(&s->lvl[l][w], ~0ULL, memory_order_relaxed);
		if (n % 64)
			atomic_store_explicit(&s->lvl[l][n / 64], (1ULL << (n % 64)) - 1,
					      memory_order_relaxed);
		n = (n + 63) / 64;
	}
	return mapped;
}

/*
 * One thread (gset.h): level 0's word wi was empty and has a member now, or
 * has emptied.  Its summary bit changes, and so on upward while a word
 * changes between empty and not.
 */
void mb_gset_add_one_up(struct mb_gset *s, uint32_t wi)
{
	for (int l = 1; l < s->nlevels; l++, wi >>= 6) {
		_Atomic uint64_t *w = &s->lvl[l][wi >> 6];
		uint64_t old = atomic_load_explicit(w, memory_order_relaxed);

		atomic_store_explicit(w, old | 1ULL << (wi & 63), memory_order_relaxed);
		if (old)
			return; /* the word was non-empty: its summary bit is set */
	}
	if (s->fam) /* the top word was empty */
		atomic_store_explicit(s->fam,
				      atomic_load_explicit(s->fam, memory_order_relaxed) | s->fam_bit,
				      memory_order_relaxed);
}

void mb_gset_del_one_up(struct mb_gset *s, uint32_t wi)
{
	for (int l = 1; l < s->nlevels; l++, wi >>= 6) {
		_Atomic uint64_t *w = &s->lvl[l][wi >> 6];
		uint64_t v = atomic_load_explicit(w, memory_order_relaxed) & ~(1ULL << (wi & 63));

		atomic_store_explicit(w, v, memory_order_relaxed);
		if (v)
			return; /* the word is still non-empty */
	}
	if (s->fam) /* the top word emptied */
		atomic_store_explicit(s->fam,
				      atomic_load_explicit(s->fam, memory_order_relaxed) & ~s->fam_bit,
				      memory_order_relaxed);
}

/*
 * Threads: sets bit i of level l, then, each time the word was empty, its
 * summary bit.  Level 0 relaxed: that bit orders nothing by itself (the
 * summary set after it does).  A summary set (l >= 1, and the family word)
 * is a release, pairing with the acquire clear of a remover
 * (mb_gset_clear_summary) so that the remover's re-check sees the word
 * below non-empty; seq_cst (on x86-64 the same `lock` instruction), as
 * the top word and the family word are written by gset.h's mb_gset_up_mt
 * too, whose protocol needs it (there).
 */
static inline void mb_gset_add_at(struct mb_gset *s, int l, uint32_t i)
{
	for (; l < s->nlevels; l++, i >>= 6) {
		uint64_t old = atomic_fetch_or_explicit(&s->lvl[l][i >> 6], 1ULL << (i & 63),
							l ? memory_order_seq_cst
							  : memory_order_relaxed);

		if (old)
			return; /* the word was non-empty: its summary bit is set */
	}
	if (s->fam) /* the top word was empty */
		atomic_fetch_or_explicit(s->fam, s->fam_bit, memory_order_seq_cst);
}

void mb_gset_add(struct mb_gset *s, uint32_t g)
{
	mb_gset_add_at(s, 0, g);
}

/* Threads, the word's writers excluded (gset.h): level 0's word wi has a
   member now, after none.  Its summary bit as an adder sets it. */
void mb_gset_add_up(struct mb_gset *s, uint32_t wi)
{
	mb_gset_add_at(s, 1, wi);
}

#ifdef MB_TESTING
void (*mb_gset_family_hook)(struct mb_gset *s);
void (*mb_gset_recheck_hook)(struct mb_gset *s, int l);
void (*mb_gset_adder_hook)(struct mb_gset *s);
#endif

/*
 * Threads: word *cur of level l emptied; clears its summary bit pbit in
 * *par (level l + 1; the family word above the top: mb_gset_fam_clear)
 * and re-checks *cur.  Returns whether *par may have emptied too (the caller goes on
 * up).  The clear is an acquire, pairing with the release set of an adder
 * that filled *cur and then set pbit before our clear: the relaxed
 * re-check then sees its member.  Finding one, we set pbit again as an
 * adder would, and own the summary above as an adder does if *par was
 * empty: another remover may have cleared it meanwhile, and the adder
 * whose member we saw may have found pbit already set by us and stopped.
 */
static bool mb_gset_clear_summary(struct mb_gset *s, int l, uint32_t wi, _Atomic uint64_t *cur,
				  _Atomic uint64_t *par, uint64_t pbit)
{
	uint64_t pold = atomic_fetch_and_explicit(par, ~pbit, memory_order_acquire);

#ifdef MB_TESTING
	if (mb_gset_recheck_hook)
		mb_gset_recheck_hook(s, l);
#endif
	if (atomic_load_explicit(cur, memory_order_relaxed)) { /* an adder raced us */
		mb_gset_add_at(s, l + 1, wi);
		return false;
	}
	return !(pold & ~pbit);
}

/* Word g >> 6 of level 0 may have emptied: clear summary bits upward. */
static void mb_gset_del_up(struct mb_gset *s, uint32_t g)
{
	for (int l = 0; l + 1 < s->nlevels; l++) {
		uint32_t wi = g >> (6 * (l + 1)); /* word index at level l */

		if (!mb_gset_clear_summary(s, l, wi, &s->lvl[l][wi], &s->lvl[l + 1][wi >> 6],
					   1ULL << (wi & 63)))
			return;
	}
	if (s->fam) /* the top word emptied */
		mb_gset_fam_clear(s);
}

/*
 * Threads.  Why no summary bit stays clear over a non-empty word W once
 * the writers stop: take the last time W went from empty to non-empty (T).
 * Whoever did T then set W's summary bit with a release RMW (an adder, or
 * a re-checking remover: see mb_gset_clear_summary).  A clear of that bit
 * after our set is made by a remover that emptied W before T (after T, W
 * never empties for good), and its acquire RMW reads from the release
 * sequence of our set (all writes are RMWs), so T happens before its
 * re-check: it sees W non-empty and sets the bit again.  So the last write
 * to the bit sets it.  Level 0 is relaxed: T is ordered by the summary set
 * that follows it, and a remover's own clear there by nothing.
 */
void mb_gset_del(struct mb_gset *s, uint32_t g)
{
	uint64_t bit = 1ULL << (g & 63);
	uint64_t old = atomic_fetch_and_explicit(&s->lvl[0][g >> 6], ~bit, memory_order_relaxed);

	if (old & ~bit)
		return; /* the word is still non-empty */
	mb_gset_del_up(s, g);
}

/* Threads, the word's writers excluded (gset.h): level 0's word wi has
   emptied.  Its summary bit as a remover clears it (the re-check then
   finds no adder of that word, but a higher level's may race). */
void mb_gset_del_up_wi(struct mb_gset *s, uint32_t wi)
{
	mb_gset_del_up(s, wi << 6);
}

/*
 * Threads: a remover saw s's top word empty (gset.h, mb_gset_up_mt's R3 to
 * R5; mb_gset_del_up): the family bit's clear, then a look at the top
 * word, and the bit set again if an adder filled it meanwhile.  Blind
 * RMWs, seq_cst (why: above mb_gset_up_mt); the clear's old value, which
 * mb_gset_clear_summary reads for the level above, has no use here: there
 * is none.
 */
void mb_gset_fam_clear(struct mb_gset *s)
{
#ifdef MB_TESTING
	if (mb_gset_family_hook)
		mb_gset_family_hook(s);
#endif
	atomic_fetch_and_explicit(s->fam, ~s->fam_bit, memory_order_seq_cst); /* R3 */
	if (atomic_load_explicit(&s->top, memory_order_seq_cst)) /* R4: an adder raced us */
		atomic_fetch_or_explicit(s->fam, s->fam_bit, memory_order_seq_cst); /* R5 */
}

bool mb_gset_test(const struct mb_gset *s, uint32_t g)
{
	return (atomic_load_explicit(&s->lvl[0][g >> 6], memory_order_relaxed) >> (g & 63)) & 1;
}

static uint32_t mb_gset_level_bits(const struct mb_gset *s, int l)
{
	return l ? s->nwords[l - 1] : s->nbits;
}

/*
 * mb_gset_next for a set of two levels (65 to 4096 groups: the top is one
 * word, a bit per word of level 0), without the general walk's loops: from's
 * word, else the words the top names past it, in order; a stale top bit
 * (its word found empty) only moves on to the next one, as there.
 */
static uint32_t mb_gset_next2(const struct mb_gset *s, uint32_t from)
{
	if (from >= s->nbits)
		return UINT32_MAX;
	uint32_t wi = from >> 6;
	uint64_t w = atomic_load_explicit(&s->lvl[0][wi], memory_order_relaxed) &
		     (~0ULL << (from & 63));

	if (!w)
		return mb_gset2_next_past(s, wi);
	uint32_t i = wi * 64 + (uint32_t)__builtin_ctzll(w);

	return i < s->nbits ? i : UINT32_MAX;
}

/*
 * The first member under the bits >= i of level l (i below that level's
 * bits): up the levels while i's word there has no bit at or past it,
 * then down through the first set bits.  A stale summary bit (its word
 * found empty on the way down) restarts the search at level 0 past that
 * word: it just moves the search on.  No recursion, no call: a scan asks
 * this once per set it visits.
 */
static uint32_t mb_gset_walk(const struct mb_gset *s, int l, uint32_t i)
{
	uint64_t w;

	for (;;) {
		w = atomic_load_explicit(&s->lvl[l][i >> 6], memory_order_relaxed) &
		    (~0ULL << (i & 63));
		if (w) {
			i = (i & ~63u) + (uint32_t)__builtin_ctzll(w);
			while (l > 0) {
				l--; /* i: a word of level l */
				w = atomic_load_explicit(&s->lvl[l][i], memory_order_relaxed);
				if (!w)
					break; /* stale */
				i = i * 64 + (uint32_t)__builtin_ctzll(w);
			}
			if (w)
				return i < s->nbits ? i : UINT32_MAX;
			/* on past every group under word i of level l */
			uint64_t pos = (uint64_t)(i + 1) << (6 * (l + 1));

			if (pos >= s->nbits)
				return UINT32_MAX;
			i = (uint32_t)pos;
			l = 0;
			continue;
		}
		if (l + 1 == s->nlevels)
			return UINT32_MAX;
		i = (i >> 6) + 1; /* the next word of level l, as a bit of level l + 1 */
		if (i >= mb_gset_level_bits(s, ++l))
			return UINT32_MAX;
	}
}

/* First member >= from. */
uint32_t mb_gset_next(const struct mb_gset *s, uint32_t from)
{
	if (s->nlevels == 2)
		return mb_gset_next2(s, from);
	return from < s->nbits ? mb_gset_walk(s, 0, from) : UINT32_MAX;
}

/* First member in the words of level 0 past word wi (mb_int.h,
   mb_gset_next_past): from level 1's bit wi + 1 on. */
uint32_t mb_gset_next_word_past(const struct mb_gset *s, uint32_t wi)
{
	if (s->nlevels == 1 || wi + 1 >= s->nwords[0])
		return UINT32_MAX;
	return mb_gset_walk(s, 1, wi + 1);
}

/*
 * No summary bit clear over a non-empty word, nor the family bit over a
 * non-empty top (gset.c's invariant), once the writers stop: a check for
 * mb_check, which sees level 0 only through mb_gset_test.  A bit set over
 * an empty word is allowed (stale: it only moves a search on).
 */
bool mb_gset_summaries_ok(const struct mb_gset *s)
{
	for (int l = 0; l + 1 < s->nlevels; l++)
		for (uint32_t i = 0; i < s->nwords[l]; i++)
			if (atomic_load_explicit(&s->lvl[l][i], memory_order_relaxed) &&
			    !((atomic_load_explicit(&s->lvl[l + 1][i >> 6], memory_order_relaxed) >>
			       (i & 63)) & 1))
				return false;
	return !s->fam || !atomic_load_explicit(&s->top, memory_order_relaxed) ||
	       (atomic_load_explicit(s->fam, memory_order_relaxed) & s->fam_bit);
}

uint32_t mb_gset_count(const struct mb_gset *s)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->nwords[0]; i++)
		n += (uint32_t)__builtin_popcountll(atomic_load(&s->lvl[0][i]));
	return n;
}
