// SPDX-License-Identifier: MIT
/*
 * mb_ceph_standin.h - what BlueStore's Stupid, Avl and Bitmap allocators
 * need from the rest of Ceph, written for `mballoc bench`'s Ceph peer
 * (bench/peer_ceph.cc).  The small headers beside this one stand in for
 * the Ceph headers of the same names (the Ceph checkout must not hold
 * them, since the allocators include some of them by relative name; see
 * docs/BENCHMARKS.md).  Nothing here is Ceph code:
 *  - logging compiles to nothing (debug level 0: the stream is never built);
 *  - the configuration holds the four options the allocators read, with
 *    the defaults of the Octopus-era tree;
 *  - mempools are plain std containers (no per-pool accounting);
 *  - ceph::mutex is std::mutex; ceph_assert stays on, as in Ceph.
 */
#pragma once
#include <cassert>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

using std::ostream;
using std::string;
/* Ceph's include/types.h brings these into the global namespace */
using std::map;
using std::pair;
using std::vector;

#define ceph_assert(c)                                                                 \
	((c) ? (void)0                                                                 \
	     : (fprintf(stderr, "ceph_assert(%s) failed at %s:%d\n", #c, __FILE__,     \
			__LINE__),                                                     \
		abort()))
#define ceph_abort() abort()

/* Logging: a statement that never runs, so the << chain is not evaluated. */
#define ldout(cct, level) while (false) std::cerr
#define lderr(cct) ldout(cct, 0)
#define dendl std::flush
struct byte_u_t {
	uint64_t v;
	explicit byte_u_t(uint64_t x) : v(x) {}
};
inline std::ostream &operator<<(std::ostream &o, const byte_u_t &b) { return o << b.v; }

struct mb_ceph_conf {
	uint64_t bdev_block_size = 4096;
	uint64_t bluestore_debug_small_allocations = 0;
	uint64_t bluestore_avl_alloc_bf_threshold = 131072;
	uint64_t bluestore_avl_alloc_bf_free_pct = 4;
};
struct ConfigProxy {
	mb_ceph_conf v;
	mb_ceph_conf *operator->() { return &v; }
	const mb_ceph_conf *operator->() const { return &v; }
	template <typename T> T get_val(const std::string &key) const
	{
		if (key == "bluestore_avl_alloc_bf_threshold")
			return (T)v.bluestore_avl_alloc_bf_threshold;
		if (key == "bluestore_avl_alloc_bf_free_pct")
			return (T)v.bluestore_avl_alloc_bf_free_pct;
		fprintf(stderr, "mb_ceph_standin: no option %s\n", key.c_str());
		abort();
	}
};
struct CephContext {
	ConfigProxy _conf;
};

namespace ceph {
using mutex = std::mutex;
inline std::mutex make_mutex(const char *) { return {}; }
/* Only named by interval_set's encode/decode members, never called. */
namespace buffer {
struct ptr {
	struct const_iterator {};
};
struct list {
	struct contiguous_appender {};
	struct iterator {};
};
} // namespace buffer
} // namespace ceph
template <typename T, typename = void> struct denc_traits {
	static constexpr bool supported = false;
	static constexpr bool need_contiguous = true;
};

#define MEMPOOL_CLASS_HELPERS()
#define MEMPOOL_DEFINE_OBJECT_FACTORY(obj, factory, pool)
namespace mempool {
namespace bluestore_alloc {
template <typename T> using pool_allocator = std::allocator<T>;
template <typename T> using vector = std::vector<T>;
} // namespace bluestore_alloc
} // namespace mempool

/* The physical extents the allocators return (bluestore_types.h). */
template <typename OFFS, typename LEN> struct bluestore_interval_t {
	static const uint64_t INVALID_OFFSET = ~0ull;
	OFFS offset = 0;
	LEN length = 0;
	bluestore_interval_t() {}
	bluestore_interval_t(uint64_t o, uint64_t l) : offset(o), length(l) {}
	bool is_valid() const { return offset != INVALID_OFFSET; }
	uint64_t end() const { return offset + length; }
};
struct bluestore_pextent_t : bluestore_interval_t<uint64_t, uint32_t> {
	bluestore_pextent_t() {}
	bluestore_pextent_t(uint64_t o, uint64_t l) : bluestore_interval_t(o, l) {}
};
typedef std::vector<bluestore_pextent_t> PExtentVector;
