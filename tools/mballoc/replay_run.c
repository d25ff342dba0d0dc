/* SPDX-License-Identifier: MIT */
/*
 * replay_run.c - the replay engine: feeds each ext4_request_blocks of a
 * trace to mb_alloc() when its ext4_allocate_blocks arrives (requests pair
 * with results by PID), compares, and in resync mode replaces ours with
 * the kernel's extent.  Around that it keeps the facts the allocator does
 * not decide: each inode's i_size, frees that wait for their jbd2 commit,
 * PA discards and evictions.
 *
 * Kernel and our blocks are tied by a map from the kernel's extents to
 * ours (identity after a resync), so a kernel free frees our blocks of the
 * same allocation, and a request's neighbours and goal are translated into
 * our blocks in free-running mode.  Our blocks beyond the kernel's length
 * ("orphans") are freed with their inode; when ours is shorter, free mode
 * allocates the rest at once, as ext4's caller would ask for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

#define MB_NONE UINT64_MAX

/* ------------------------------------------------------------------------ */
/* A small hash map: uint64 key (never 0) -> pointer                         */
/* ------------------------------------------------------------------------ */

struct mb_hmap {
	uint64_t *keys;
	void **vals;
	uint32_t cap, n;
};

static void **mb_hmap_slot(struct mb_hmap *m, uint64_t key)
{
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (m->cap - 1);

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = key;
	return &m->vals[i];
}

static void *mb_hmap_get(struct mb_hmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (m->cap - 1);

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return m->keys[i] ? m->vals[i] : NULL;
}

static int mb_hmap_put(struct mb_hmap *m, uint64_t key, void *val)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct mb_hmap big = { calloc(m->cap ? m->cap * 2 : 64, sizeof(uint64_t)),
				       calloc(m->cap ? m->cap * 2 : 64, sizeof(void *)),
				       m->cap ? m->cap * 2 : 64, m->n };

		if (!big.keys || !big.vals) {
			free(big.keys);
			free(big.vals);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < m->cap; i++)
			if (m->keys[i])
				*mb_hmap_slot(&big, m->keys[i]) = m->vals[i];
		free(m->keys);
		free(m->vals);
		*m = big;
	}
	void **slot = mb_hmap_slot(m, key);

	m->n += !*slot;
	*slot = val;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* State                                                                     */
/* ------------------------------------------------------------------------ */

struct mb_rext {
	uint64_t start, len;
};

struct mb_rino {
	struct mb_file *f; /* NULL until a data request, and after eviction */
	uint64_t isize;    /* bytes */
	uint64_t falloc_target;
	bool in_falloc;
	struct mb_rext *orphans; /* our blocks with no kernel counterpart */
	uint32_t norphans, cap;
};

/* A request waiting for its result (one per PID). */
struct mb_rpend {
	struct mb_tev req;
	uint64_t isize; /* bytes, as the request saw it */
	bool falloc;    /* made inside a size-changing fallocate */
	bool k_pa, k_search, k_new_ipa, k_new_gpa;
	uint64_t kpa_pstart, kpa_lstart, kpa_len; /* the PA it made (ext4_mb_new_*_pa) */
	struct mb_tev kmb; /* the kernel's ext4_mballoc_alloc */
	char kline[MB_REPLAY_TEXT];
};

/* Kernel extent -> our extent of the same allocation (ostart MB_NONE: none). */
struct mb_rmapx {
	uint64_t kstart, ostart, len;
};

struct mb_rfree {
	uint64_t start, len, tid; /* tid 0: the running transaction */
};

struct mb_replay {
	struct mb_volume *vol;
	const struct mb_rimage *img;
	const struct mb_replay_opts *o;
	struct mb_replay_result *res;
	struct mb_hmap inodes, pend;
	struct mb_rmapx *map;
	size_t nmap, capmap;
	struct mb_rfree *frees;
	size_t nfrees, capfrees;
	const char *line; /* the line being processed */
	struct mb_rcpu *cpus; /* NULL: never pin */
};

static int mb_grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;

	while (nc < need)
		nc *= 2;
	void *p = realloc(*arr, nc * size);

	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

static struct mb_rino *mb_rp_inode(struct mb_replay *rp, uint64_t ino)
{
	struct mb_rino *in = mb_hmap_get(&rp->inodes, ino + 1);

	if (in)
		return in;
	in = calloc(1, sizeof(*in));
	if (in && mb_hmap_put(&rp->inodes, ino + 1, in)) {
		free(in);
		in = NULL;
	}
	return in;
}

/* ------------------------------------------------------------------------ */
/* The extent map                                                            */
/* ------------------------------------------------------------------------ */

/* Index of the first map entry ending after block b. */
static size_t mb_rmap_find(const struct mb_replay *rp, uint64_t b)
{
	size_t lo = 0, hi = rp->nmap;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (rp->map[mid].kstart + rp->map[mid].len <= b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int mb_rmap_insert(struct mb_replay *rp, uint64_t kstart, uint64_t ostart, uint64_t len)
{
	if (!len)
		return 0;
	if (mb_grow((void **)&rp->map, &rp->capmap, rp->nmap + 1, sizeof(*rp->map)))
		return -ENOMEM;
	size_t i = mb_rmap_find(rp, kstart);

	memmove(&rp->map[i + 1], &rp->map[i], (rp->nmap - i) * sizeof(*rp->map));
	rp->map[i] = (struct mb_rmapx){ kstart, ostart, len };
	rp->nmap++;
	return 0;
}

/* Our block for kernel block k, or MB_NONE. */
static uint64_t mb_rmap_k2o(const struct mb_replay *rp, uint64_t k)
{
	size_t i = mb_rmap_find(rp, k);

	if (i == rp->nmap || rp->map[i].kstart > k || rp->map[i].ostart == MB_NONE)
		return MB_NONE;
	return rp->map[i].ostart + (k - rp->map[i].kstart);
}

/* ------------------------------------------------------------------------ */
/* Frees and the journal                                                     */
/* ------------------------------------------------------------------------ */

/* Our blocks freed in the running transaction: reusable after its commit. */
static int mb_rp_queue_free(struct mb_replay *rp, uint64_t start, uint64_t len)
{
	if (!len)
		return 0;
	if (mb_grow((void **)&rp->frees, &rp->capfrees, rp->nfrees + 1, sizeof(*rp->frees)))
		return -ENOMEM;
	rp->frees[rp->nfrees++] = (struct mb_rfree){ start, len, 0 };
	return 0;
}

/* Cuts [x, y) out of map entry i; returns the index after what is left. */
static size_t mb_rmap_cut(struct mb_replay *rp, size_t i, uint64_t x, uint64_t y)
{
	struct mb_rmapx m = rp->map[i];
	uint64_t llen = x - m.kstart, rlen = m.kstart + m.len - y;
	struct mb_rmapx right = { y, m.ostart == MB_NONE ? MB_NONE : m.ostart + (y - m.kstart),
				  rlen };

	if (llen && rlen) {
		if (mb_grow((void **)&rp->map, &rp->capmap, rp->nmap + 1, sizeof(*rp->map)))
			return i + 1; /* out of memory: keep the entry whole */
		memmove(&rp->map[i + 2], &rp->map[i + 1], (rp->nmap - i - 1) * sizeof(*rp->map));
		rp->nmap++;
		rp->map[i].len = llen;
		rp->map[i + 1] = right;
		return i + 2;
	}
	if (llen) {
		rp->map[i].len = llen;
		return i + 1;
	}
	if (rlen) {
		rp->map[i] = right;
		return i + 1;
	}
	memmove(&rp->map[i], &rp->map[i + 1], (rp->nmap - i - 1) * sizeof(*rp->map));
	rp->nmap--;
	return i;
}

/* The kernel freed [b, b + n): free our blocks of the same allocations (blocks
 * that were in use before the trace began are the same in both). */
static int mb_rp_kernel_free(struct mb_replay *rp, uint64_t b, uint64_t n)
{
	uint64_t end = b + n, cur = b;
	size_t i = mb_rmap_find(rp, b);
	int err = 0;

	while (cur < end && !err) {
		if (i == rp->nmap || rp->map[i].kstart >= end)
			return mb_rp_queue_free(rp, cur, end - cur);
		struct mb_rmapx m = rp->map[i];

		if (m.kstart > cur) {
			err = mb_rp_queue_free(rp, cur, m.kstart - cur);
			cur = m.kstart;
		}
		uint64_t y = end < m.kstart + m.len ? end : m.kstart + m.len;

		if (!err && m.ostart != MB_NONE)
			err = mb_rp_queue_free(rp, m.ostart + (cur - m.kstart), y - cur);
		i = mb_rmap_cut(rp, i, cur, y);
		cur = y;
	}
	return err;
}

/* Frees of transactions up to tid (all when tid is MB_NONE) take effect. */
static void mb_rp_apply_frees(struct mb_replay *rp, uint64_t tid)
{
	size_t j = 0;

	for (size_t i = 0; i < rp->nfrees; i++) {
		struct mb_rfree *f = &rp->frees[i];

		if (tid != MB_NONE && (!f->tid || f->tid > tid)) {
			rp->frees[j++] = *f;
			continue;
		}
		if (mb_free(rp->vol, f->start, f->len))
			rp->res->free_errors++;
	}
	rp->nfrees = j;
}

/* jbd2_commit_flushing T: frees logged so far belong to T. */
static void mb_rp_commit_flushing(struct mb_replay *rp, uint64_t tid)
{
	for (size_t i = 0; i < rp->nfrees; i++)
		if (!rp->frees[i].tid)
			rp->frees[i].tid = tid ? tid : 1;
}

static int mb_rp_free_orphans(struct mb_replay *rp, struct mb_rino *in)
{
	int err = 0;

	for (uint32_t i = 0; i < in->norphans && !err; i++)
		err = mb_rp_queue_free(rp, in->orphans[i].start, in->orphans[i].len);
	in->norphans = 0;
	return err;
}

static int mb_rp_add_orphan(struct mb_rino *in, uint64_t start, uint64_t len)
{
	size_t cap = in->cap;

	if (mb_grow((void **)&in->orphans, &cap, in->norphans + 1, sizeof(*in->orphans)))
		return -ENOMEM;
	in->cap = (uint32_t)cap;
	in->orphans[in->norphans++] = (struct mb_rext){ start, len };
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */
/* ------------------------------------------------------------------------ */

/* How we served a request, from the statistics it moved. */
static void mb_rp_ours_path(const struct mb_stats *a, const struct mb_stats *b, char *buf,
			    size_t len)
{
	const char *path = "?";

	if (b->pa_hits > a->pa_hits)
		path = "PA";
	else if (b->goal_hits > a->goal_hits)
		path = "goal";
	else
		for (int cr = 0; cr < MB_NUM_CRS; cr++)
			if (b->cr[cr].hits > a->cr[cr].hits)
				path = mb_criteria_name(cr);
	snprintf(buf, len, "%s%s", path, b->preallocated > a->preallocated ? "+newPA" : "");
}

static const char *mb_rp_kernel_path(const struct mb_rpend *p)
{
	if (p->k_pa)
		return "PA";
	if (!p->k_search)
		return "?";
	return p->kmb.grps == 0 ? "goal" : p->kmb.cr;
}

static struct mb_rkind *mb_rp_kind_slot(struct mb_replay_result *res, const char *name,
					uint32_t cap)
{
	for (uint32_t i = 0; i < res->nkinds; i++)
		if (!strcmp(res->kinds[i].name, name))
			return &res->kinds[i];
	if (res->nkinds >= cap)
		name = "other (kind table full)";
	for (uint32_t i = 0; i < res->nkinds; i++)
		if (!strcmp(res->kinds[i].name, name))
			return &res->kinds[i];
	size_t c = res->cap_kinds;

	if (mb_grow((void **)&res->kinds, &c, res->nkinds + 1, sizeof(*res->kinds)))
		return NULL;
	res->cap_kinds = (uint32_t)c;
	struct mb_rkind *k = &res->kinds[res->nkinds++];

	*k = (struct mb_rkind){ .count = 0 };
	snprintf(k->name, sizeof(k->name), "%s", name);
	return k;
}

/* Files a divergence under its kind: what served it on each side (with the
 * flags the kernel added and the PA it made) and what differs. */
static void mb_rp_classify(struct mb_replay *rp, const struct mb_rpend *p, const struct mb_tev *r,
			   int rc, const struct mb_extent *ex, const char *ours, uint64_t idx)
{
	const struct mb_volume *vol = rp->vol;
	uint32_t bpg = rp->img->geo.blocks_per_group, fdb = rp->img->geo.first_data_block;
	bool added_nopa = p->k_search && (p->kmb.mflags & MB_EXT4_HINT_NOPREALLOC) &&
			  !(p->req.flags & MB_EXT4_HINT_NOPREALLOC);
	const char *diff = rc ? "ours failed" :
			   !r->len ? "kernel failed" :
			   ex->start == r->block ? "length differs" :
			   (ex->start - fdb) / bpg == (r->block - fdb) / bpg ? "start differs, same group" :
										 "other group";
	char name[128];

	(void)vol;
	int n = snprintf(name, sizeof(name), "%s kernel:%s%s%s%s ours:%s | %s",
		 !(p->req.flags & MB_EXT4_HINT_DATA)       ? "meta" :
		 (p->req.flags & MB_EXT4_HINT_NOPREALLOC) ? "data,noprealloc" : "data",
		 mb_rp_kernel_path(p),
		 p->k_new_ipa ? "+newPA(inode)" : p->k_new_gpa ? "+newPA(group)" : "",
		 added_nopa ? "+NOPREALLOC" : "",
		 p->k_search && (p->kmb.mflags & MB_EXT4_STREAM_ALLOC) ? "+stream" : "", ours, diff);

	if (n < 0)
		return;
	struct mb_rkind *k = mb_rp_kind_slot(rp->res, name, rp->o->ex_cap);

	if (!k || k->count++)
		return;
	k->first_req = idx;
	snprintf(k->kernel, sizeof(k->kernel), "%s", p->kline);
	if (rc)
		snprintf(k->ours, sizeof(k->ours), "mb_alloc: %s (kernel: block %llu len %llu)",
			 strerror(-rc), (unsigned long long)r->block, (unsigned long long)r->len);
	else
		snprintf(k->ours, sizeof(k->ours),
			 "block %llu len %u = %llu/%llu/%u via %s (kernel: block %llu len %llu)",
			 (unsigned long long)ex->start, ex->len,
			 (unsigned long long)((ex->start - fdb) / bpg),
			 (unsigned long long)((ex->start - fdb) % bpg), ex->len, ours,
			 (unsigned long long)r->block, (unsigned long long)r->len);
}

/* The request as our caller would make it: neighbours and a goal derived
 * from them are moved onto our blocks (the identity after a resync). */
static void mb_rp_build(struct mb_replay *rp, const struct mb_rpend *p, struct mb_request *rq)
{
	const struct mb_tev *e = &p->req;
	const struct mb_geometry *geo = &rp->img->geo;
	uint64_t pl = e->pleft ? mb_rmap_k2o(rp, e->pleft) : 0;
	uint64_t pr = e->pright ? mb_rmap_k2o(rp, e->pright) : 0;
	uint64_t goal = e->goal, o;

	/* the request names its trace CPU (its locality group), pinned or not */
	*rq = (struct mb_request){ .logical = e->lblk, .len = e->len ? (uint32_t)e->len : 1,
				   .flags = (e->flags & MB_HINT_PUBLIC_MASK) | MB_REQ_CPU,
				   .cpu = e->cpu >= 0 ? (uint32_t)e->cpu : MB_CPU_CURRENT,
				   .lleft = e->lleft, .lright = e->lright };
	rq->pleft = pl == MB_NONE ? 0 : pl;
	rq->pright = pr == MB_NONE ? 0 : pr;
	if (e->pleft && e->lblk > e->lleft && goal == e->pleft + (e->lblk - e->lleft))
		goal = rq->pleft ? rq->pleft + (e->lblk - e->lleft) : goal;
	else if ((o = mb_rmap_k2o(rp, goal)) != MB_NONE)
		goal = o;
	if (goal >= geo->blocks_count || goal < geo->first_data_block)
		goal = geo->first_data_block;
	rq->goal = goal;
	if (e->len > UINT32_MAX)
		rq->len = UINT32_MAX;
}

/* Ties our extent(s) to the kernel's [k, k + klen); free mode asks for the
 * rest when ours is shorter, as ext4's caller would. */
static int mb_rp_tie(struct mb_replay *rp, struct mb_rino *in, struct mb_request rq, int cpu,
		     uint64_t k, uint64_t klen, struct mb_extent ex, bool have)
{
	bool pinned;
	int err = 0;

	for (int round = 0; klen && !err; round++) {
		if (!have || round > 64)
			return mb_rmap_insert(rp, k, MB_NONE, klen);
		uint64_t n = ex.len < klen ? ex.len : klen;

		err = mb_rmap_insert(rp, k, ex.start, n);
		if (!err && ex.len > klen)
			err = mb_rp_add_orphan(in, ex.start + klen, ex.len - klen);
		k += n;
		klen -= n;
		if (!klen || err)
			break;
		rq.logical += n;
		rq.len = (uint32_t)klen;
		rq.lleft = rq.logical - 1;
		rq.pleft = ex.start + n - 1;
		rq.goal = ex.start + n < rp->img->geo.blocks_count ? ex.start + n
								   : rp->img->geo.first_data_block;
		have = mb_rcpu_alloc(rp->cpus, cpu, rp->vol, &rq, &ex, &pinned) == 0;
	}
	return err;
}

/* Resync: our extent goes back, the kernel's is marked used.  If our PAs
 * hold part of it, the file's and then every PA are dropped first. */
static bool mb_rp_resync(struct mb_replay *rp, struct mb_rino *in, int rc,
			 const struct mb_extent *ex, uint64_t k, uint64_t klen)
{
	struct mb_volume *vol = rp->vol;

	if (!rc && mb_free(vol, ex->start, ex->len))
		rp->res->free_errors++;
	int err = mb_mark_used(vol, k, klen);

	if (err == -EEXIST && in->f && mb_file_discard(in->f) > 0)
		err = mb_mark_used(vol, k, klen);
	if (err == -EEXIST && mb_discard_all(vol) > 0) {
		rp->res->resync_pa_discards++;
		err = mb_mark_used(vol, k, klen);
	}
	if (!err) {
		rp->res->replaced++;
		return true;
	}
	rp->res->resync_conflicts++;
	if (!rc && mb_mark_used(vol, ex->start, ex->len))
		rp->res->free_errors++;
	return false;
}

static struct mb_file *mb_rp_file(struct mb_replay *rp, struct mb_rino *in, uint64_t ino,
				  uint64_t isize)
{
	uint32_t bs = rp->img->geo.block_size;

	if (!in->f && mb_file_open(rp->vol, ino, &in->f))
		return NULL;
	mb_file_set_size(in->f, (isize + bs - 1) / bs);
	return in->f;
}

/*
 * Whether the file was open for write at request p.  No event prints an
 * open or a close, and ext4_discard_preallocations at release fires only
 * when no delalloc block is reserved, which misses exactly the common case
 * (write, close, writeback later).  But the kernel's own flags reveal it
 * wherever it matters (issue 11 allows that fact): in 6.18 only
 * ext4_mb_group_or_file adds HINT_NOPREALLOC, and only for a request that
 * ends at i_size of a file not open for write (on a volume not busy).
 * Elsewhere the file counts as open, which decides nothing: a closed file
 * is refused only the inode PA of a request ending at i_size.
 */
static bool mb_rp_closed_for_write(const struct mb_rpend *p)
{
	return p->k_search && (p->kmb.mflags & MB_EXT4_HINT_NOPREALLOC) &&
	       !(p->req.flags & MB_EXT4_HINT_NOPREALLOC);
}

/* Resync, allocator state: a kernel stream allocation moved its stream
 * goal to the group of its result (ext4_mb_use_best_found); ours follows. */
static void mb_rp_resync_stream_goal(struct mb_replay *rp, const struct mb_rpend *p,
				     const struct mb_tev *r)
{
	const struct mb_geometry *geo = &rp->img->geo;

	if (rp->o->mode != MB_REPLAY_RESYNC || !p->k_search ||
	    !(p->kmb.mflags & MB_EXT4_STREAM_ALLOC) || !r->len || r->block < geo->first_data_block)
		return;
	mb_stream_goal_set(rp->vol, p->req.ino,
			   (uint32_t)((r->block - geo->first_data_block) / geo->blocks_per_group));
}

/*
 * Resync, preallocation state (before the extent's resync): when this
 * request made a PA on either side and they differ, ours goes and the
 * kernel's is imposed (mb_prealloc_add), so later requests are served from
 * the kernel's PAs.  made: blocks of our find when we made a PA (mb_stats'
 * preallocated), 0 if none.  Ours is recognized by the blocks around our
 * extent: an inode PA holds its first block, a group PA starts right after
 * it.  The kernel's PA is added once its extent is marked (pa_impose).
 */
static void mb_rp_pa_drop_ours(struct mb_replay *rp, const struct mb_rpend *p,
			       struct mb_rino *in, const struct mb_tev *r, int rc,
			       const struct mb_extent *ex, uint64_t made)
{
	bool kmade = p->k_new_ipa || p->k_new_gpa;
	bool same = !rc && kmade && ex->start == r->block && ex->len == r->len &&
		    made == p->kpa_len;

	if (rp->o->mode != MB_REPLAY_RESYNC || rp->o->no_pa_resync || same || (!kmade && !made))
		return;
	rp->res->pa_resyncs++;
	if (made && !rc && in->f && mb_prealloc_discard_at(rp->vol, in->f, ex->start) <= 0)
		mb_prealloc_discard_at(rp->vol, NULL, ex->start + ex->len);
}

static void mb_rp_pa_impose(struct mb_replay *rp, const struct mb_rpend *p, struct mb_rino *in)
{
	bool inode = p->k_new_ipa;
	int err;

	if (!(p->k_new_ipa || p->k_new_gpa) || !p->kpa_len || p->kpa_len > UINT32_MAX)
		return;
	err = mb_prealloc_add(rp->vol, inode ? in->f : NULL, (uint32_t)p->req.cpu,
			      p->kpa_pstart, p->kpa_lstart, (uint32_t)p->kpa_len);
	if (err == -EEXIST && inode && in->f && mb_file_discard(in->f) > 0)
		err = mb_prealloc_add(rp->vol, in->f, 0, p->kpa_pstart, p->kpa_lstart,
				      (uint32_t)p->kpa_len);
	if (err == -EEXIST && mb_discard_all(rp->vol) > 0)
		err = mb_prealloc_add(rp->vol, inode ? in->f : NULL, (uint32_t)p->req.cpu,
				      p->kpa_pstart, p->kpa_lstart, (uint32_t)p->kpa_len);
	rp->res->pa_resync_conflicts += err != 0;
}

/* ext4_allocate_blocks r ends the request p: ours, compared, placed. */
static int mb_rp_result(struct mb_replay *rp, struct mb_rpend *p, const struct mb_tev *r)
{
	struct mb_replay_result *res = rp->res;
	struct mb_rino *in = mb_rp_inode(rp, p->req.ino);
	struct mb_request rq;
	struct mb_extent ex = { 0 };
	struct mb_stats a, b;
	char ours[48];
	uint64_t idx = res->requests++;
	uint32_t bpg = rp->img->geo.blocks_per_group, fdb = rp->img->geo.first_data_block;

	if (!in)
		return -ENOMEM;
	mb_rp_build(rp, p, &rq);
	if (p->req.flags & MB_EXT4_HINT_DATA) {
		rq.file = mb_rp_file(rp, in, p->req.ino, p->isize);
		if (rq.file) {
			bool closed = mb_rp_closed_for_write(p);

			mb_file_set_open_for_write(rq.file, !closed);
			res->closed_for_write += closed;
		}
		/* Writeback never maps past i_size (fallocate does, then moves
		   it): a request that ends beyond the size we followed saw a size
		   no event printed (an extending truncate, say). */
		uint64_t bs = rp->img->geo.block_size;

		res->beyond_isize += !p->falloc && (p->req.lblk + p->req.len - 1) * bs >= p->isize;
	}
	mb_stats_get(rp->vol, &a);
	bool pinned;
	int rc = mb_rcpu_alloc(rp->cpus, p->req.cpu, rp->vol, &rq, &ex, &pinned);

	mb_stats_get(rp->vol, &b);
	mb_rp_ours_path(&a, &b, ours, sizeof(ours));
	res->cpu_pinned += pinned;
	res->ours_failed += rc != 0;
	res->kernel_failed += r->len == 0;
	res->cpu_max = (uint64_t)p->req.cpu > res->cpu_max ? (uint64_t)p->req.cpu : res->cpu_max;
	bool exact = !rc && ex.start == r->block && ex.len == r->len;

	res->exact += exact;
	res->same_group += !rc && r->len && (ex.start - fdb) / bpg == (r->block - fdb) / bpg;
	if (!exact) {
		if (res->first_divergence < 0)
			res->first_divergence = (int64_t)idx;
		mb_rp_classify(rp, p, r, rc, &ex, ours, idx);
	}
	if (!r->len)
		return rc ? 0 : mb_rp_add_orphan(in, ex.start, ex.len);
	uint64_t pa_before = res->pa_resyncs;

	mb_rp_pa_drop_ours(rp, p, in, r, rc, &ex, b.preallocated - a.preallocated);
	if (exact || (rp->o->mode == MB_REPLAY_RESYNC && mb_rp_resync(rp, in, rc, &ex, r->block,
								       r->len))) {
		if (res->pa_resyncs != pa_before)
			mb_rp_pa_impose(rp, p, in);
		mb_rp_resync_stream_goal(rp, p, r);
		return mb_rmap_insert(rp, r->block, r->block, r->len);
	}
	return mb_rp_tie(rp, in, rq, p->req.cpu, r->block, r->len, ex, rc == 0);
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

static struct mb_rpend *mb_rp_pending(struct mb_replay *rp, uint32_t pid, bool create)
{
	struct mb_rpend *p = mb_hmap_get(&rp->pend, (uint64_t)pid + 1);

	if (p || !create)
		return p;
	p = calloc(1, sizeof(*p));
	if (p && mb_hmap_put(&rp->pend, (uint64_t)pid + 1, p)) {
		free(p);
		p = NULL;
	}
	return p;
}

/* i_size as a request inside a size-changing fallocate sees it. */
static uint64_t mb_rp_isize(const struct mb_replay *rp, const struct mb_rino *in, uint64_t lblk)
{
	if (!in->in_falloc)
		return in->isize;
	uint64_t at = lblk * rp->img->geo.block_size;
	uint64_t seen = at < in->falloc_target ? at : in->falloc_target;

	return seen > in->isize ? seen : in->isize;
}

static void mb_rp_keep_line(struct mb_rpend *p, const char *line)
{
	const char *s = strstr(line, ": ext4_");

	snprintf(p->kline, sizeof(p->kline), "%.*s", (int)strcspn(s ? s + 2 : line, "\r\n"),
		 s ? s + 2 : line);
}

/* Request-side events: the request, and the kernel's decision lines. */
static int mb_rp_request_event(struct mb_replay *rp, const struct mb_tev *ev)
{
	struct mb_rpend *p = mb_rp_pending(rp, ev->pid, ev->kind == MB_TEV_REQUEST);
	struct mb_rino *in;

	if (!p)
		return ev->kind == MB_TEV_REQUEST ? -ENOMEM : 0;
	switch (ev->kind) {
	case MB_TEV_REQUEST:
		if (p->req.kind == MB_TEV_REQUEST)
			rp->res->unmatched++; /* the previous one never got its result */
		if (!(in = mb_rp_inode(rp, ev->ino)))
			return -ENOMEM;
		*p = (struct mb_rpend){ .req = *ev, .isize = mb_rp_isize(rp, in, ev->lblk),
					.falloc = in->in_falloc };
		snprintf(p->kline, sizeof(p->kline), "(no ext4_mballoc_alloc line)");
		return 0;
	case MB_TEV_MBALLOC:
		p->k_search = true;
		p->kmb = *ev;
		break;
	case MB_TEV_PREALLOC: p->k_pa = true; break;
	case MB_TEV_NEW_INODE_PA:
	case MB_TEV_NEW_GROUP_PA:
		p->k_new_ipa = ev->kind == MB_TEV_NEW_INODE_PA;
		p->k_new_gpa = ev->kind == MB_TEV_NEW_GROUP_PA;
		p->kpa_pstart = ev->block;
		p->kpa_lstart = ev->lblk;
		p->kpa_len = ev->len;
		return 0;
	default: return 0;
	}
	mb_rp_keep_line(p, rp->line);
	return 0;
}

static int mb_rp_on_result(struct mb_replay *rp, const struct mb_tev *ev)
{
	struct mb_rpend *p = mb_rp_pending(rp, ev->pid, false);

	if (!p || p->req.kind != MB_TEV_REQUEST || p->req.ino != ev->ino ||
	    p->req.lblk != ev->lblk) {
		rp->res->unmatched++;
		return 0;
	}
	p->req.kind = MB_TEV_OTHER; /* consumed */
	return mb_rp_result(rp, p, ev);
}

static int mb_rp_mb_free(struct mb_replay *rp, const struct mb_tev *ev)
{
	const struct mb_geometry *geo = &rp->img->geo;
	uint64_t b = geo->first_data_block + ev->res.group * geo->blocks_per_group;

	if (ev->res.start < 0 || ev->res.group >= rp->img->groups || !ev->res.len ||
	    ev->res.len > geo->blocks_per_group ||
	    (uint64_t)ev->res.start + ev->res.len > geo->blocks_per_group ||
	    b + (uint64_t)ev->res.start + ev->res.len > geo->blocks_count) {
		rp->res->trace.malformed++;
		return 0;
	}
	rp->res->frees++;
	rp->res->free_blocks += ev->res.len;
	return mb_rp_kernel_free(rp, b + (uint64_t)ev->res.start, ev->res.len);
}

/* Inode life: a new incarnation starts empty; freeing or evicting it drops
 * our PAs (ext4 discards them at evict). */
static int mb_rp_inode_event(struct mb_replay *rp, const struct mb_tev *ev, struct mb_rino *in)
{
	int err = 0;

	switch (ev->kind) {
	case MB_TEV_NEW_INODE:
	case MB_TEV_FREE_INODE:
		rp->res->inode_frees += ev->kind == MB_TEV_FREE_INODE;
		err = mb_rp_free_orphans(rp, in);
		/* fall through */
	case MB_TEV_EVICT:
		rp->res->evictions += ev->kind == MB_TEV_EVICT;
		if (in->f)
			mb_file_close(in->f);
		in->f = NULL;
		if (ev->kind != MB_TEV_EVICT)
			in->isize = 0, in->in_falloc = false;
		return err;
	case MB_TEV_DISCARD_PA:
	case MB_TEV_RELEASE_INODE_PA:
		/* A release follows its inode's discard (a no-op then), or comes
		   alone from ext4's ENOSPC path: either way the file's PAs go. */
		rp->res->discards += ev->kind == MB_TEV_DISCARD_PA;
		if (in->f)
			mb_file_discard(in->f);
		return 0;
	default: return 0;
	}
}

/* i_size from writes, fallocate and truncate (README "i_size"). */
static int mb_rp_size_event(struct mb_replay *rp, const struct mb_tev *ev, struct mb_rino *in)
{
	switch (ev->kind) {
	case MB_TEV_WRITE_END: in->isize = ev->a > in->isize ? ev->a : in->isize; break;
	case MB_TEV_FALLOC_ENTER:
		in->in_falloc = !ev->keep_size;
		in->falloc_target = ev->a;
		break;
	case MB_TEV_FALLOC_EXIT:
		if (in->in_falloc && ev->ret == 0 && in->falloc_target > in->isize)
			in->isize = in->falloc_target;
		in->in_falloc = false;
		break;
	case MB_TEV_COLLAPSE: in->isize = in->isize > ev->a ? in->isize - ev->a : 0; break;
	case MB_TEV_INSERT: in->isize += ev->a; break;
	case MB_TEV_TRUNCATE:
		in->isize = ev->a;
		return ev->a ? 0 : mb_rp_free_orphans(rp, in);
	default: return mb_rp_inode_event(rp, ev, in);
	}
	return 0;
}

static int mb_rp_event(struct mb_replay *rp, const struct mb_tev *ev)
{
	struct mb_rino *in;

	switch (ev->kind) {
	case MB_TEV_OTHER:
	case MB_TEV_RELEASE_GROUP_PA: return 0; /* our group PAs live by our rules */
	case MB_TEV_REQUEST:
	case MB_TEV_MBALLOC:
	case MB_TEV_PREALLOC:
	case MB_TEV_NEW_INODE_PA:
	case MB_TEV_NEW_GROUP_PA: return mb_rp_request_event(rp, ev);
	case MB_TEV_ALLOCATED: return mb_rp_on_result(rp, ev);
	case MB_TEV_MB_FREE: return mb_rp_mb_free(rp, ev);
	case MB_TEV_COMMIT_FLUSHING: mb_rp_commit_flushing(rp, ev->a); return 0;
	case MB_TEV_END_COMMIT:
		rp->res->commits++;
		mb_rp_apply_frees(rp, ev->a ? ev->a : 1);
		return 0;
	default:
		if (!(in = mb_rp_inode(rp, ev->ino)))
			return -ENOMEM;
		return mb_rp_size_event(rp, ev, in);
	}
}

static void mb_rp_destroy(struct mb_replay *rp)
{
	for (uint32_t i = 0; i < rp->inodes.cap; i++) {
		struct mb_rino *in = rp->inodes.vals ? rp->inodes.vals[i] : NULL;

		if (rp->inodes.keys[i] && in) {
			if (in->f)
				mb_file_close(in->f);
			free(in->orphans);
			free(in);
		}
	}
	for (uint32_t i = 0; i < rp->pend.cap; i++)
		if (rp->pend.keys[i])
			free(rp->pend.vals[i]);
	free(rp->inodes.keys);
	free(rp->inodes.vals);
	free(rp->pend.keys);
	free(rp->pend.vals);
	free(rp->map);
	free(rp->frees);
}

int mb_replay_run(struct mb_volume *vol, const struct mb_rimage *img, FILE *f,
		  const struct mb_replay_opts *o, struct mb_replay_result *res)
{
	struct mb_trace_reader r = { .f = f };
	struct mb_replay rp = { .vol = vol, .img = img, .o = o, .res = res, .line = r.line };
	struct mb_tev ev;
	int rc, err = 0;

	*res = (struct mb_replay_result){ .first_divergence = -1 };
	if (!o->no_pin && mb_rcpu_init(&rp.cpus))
		return -ENOMEM;
	if (!o->fast_paths) /* path labels and PA resync read the counters */
		mb_tunable_set(vol, "mb_stats", 1);
	while (!err && (rc = mb_trace_next(&r, &ev)) > 0)
		err = mb_rp_event(&rp, &ev);
	if (!err && rc < 0)
		err = rc;
	for (uint32_t i = 0; i < rp.pend.cap; i++) {
		struct mb_rpend *p = rp.pend.keys[i] ? rp.pend.vals[i] : NULL;

		res->unmatched += p && p->req.kind == MB_TEV_REQUEST;
	}
	mb_stats_get(vol, &res->stats);
	/* As at unmount: every free committed, every PA released. */
	mb_rp_apply_frees(&rp, MB_NONE);
	mb_rp_destroy(&rp);
	mb_rcpu_destroy(rp.cpus);
	mb_discard_all(vol);
	uint64_t bad = res->trace.malformed; /* mb_rp_mb_free's */

	res->trace = r.n;
	res->trace.malformed += bad;
	return err;
}

void mb_replay_result_free(struct mb_replay_result *res)
{
	free(res->kinds);
	res->kinds = NULL;
}
