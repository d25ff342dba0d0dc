/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ops.c - libFuzzer target over sequences of API calls.  The input
 * picks a small volume (in memory, or persistent on a memory device that
 * survives close and "crash" so the volume can be reopened) and then a
 * sequence of operations whose every argument is drawn from hostile
 * distributions: requests with wrapping logicals, out-of-volume neighbours,
 * any flag bits and huge lengths; frees of arbitrary ranges; trims; file
 * open/close/discard/set_size; discard_all; commits; reopen; constrained
 * allocations, vectors and the largest-extent query with hostile
 * constraints; reservations, their release and statfs.
 *
 * A model follows along: a shadow bitmap of the blocks the library handed
 * out (on-disk terms) and their count.  After every call the library's
 * answer must agree with it -- an extent inside the volume's data area and
 * not already allocated, mb_free succeeding exactly when the whole range is
 * allocated, mb_free_blocks() and mb_allocated_blocks() exact, -ENOSPC only
 * when nothing is free, a request outside the header's valid ranges
 * rejected with -EINVAL and a valid one never -- and mb_check() is clean.
 * A violation calls abort().  tests/fuzz/corpus_ops/ is replayed in every
 * build by fuzz_ops_regression.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_test_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_BLOCKS 2048
#define FZ_MAX_FILES 4
#define FZ_MAX_EXTENTS 64
#define FZ_MAX_OPS 200

#define FZ_REQUIRE(c)                                                                              \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Input decoding                                                            */
/* ------------------------------------------------------------------------ */

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static uint64_t fz_bytes(struct fz_in *in, int k)
{
	uint64_t v = 0;

	for (int i = 0; i < k && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

static uint8_t fz_u8(struct fz_in *in)
{
	return (uint8_t)fz_bytes(in, 1);
}

/* ------------------------------------------------------------------------ */
/* A memory device that outlives the volume (close frees only the handle)    */
/* ------------------------------------------------------------------------ */

static uint8_t *fz_img;
static size_t fz_img_size;

static int fz_dev_read(struct mb_dev *dev, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, fz_img + off, len);
	return 0;
}

static int fz_dev_write(struct mb_dev *dev, uint64_t off, const void *buf, size_t len)
{
	memcpy(fz_img + off, buf, len);
	return 0;
}

static int fz_dev_sync(struct mb_dev *dev)
{
	return 0;
}

static void fz_dev_close(struct mb_dev *dev)
{
	free(dev);
}

static const struct mb_dev_ops fz_dev_ops = { fz_dev_read, fz_dev_write, fz_dev_sync,
					      fz_dev_close, NULL };

static struct mb_dev *fz_dev_new(void)
{
	struct mb_dev *dev = calloc(1, sizeof(*dev));

	FZ_REQUIRE(dev);
	dev->ops = &fz_dev_ops;
	dev->size = fz_img_size;
	return dev;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                 */
/* ------------------------------------------------------------------------ */

struct fz_ext {
	uint64_t start, len;
};

struct fz {
	struct mb_volume *vol;
	struct mb_geometry geo;
	bool persistent;
	struct mb_file *files[FZ_MAX_FILES];
	uint8_t used[FZ_MAX_BLOCKS];      /* allocated blocks (on-disk terms) */
	uint8_t durable[FZ_MAX_BLOCKS];   /* persistent: as of the last durable commit */
	uint64_t nused, ndurable, data_blocks;
	uint64_t seq;                     /* persistent: the last durable transaction */
	int64_t resv;                     /* R: outstanding reservations (any sign) */
	struct fz_ext ext[FZ_MAX_EXTENTS]; /* some extents handed out, to free later */
	unsigned next_ext;
	uint64_t next_logical;
};

static bool fz_is_data(const struct fz *z, uint64_t b)
{
	if (b < z->geo.first_data_block || b >= z->geo.blocks_count)
		return false;
	return (b - z->geo.first_data_block) % z->geo.blocks_per_group >= z->geo.reserved_per_group;
}

static uint64_t fz_count_data(const struct fz *z)
{
	uint64_t n = 0;

	for (uint64_t b = 0; b < z->geo.blocks_count; b++)
		n += fz_is_data(z, b);
	return n;
}

static uint64_t fz_seq(struct fz *z)
{
	struct mb_volume_info info;

	mb_volume_info(z->vol, &info);
	return info.seq;
}

/* After every call: the library agrees with the model and checks clean. */
static void fz_verify(struct fz *z)
{
	FZ_REQUIRE(mb_check(z->vol, NULL, 0) == 0);
	FZ_REQUIRE(mb_free_blocks(z->vol) == z->data_blocks - z->nused);

	struct mb_statfs st;
	int64_t u = (int64_t)(z->data_blocks - z->nused) - z->resv;

	FZ_REQUIRE(mb_statfs(z->vol, &st) == 0);
	FZ_REQUIRE(st.reserved == (uint64_t)(z->resv > 0 ? z->resv : 0));
	FZ_REQUIRE(st.avail == (uint64_t)(u > 0 ? u : 0));
}

/* U: the free blocks no reservation holds (a plain claim's pool). */
static int64_t fz_unclaimed(const struct fz *z)
{
	return (int64_t)(z->data_blocks - z->nused) - z->resv;
}

/* ------------------------------------------------------------------------ */
/* Hostile values                                                            */
/* ------------------------------------------------------------------------ */

/* A 64-bit value from a distribution aimed at edges and wrap-arounds. */
static uint64_t fz_hostile64(struct fz *z, struct fz_in *in)
{
	uint8_t sel = fz_u8(in);
	uint64_t small = fz_u8(in), count = z->geo.blocks_count;

	switch (sel % 16) {
	case 0: return 0;
	case 1: return UINT64_MAX - small % 8; /* + a short length wraps */
	case 2: return (1ULL << 63) + small - 128;
	case 3: return count + small - 128;
	case 4: return z->geo.first_data_block + small;
	case 5: return MB_LOGICAL_LIMIT + small - 128;
	case 6: return (1ULL << 32) + small - 128;
	case 7: return fz_bytes(in, 8);
	case 8: return small * 16 + fz_u8(in);
	default: return small % (count + 1) + (sel >> 4) * count / 16;
	}
}

static uint32_t fz_hostile32(struct fz *z, struct fz_in *in)
{
	uint8_t sel = fz_u8(in);
	uint32_t bpg = z->geo.blocks_per_group;

	switch (sel % 10) {
	case 0: return 0;
	case 1: return UINT32_MAX - fz_u8(in);
	case 2: return bpg + fz_u8(in) % 3 - 1;
	case 3: return (uint32_t)fz_bytes(in, 4);
	case 4: return 1u << (fz_u8(in) % 32);
	default: return 1 + fz_u8(in) % 32;
	}
}

/* ------------------------------------------------------------------------ */
/* Allocation                                                                */
/* ------------------------------------------------------------------------ */

/* The header's valid ranges for a request (see struct mb_request). */
static bool fz_req_valid(const struct fz *z, const struct mb_request *rq)
{
	const struct mb_geometry *g = &z->geo;

	if (!rq->len || (rq->flags & ~(uint32_t)MB_HINT_PUBLIC_MASK))
		return false;
	if (rq->logical >= MB_LOGICAL_LIMIT || rq->len > MB_LOGICAL_LIMIT - rq->logical)
		return false;
	if (rq->goal != MB_GOAL_NONE && (rq->goal < g->first_data_block || rq->goal >= g->blocks_count))
		return false;
	if ((rq->pleft || (rq->flags & MB_REQ_PLEFT)) && (rq->pleft < g->first_data_block || rq->pleft >= g->blocks_count ||
			  rq->lleft >= rq->logical))
		return false;
	if ((rq->pright || (rq->flags & MB_REQ_PRIGHT)) && (rq->pright < g->first_data_block || rq->pright >= g->blocks_count ||
			   rq->lright < rq->logical + rq->len))
		return false;
	return true;
}

/* A neighbour pair: none, plausible (near the request), or hostile. */
static void fz_neighbour(struct fz *z, struct fz_in *in, uint64_t lo, bool right, uint64_t *l,
			 uint64_t *p)
{
	uint8_t sel = fz_u8(in);

	*l = *p = 0;
	if (sel % 4 == 0)
		return;
	if (sel % 4 == 1) {
		*l = right ? lo + (sel >> 2) : lo - 1 - (sel >> 2);
		*p = z->geo.first_data_block + fz_u8(in) % z->geo.blocks_count;
		return;
	}
	*l = sel % 4 == 2 ? (right ? lo : lo - 1) : fz_hostile64(z, in);
	*p = fz_hostile64(z, in);
}

static void fz_decode_request(struct fz *z, struct fz_in *in, struct mb_request *rq)
{
	uint8_t sel = fz_u8(in);

	memset(rq, 0, sizeof(*rq));
	rq->file = sel & 1 ? z->files[(sel >> 1) % FZ_MAX_FILES] : NULL;
	rq->logical = sel & 8 ? fz_hostile64(z, in) : z->next_logical;
	rq->goal = sel & 16 ? fz_hostile64(z, in) : MB_GOAL_NONE;
	rq->len = fz_hostile32(z, in);
	rq->flags = (uint32_t)fz_bytes(in, 2);
	if (!(sel & 32))
		rq->flags &= MB_HINT_PUBLIC_MASK;
	if (sel & 64)
		fz_neighbour(z, in, rq->logical, false, &rq->lleft, &rq->pleft);
	if (sel & 128)
		fz_neighbour(z, in, rq->logical + rq->len, true, &rq->lright, &rq->pright);
}

static void fz_remember(struct fz *z, uint64_t start, uint64_t len)
{
	z->ext[z->next_ext++ % FZ_MAX_EXTENTS] = (struct fz_ext){ start, len };
}

static void fz_alloc_ok(struct fz *z, const struct mb_request *rq, const struct mb_extent *ex)
{
	uint32_t cap = rq->len < z->geo.blocks_per_group ? rq->len : z->geo.blocks_per_group;

	FZ_REQUIRE(ex->len >= 1 && ex->len <= cap);
	FZ_REQUIRE(ex->logical == rq->logical);
	FZ_REQUIRE(ex->start < z->geo.blocks_count && ex->len <= z->geo.blocks_count - ex->start);
	if ((rq->flags & MB_HINT_GOAL_ONLY) && rq->goal != MB_GOAL_NONE)
		FZ_REQUIRE(ex->start == rq->goal);
	for (uint64_t b = ex->start; b < ex->start + ex->len; b++) {
		FZ_REQUIRE(fz_is_data(z, b) && !z->used[b]);
		z->used[b] = 1;
	}
	z->nused += ex->len;
	z->next_logical = rq->logical + ex->len;
	fz_remember(z, ex->start, ex->len);
}

/* One mb_alloc() (or, via_cons, mb_alloc_constrained() with an all-zero
   constraint: the same call) checked against the model; returns its error. */
static int fz_alloc_via(struct fz *z, const struct mb_request *rq, bool via_cons)
{
	static const struct mb_constraint none;
	struct mb_extent ex;
	uint8_t before[FZ_MAX_BLOCKS];
	uint64_t nbefore = z->nused;
	bool valid = fz_req_valid(z, rq);

	if (z->persistent)
		memcpy(before, z->used, z->geo.blocks_count);
	if (getenv("FZ_OPS_TRACE")) /* replaying a crash: say what was asked */
		fprintf(stderr,
			"mb_alloc file=%d logical=%" PRIu64 " goal=%" PRIu64 " len=%" PRIu32
			" flags=%#x lleft=%" PRIu64 " pleft=%" PRIu64 " lright=%" PRIu64
			" pright=%" PRIu64 " (blocks_count %" PRIu64 ")\n",
			rq->file != NULL, rq->logical, rq->goal, rq->len, rq->flags, rq->lleft,
			rq->pleft, rq->lright, rq->pright, z->geo.blocks_count);
	int err = via_cons ? mb_alloc_constrained(z->vol, rq, &none, &ex) : mb_alloc(z->vol, rq, &ex);
	bool delalloc = rq->flags & MB_HINT_DELALLOC_RESERVED;

	FZ_REQUIRE(err == 0 || err == -EINVAL || err == -ENOSPC);
	FZ_REQUIRE(valid ? err != -EINVAL : err == -EINVAL);
	if (err == -ENOSPC && !(rq->flags & MB_HINT_GOAL_ONLY)) /* never a spurious ENOSPC */
		FZ_REQUIRE(z->nused == z->data_blocks || (!delalloc && fz_unclaimed(z) < 1));
	if (!err) {
		fz_alloc_ok(z, rq, &ex);
		if (delalloc)
			z->resv -= ex.len;
	}
	/* an allocation may force a commit (freed space) before it takes blocks */
	if (z->persistent && fz_seq(z) != z->seq) {
		memcpy(z->durable, before, z->geo.blocks_count);
		z->ndurable = nbefore;
		z->seq = fz_seq(z);
	}
	return err;
}

static int fz_alloc(struct fz *z, const struct mb_request *rq)
{
	return fz_alloc_via(z, rq, false);
}

/* op >= 208: through mb_alloc_constrained's unconstrained path (same answers) */
static void fz_op_alloc(struct fz *z, struct fz_in *in, uint8_t op)
{
	struct mb_request rq;

	fz_decode_request(z, in, &rq);
	fz_alloc_via(z, &rq, op >= 208);
}

/* Fills the volume with short metadata extents, then frees every other
   one: the fragmented, nearly full state where PAs get cut short. */
static void fz_op_fragment(struct fz *z, struct fz_in *in)
{
	uint32_t len = 1 + fz_u8(in) % 16;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = len, .flags = MB_HINT_NOPREALLOC };
	unsigned first = z->next_ext, n = 0;

	while (n < FZ_MAX_EXTENTS - 1 && fz_alloc(z, &rq) == 0)
		n++;
	for (unsigned i = 0; i < n; i += 2) {
		struct fz_ext e = z->ext[(first + i) % FZ_MAX_EXTENTS];

		FZ_REQUIRE(mb_free(z->vol, e.start, e.len) == 0);
		memset(z->used + e.start, 0, e.len);
		z->nused -= e.len;
	}
}

/* ------------------------------------------------------------------------ */
/* Frees, counting, trims                                                    */
/* ------------------------------------------------------------------------ */

/* All-or-nothing: succeeds exactly when every block is allocated data. */
static void fz_free(struct fz *z, uint64_t start, uint64_t len)
{
	bool ok = len && start < z->geo.blocks_count && len <= z->geo.blocks_count - start;

	for (uint64_t b = start; ok && b < start + len; b++)
		ok = fz_is_data(z, b) && z->used[b];
	int err = mb_free(z->vol, start, len);

	FZ_REQUIRE(ok ? err == 0 : (err == -EINVAL || err == -EEXIST));
	if (!ok)
		return;
	for (uint64_t b = start; b < start + len; b++)
		z->used[b] = 0;
	z->nused -= len;
}

static void fz_op_free(struct fz *z, struct fz_in *in)
{
	uint8_t sel = fz_u8(in);
	struct fz_ext e = z->ext[fz_u8(in) % FZ_MAX_EXTENTS];

	switch (sel % 4) {
	case 0: /* an extent handed out (maybe already freed: a double free) */
		fz_free(z, e.start, e.len);
		break;
	case 1: /* part of one, or a little more */
		fz_free(z, e.start + fz_u8(in) % 4, e.len + fz_u8(in) % 5 - 2);
		break;
	default:
		fz_free(z, fz_hostile64(z, in), fz_hostile64(z, in) % (sel & 4 ? ~0ULL : 64));
		break;
	}
}

static void fz_op_count(struct fz *z, struct fz_in *in)
{
	uint64_t start = fz_hostile64(z, in), len = fz_hostile64(z, in);
	int64_t n = mb_allocated_blocks(z->vol, start, len);

	if (!len || start < z->geo.first_data_block || start >= z->geo.blocks_count ||
	    len > z->geo.blocks_count - start) {
		FZ_REQUIRE(n == -EINVAL);
		return;
	}
	int64_t want = 0;

	for (uint64_t b = start; b < start + len; b++)
		want += z->used[b] || !fz_is_data(z, b); /* metadata counts as allocated */
	FZ_REQUIRE(n == want);
}

static int fz_discard_cb(uint64_t start, uint64_t len, void *arg)
{
	struct fz *z = arg;

	FZ_REQUIRE(start < z->geo.blocks_count && len <= z->geo.blocks_count - start);
	for (uint64_t b = start; b < start + len; b++)
		FZ_REQUIRE(fz_is_data(z, b) && !z->used[b]);
	return 0;
}

static void fz_op_trim(struct fz *z, struct fz_in *in)
{
	uint64_t start = fz_hostile64(z, in), len = fz_hostile64(z, in);
	uint32_t minlen = fz_u8(in) % 40;
	int64_t n = mb_trim(z->vol, start, len, minlen, fz_discard_cb, z);

	FZ_REQUIRE(n >= 0 || n == -EINVAL);
	FZ_REQUIRE(n <= (int64_t)(z->data_blocks - z->nused));
}

/* ------------------------------------------------------------------------ */
/* Files, tunables, persistence                                              */
/* ------------------------------------------------------------------------ */

static void fz_op_file(struct fz *z, struct fz_in *in)
{
	uint8_t sel = fz_u8(in);
	struct mb_file **f = &z->files[(sel >> 2) % FZ_MAX_FILES];

	switch (sel % 4) {
	case 0:
		if (*f)
			mb_file_close(*f);
		*f = NULL;
		if (mb_file_open(z->vol, fz_hostile64(z, in), f))
			*f = NULL;
		break;
	case 1:
		if (*f)
			FZ_REQUIRE(mb_file_discard(*f) >= 0);
		break;
	case 2:
		if (*f)
			mb_file_set_size(*f, fz_hostile64(z, in));
		break;
	default:
		if (*f)
			mb_file_close(*f);
		*f = NULL;
		break;
	}
}

static void fz_op_tunable(struct fz *z, struct fz_in *in)
{
	const char *name = mb_tunable_name(fz_u8(in) % 12);
	uint64_t v = fz_hostile64(z, in) % 4096;

	/* the legacy policy and a retry cap may answer ENOSPC by design */
	if (name && strcmp(name, "mb_stats") && strcmp(name, "mb_enospc_policy") &&
	    strcmp(name, "mb_max_retries")) {
		int err = mb_tunable_set(z->vol, name, v);

		FZ_REQUIRE(err == 0 || err == -EINVAL);
	}
}

static void fz_close_files(struct fz *z)
{
	for (int i = 0; i < FZ_MAX_FILES; i++)
		z->files[i] = NULL; /* the volume frees its open files */
}

/* Reopen: cleanly (close: everything so far is kept) or after a "crash". */
static void fz_op_reopen(struct fz *z, struct fz_in *in)
{
	static const struct mb_open_opts o = { .commit_interval_s = 0 };
	bool crash = fz_u8(in) & 1;

	if (!z->persistent)
		return;
	fz_close_files(z);
	if (crash) {
		mb_volume_destroy(z->vol);
		memcpy(z->used, z->durable, z->geo.blocks_count);
		z->nused = z->ndurable;
	} else {
		FZ_REQUIRE(mb_volume_close(z->vol) == 0);
	}
	struct mb_dev *dev = fz_dev_new();

	FZ_REQUIRE(mb_volume_open_dev(dev, &o, &z->vol) == 0);
	memcpy(z->durable, z->used, z->geo.blocks_count);
	z->ndurable = z->nused;
	z->seq = fz_seq(z);
	z->resv = 0; /* reservations live in memory only */
}

static void fz_op_commit(struct fz *z)
{
	int err = mb_commit(z->vol);

	if (!z->persistent) {
		FZ_REQUIRE(err == -EINVAL);
		return;
	}
	FZ_REQUIRE(err == 0);
	memcpy(z->durable, z->used, z->geo.blocks_count);
	z->ndurable = z->nused;
	z->seq = fz_seq(z);
}

/* ------------------------------------------------------------------------ */
/* Constraints, vectors, reservations                                        */
/* ------------------------------------------------------------------------ */

/* The constraint's rules (mballoc.h); *k resolved: min, align, max. */
static bool fz_cons_valid(const struct fz *z, const struct mb_constraint *c, uint32_t *min,
			  uint32_t *a, uint32_t *max)
{
	uint32_t bpg = z->geo.blocks_per_group;

	if (c->flags || (c->align & (c->align - 1)) || c->align > bpg || c->min_len > bpg)
		return false;
	*a = c->align ? c->align : 1;
	if (c->min_len % *a || c->max_len % *a || (c->max_len && c->max_len < c->min_len))
		return false;
	*min = c->min_len ? c->min_len : *a;
	*max = bpg / *a * *a;
	if (c->max_len && c->max_len < *max)
		*max = c->max_len;
	return true;
}

static void fz_decode_cons(struct fz *z, struct fz_in *in, struct mb_constraint *c)
{
	uint8_t sel = fz_u8(in);

	memset(c, 0, sizeof(*c));
	if (sel % 8 == 0) { /* hostile */
		c->min_len = fz_hostile32(z, in);
		c->align = fz_hostile32(z, in);
		c->max_len = fz_hostile32(z, in);
		c->flags = sel & 8 ? fz_u8(in) : 0;
		return;
	}
	c->align = (sel & 8) ? 1u << (fz_u8(in) % 7) : 0;
	uint32_t a = c->align ? c->align : 1;

	c->min_len = (sel & 16) ? a * (fz_u8(in) % 5) : 0;
	c->max_len = (sel & 32) ? a * (fz_u8(in) % 9) : 0;
	if (c->max_len && c->max_len < c->min_len)
		c->max_len = c->min_len;
}

/* The pieces the model's free blocks offer (allocvec.c's cut), longest first. */
static int fz_pieces(const struct fz *z, uint32_t a, uint32_t max, uint32_t *out)
{
	int np = 0;
	uint64_t b = 0;

	while (b < z->geo.blocks_count) {
		if (!fz_is_data(z, b) || z->used[b]) {
			b++;
			continue;
		}
		uint64_t e = b;

		while (e < z->geo.blocks_count && fz_is_data(z, e) && !z->used[e])
			e++;
		uint64_t as = (b + a - 1) / a * a, ae = e / a * a;

		for (uint64_t st = as; st < ae; st += max)
			out[np++] = (uint32_t)(ae - st < max ? ae - st : max);
		b = e;
	}
	for (int i = 1; i < np; i++)
		for (int j = i; j > 0 && out[j] > out[j - 1]; j--) {
			uint32_t t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return np;
}

/* Could len be gathered in n pieces, all >= min but a last that completes? */
static bool fz_could_gather(const struct fz *z, uint32_t min, uint32_t a, uint32_t max,
			    uint64_t len, uint64_t n)
{
	static uint32_t p[FZ_MAX_BLOCKS];
	int np = fz_pieces(z, a, max, p);
	uint64_t r = len;

	for (int i = 0; i < np && (uint64_t)i < n && r; i++) {
		if (p[i] >= r)
			return true;
		if (p[i] < min)
			return false;
		r -= p[i];
	}
	return r == 0;
}

/* An extent the model accepts: data blocks, free, aligned, long enough. */
static void fz_take(struct fz *z, const struct mb_extent *e, uint32_t min, uint32_t a,
		    uint32_t max, bool last)
{
	FZ_REQUIRE(e->len >= 1 && e->len <= max && e->start % a == 0 && e->len % a == 0);
	FZ_REQUIRE(last || e->len >= min);
	FZ_REQUIRE(e->start < z->geo.blocks_count && e->len <= z->geo.blocks_count - e->start);
	for (uint64_t b = e->start; b < e->start + e->len; b++) {
		FZ_REQUIRE(fz_is_data(z, b) && !z->used[b]);
		z->used[b] = 1;
	}
	z->nused += e->len;
	fz_remember(z, e->start, e->len);
}

/* A forced commit inside a call: the durable state is what preceded it. */
static void fz_after_call(struct fz *z, const uint8_t *before, uint64_t nbefore)
{
	if (z->persistent && fz_seq(z) != z->seq) {
		memcpy(z->durable, before, z->geo.blocks_count);
		z->ndurable = nbefore;
		z->seq = fz_seq(z);
	}
}

static void fz_op_constrained(struct fz *z, const struct mb_request *rq,
			      const struct mb_constraint *c)
{
	if (!c->min_len && !c->align && !c->max_len && !c->flags) {
		fz_alloc_via(z, rq, true); /* no constraint: mb_alloc itself */
		return;
	}
	static uint8_t before[FZ_MAX_BLOCKS];
	uint64_t nbefore = z->nused;
	uint32_t min = 1, a = 1, max = 1;
	bool valid = fz_req_valid(z, rq) && fz_cons_valid(z, c, &min, &a, &max);
	uint32_t want = 0;
	struct mb_extent ex;

	if (valid) {
		want = (rq->len < max ? rq->len : max) / a * a;
		valid = want >= min && !((rq->flags & MB_HINT_GOAL_ONLY) &&
					 rq->goal != MB_GOAL_NONE && rq->goal % a);
	}
	memcpy(before, z->used, z->geo.blocks_count);
	int err = mb_alloc_constrained(z->vol, rq, c, &ex);

	FZ_REQUIRE(valid ? (err == 0 || err == -ENOSPC) : err == -EINVAL);
	bool delalloc = rq->flags & MB_HINT_DELALLOC_RESERVED;

	if (err == -ENOSPC && !(rq->flags & MB_HINT_GOAL_ONLY))
		FZ_REQUIRE((!delalloc && fz_unclaimed(z) < min) ||
			   !fz_could_gather(z, min, a, max, min, 1));
	if (!err) {
		FZ_REQUIRE(ex.len <= want && ex.logical == rq->logical);
		if ((rq->flags & MB_HINT_GOAL_ONLY) && rq->goal != MB_GOAL_NONE)
			FZ_REQUIRE(ex.start == rq->goal);
		fz_take(z, &ex, min, a, max, false);
		if (delalloc)
			z->resv -= ex.len;
	}
	fz_after_call(z, before, nbefore);
}

static void fz_op_vec(struct fz *z, struct fz_in *in, const struct mb_request *rq,
		      const struct mb_constraint *c)
{
	static uint8_t before[FZ_MAX_BLOCKS];
	struct mb_extent out[8];
	uint8_t sel = fz_u8(in);
	uint32_t n = sel % 10, vflags = sel & 16 ? MB_VEC_ALL : 0;
	uint64_t nbefore = z->nused;
	uint32_t min = 1, a = 1, max = 1;
	bool null_out = n == 9;

	if (sel & 32)
		vflags |= fz_u8(in) & ~1u; /* unknown bits */
	n = null_out ? 1 : n;
	bool valid = !null_out && n && !(vflags & ~(uint32_t)MB_VEC_ALL) && fz_req_valid(z, rq) &&
		     !(rq->flags & MB_HINT_GOAL_ONLY) && fz_cons_valid(z, c, &min, &a, &max) &&
		     rq->len % a == 0 && rq->len >= min;

	memcpy(before, z->used, z->geo.blocks_count);
	int got = mb_alloc_vec(z->vol, rq, c, vflags, null_out ? NULL : out, n);
	bool delalloc = rq->flags & MB_HINT_DELALLOC_RESERVED, all = vflags & MB_VEC_ALL;

	FZ_REQUIRE(valid ? (got > 0 || got == -ENOSPC) : got == -EINVAL);
	if (got == -ENOSPC) {
		uint64_t need = all ? rq->len : min;

		FZ_REQUIRE((!delalloc && fz_unclaimed(z) < (int64_t)need) ||
			   !fz_could_gather(z, min, a, max, need, all ? n : 1));
	}
	uint64_t sum = 0;

	for (int i = 0; i < got; i++) {
		FZ_REQUIRE(out[i].logical == rq->logical + sum);
		sum += out[i].len;
		FZ_REQUIRE(sum <= rq->len);
		fz_take(z, &out[i], min, a, max, i == got - 1 && sum == rq->len);
	}
	FZ_REQUIRE(got <= 0 || (uint32_t)got <= n);
	FZ_REQUIRE(got <= 0 || !all || sum == rq->len);
	if (got > 0 && delalloc)
		z->resv -= (int64_t)sum;
	fz_after_call(z, before, nbefore);
}

static void fz_op_largest(struct fz *z, const struct mb_constraint *c)
{
	static const struct mb_constraint none;
	uint32_t min = 1, a = 1, max = 1;
	bool valid = fz_cons_valid(z, c ? c : &none, &min, &a, &max);
	uint64_t start = UINT64_MAX;
	int64_t len = mb_largest_extent(z->vol, c, &start);
	static uint32_t p[FZ_MAX_BLOCKS];

	FZ_REQUIRE(valid ? len >= 0 : len == -EINVAL);
	if (len <= 0)
		return;
	/* buddy terms: never more than the model's free blocks give */
	FZ_REQUIRE(fz_pieces(z, a, max, p) > 0 && len <= p[0] && len >= min);
	FZ_REQUIRE(start % a == 0 && (uint64_t)len % a == 0);
	for (uint64_t b = start; b < start + (uint64_t)len; b++)
		FZ_REQUIRE(fz_is_data(z, b) && !z->used[b]);
}

static void fz_op_reserve(struct fz *z, struct fz_in *in, bool give_back)
{
	uint64_t n = fz_u8(in) & 1 ? fz_hostile64(z, in) : fz_u8(in) % 64;
	uint32_t flags = fz_u8(in) & 1 ? (uint32_t)fz_bytes(in, 2) : 0;

	if (give_back) {
		bool ok = n && z->resv > 0 && n <= (uint64_t)z->resv;

		FZ_REQUIRE(mb_unreserve(z->vol, n) == (ok ? 0 : -EINVAL));
		z->resv -= ok ? (int64_t)n : 0;
		return;
	}
	int err = mb_reserve(z->vol, n, flags);

	if (!n || n > z->geo.blocks_count ||
	    (flags & ~(uint32_t)(MB_HINT_USE_ROOT_BLOCKS | MB_HINT_USE_RESERVED))) {
		FZ_REQUIRE(err == -EINVAL);
		return;
	}
	/* exact: the fuzzer sets no system reserve */
	FZ_REQUIRE(err == ((int64_t)n <= fz_unclaimed(z) ? 0 : -ENOSPC));
	z->resv += err ? 0 : (int64_t)n;
}

static void fz_op_cons(struct fz *z, struct fz_in *in)
{
	uint8_t sel = fz_u8(in);
	struct mb_request rq;
	struct mb_constraint c;

	switch (sel % 6) {
	case 0:
	case 1:
		fz_decode_request(z, in, &rq);
		fz_decode_cons(z, in, &c);
		if (sel % 6)
			fz_op_vec(z, in, &rq, &c);
		else
			fz_op_constrained(z, &rq, &c);
		break;
	case 2:
		fz_decode_cons(z, in, &c);
		fz_op_largest(z, sel & 64 ? NULL : &c);
		break;
	case 3:
	case 4:
		fz_op_reserve(z, in, sel % 6 == 4);
		break;
	default:
		FZ_REQUIRE(mb_statfs(z->vol, NULL) == -EINVAL);
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Setup and the loop                                                        */
/* ------------------------------------------------------------------------ */

/* Small geometries: 1..64 KiB blocks, tiny and odd groups, short last group. */
static void fz_geometry(struct fz *z, uint8_t sel)
{
	static const uint32_t bs[4] = { 1024, 4096, 1024, 65536 };
	static const uint32_t bpg[4] = { 16, 64, 128, 32 };
	uint32_t groups = 1 + (sel >> 4) % 6;

	z->persistent = sel & 1;
	z->geo = (struct mb_geometry){ .block_size = bs[(sel >> 1) % 4],
				       .blocks_per_group = bpg[(sel >> 3) % 4],
				       .first_data_block = (sel >> 2) & 1 };
	if (z->persistent) { /* group 0 holds sb, table, bitmap, an 8-block journal */
		z->geo.block_size = z->geo.block_size > 4096 ? 4096 : z->geo.block_size;
		z->geo.blocks_per_group = z->geo.blocks_per_group < 32 ? 64 : z->geo.blocks_per_group;
		z->geo.reserved_per_group = 12;
	} else {
		z->geo.reserved_per_group = 1 + sel % 3;
	}
	z->geo.blocks_count = z->geo.first_data_block + (uint64_t)groups * z->geo.blocks_per_group -
			      (sel >> 6) % 3;
}

static bool fz_setup(struct fz *z, uint8_t sel)
{
	static const struct mb_open_opts o = { .commit_interval_s = 0 };

	fz_geometry(z, sel);
	if (!z->persistent)
		return mb_volume_create(&z->geo, &z->vol) == 0;
	fz_img_size = z->geo.blocks_count * z->geo.block_size;
	fz_img = calloc(1, fz_img_size);
	FZ_REQUIRE(fz_img);
	struct mb_dev *dev = fz_dev_new();

	if (mb_volume_format_dev(dev, &z->geo, NULL)) {
		mb_dev_close(dev);
		return false;
	}
	FZ_REQUIRE(mb_volume_open_dev(dev, &o, &z->vol) == 0);
	z->seq = fz_seq(z);
	return true;
}

static void fz_step(struct fz *z, struct fz_in *in)
{
	uint8_t op = fz_u8(in);

	switch (op % 13) {
	case 0: case 1: case 2: case 3: fz_op_alloc(z, in, op); break;
	case 12: fz_op_fragment(z, in); break;
	case 4: case 5: fz_op_free(z, in); break;
	case 6: fz_op_file(z, in); break;
	case 7: fz_op_trim(z, in); break;
	case 8: fz_op_count(z, in); break;
	case 9: if (op & 128) fz_op_cons(z, in); else FZ_REQUIRE(mb_discard_all(z->vol) >= 0); break;
	case 10: if (op & 16) fz_op_commit(z); else fz_op_tunable(z, in); break;
	default: fz_op_reopen(z, in); break;
	}
	fz_verify(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz z;
	struct fz_in in = { data, size };

	memset(&z, 0, sizeof(z));
	if (!size || !fz_setup(&z, fz_u8(&in)))
		goto out;
	z.data_blocks = fz_count_data(&z);
	FZ_REQUIRE(z.geo.blocks_count <= FZ_MAX_BLOCKS);
	for (int i = 0; i < FZ_MAX_FILES; i++)
		FZ_REQUIRE(mb_file_open(z.vol, (uint64_t)i * 97 + 1, &z.files[i]) == 0);
	fz_verify(&z);
	for (int n = 0; n < FZ_MAX_OPS && in.n; n++)
		fz_step(&z, &in);
	fz_close_files(&z);
	if (z.persistent)
		FZ_REQUIRE(mb_volume_close(z.vol) == 0);
	else
		mb_volume_destroy(z.vol);
out:
	free(fz_img);
	fz_img = NULL;
	return 0;
}
