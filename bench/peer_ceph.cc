// SPDX-License-Identifier: MIT
/*
 * peer_ceph.cc - Ceph BlueStore's StupidAllocator, AvlAllocator and
 * BitmapAllocator as peers of `mballoc bench`, compiled from the user's
 * Ceph checkout when CMake is given -DMB_CEPH_SRC=... (see
 * docs/BENCHMARKS.md).  This file is our glue: the parts of Allocator.cc the
 * three need (constructor, destructor, a fragmentation score they never
 * use here) and the bench's allocator interface on top of them.  Ceph
 * takes bytes; the bench speaks blocks, so every call multiplies by the
 * block size, which is also the allocation unit.  A goal becomes Ceph's
 * hint (no goal: hint 0, which Ceph reads as "none").
 *
 * Thread-safety: each Ceph allocator takes its own lock inside.
 */
#include <cerrno>
#include <cstring>

#include "os/bluestore/AvlAllocator.h"
#include "os/bluestore/BitmapAllocator.h"
#include "os/bluestore/StupidAllocator.h"

extern "C" {
#include "mb_bench.h"
}

Allocator::Allocator(const std::string &) {}
Allocator::~Allocator() {}
double Allocator::get_fragmentation_score() { return 0; } /* the bench scores all alike */

namespace {

struct mb_ceph_peer {
	CephContext cct;
	Allocator *a = nullptr;
	uint64_t unit = 0;
};

int mb_ceph_alloc_multi(void *ctx, const struct mb_bench_req *r, struct mb_bench_exts *out,
			uint64_t *got)
{
	auto *p = static_cast<mb_ceph_peer *>(ctx);
	thread_local PExtentVector v;
	int64_t hint = r->goal == MB_BENCH_NO_GOAL ? 0 : (int64_t)(r->goal * p->unit);

	v.clear();
	int64_t n = p->a->allocate((uint64_t)r->len * p->unit, p->unit, 0, hint, &v);

	*got = 0;
	for (auto &e : v) {
		if (mb_bench_exts_push(out, e.offset / p->unit, (uint32_t)(e.length / p->unit)))
			return -ENOMEM;
		*got += e.length / p->unit;
	}
	if (n <= 0 || *got < r->len)
		return -ENOSPC;
	return 0;
}

int mb_ceph_alloc_one(void *ctx, const struct mb_bench_req *r, uint64_t *start, uint32_t *len)
{
	/* only when a workload insists on one extent: the first piece, the
	 * others given back */
	auto *p = static_cast<mb_ceph_peer *>(ctx);
	struct mb_bench_exts e = {};
	uint64_t got = 0;
	int err = mb_ceph_alloc_multi(ctx, r, &e, &got);

	if (e.cnt) {
		*start = e.s[0];
		*len = e.n[0];
		interval_set<uint64_t> rest;

		for (uint32_t i = 1; i < e.cnt; i++)
			rest.insert(e.s[i] * p->unit, (uint64_t)e.n[i] * p->unit);
		if (!rest.empty())
			p->a->release(rest);
		err = 0;
	}
	free(e.s);
	free(e.n);
	return err;
}

int mb_ceph_free(void *ctx, uint64_t start, uint32_t len)
{
	auto *p = static_cast<mb_ceph_peer *>(ctx);
	interval_set<uint64_t> s;

	s.insert(start * p->unit, (uint64_t)len * p->unit);
	p->a->release(s);
	return 0;
}

int mb_ceph_mark_used(void *ctx, uint64_t start, uint64_t len)
{
	auto *p = static_cast<mb_ceph_peer *>(ctx);

	p->a->init_rm_free(start * p->unit, len * p->unit);
	return 0;
}

uint64_t mb_ceph_free_count(void *ctx)
{
	auto *p = static_cast<mb_ceph_peer *>(ctx);

	return p->a->get_free() / p->unit;
}

void mb_ceph_destroy(void *ctx)
{
	auto *p = static_cast<mb_ceph_peer *>(ctx);

	p->a->shutdown();
	delete p->a;
	delete p;
}

} // namespace

extern "C" int mb_bench_ceph_create(const char *kind, const struct mb_bench_geo *g,
				    struct mb_bench_alloc *a)
{
	auto *p = new (std::nothrow) mb_ceph_peer;
	std::string k = kind;
	int64_t size = (int64_t)(g->blocks * g->block_size), unit = g->block_size;

	memset(a, 0, sizeof(*a));
	a->name = k == "stupid" ? "ceph-stupid" : k == "avl" ? "ceph-avl" : "ceph-bitmap";
	if (!p) {
		snprintf(a->note, sizeof(a->note), "skipped: out of memory");
		return -ENOMEM;
	}
	p->unit = g->block_size;
	p->cct._conf->bdev_block_size = g->block_size;
	try {
		if (k == "stupid")
			p->a = new StupidAllocator(&p->cct, k, unit);
		else if (k == "avl")
			p->a = new AvlAllocator(&p->cct, size, unit, k);
		else if (k == "bitmap")
			p->a = new BitmapAllocator(&p->cct, size, unit, k);
		if (p->a)
			p->a->init_add_free(0, size);
	} catch (const std::bad_alloc &) {
		delete p->a;
		p->a = nullptr;
	}
	if (!p->a) {
		delete p;
		snprintf(a->note, sizeof(a->note), "skipped: cannot create Ceph's %s", kind);
		return -ENOMEM;
	}
	a->threaded = true;
	a->ctx = p;
	a->alloc = mb_ceph_alloc_one;
	a->alloc_multi = mb_ceph_alloc_multi;
	a->free = mb_ceph_free;
	a->mark_used = mb_ceph_mark_used;
	a->free_count = mb_ceph_free_count;
	a->destroy = mb_ceph_destroy;
	snprintf(a->note, sizeof(a->note), "Ceph BlueStore %s allocator (Octopus-era)", kind);
	return 0;
}
