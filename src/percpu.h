/* SPDX-License-Identifier: MIT */
/*
 * percpu.h - this CPU's slot (percpu.c) and what the fast path counts in
 * it: discard_pa_seq and the statistics.  The fast path touches only its
 * own slot; sums are for the failure path and for reporting.
 */
#ifndef MB_PERCPU_H
#define MB_PERCPU_H

#include "mb_int.h"

/*
 * sched_getcpu() is a vDSO call (a few ns), and one request needs the slot
 * several times; a thread re-reads it every 64 uses (percpu.c).  A thread
 * that migrated meanwhile updates another CPU's slot, which is still
 * correct: slots are atomics, only their locality is lost for a while.
 * Inline, with initial-exec TLS: every per-CPU update of the fast path
 * reads it, so neither a call nor __tls_get_addr.
 */
#define MB_TLS_FAST __attribute__((tls_model("initial-exec")))
struct mb_cpu_cache {
	int cpu;        /* the CPU as last read, -1: never read */
	unsigned left;  /* uses until it is read again: 1 at first, then 64 */
	uint32_t off;   /* its slot's byte offset in every volume's pcpu array (mb_this_pcpu) */
	uint64_t bumps; /* discard_pa_seq bumps this thread made (mb_seq_own) */
};
/* One thread-local object, so one offset for the fast path to load. */
extern _Thread_local struct mb_cpu_cache mb_cpu_tls MB_TLS_FAST;
#define mb_cpu_cached (mb_cpu_tls.cpu)
#define mb_cpu_left (mb_cpu_tls.left)
#define MB_CPU_USES 64 /* uses of one read of the CPU */
int mb_cpu_refresh(void);
uint32_t mb_pcpu_slots(void);

/* A thread's first use finds left 1 and reads the CPU (cpu is -1 only
   before that; mb_cpu_refresh never stores a negative one), so there is
   no test of cpu < 0: 2 instructions a PA hit.  A count down, not a
   count of uses tested for a multiple of 64: one decrement in memory and
   its flag (3 instructions fewer a call), the same uses reading it.
   Every lookup of the cache counts one use here: mb_cpu_slot's and
   mb_this_pcpu's alike; true when it read the CPU again, so that a
   caller's value loaded before it is loaded again only then (loaded
   after it, every call's order changed: +7 instructions in the 17
   probes' sum, +19 threaded). */
static inline __attribute__((always_inline)) bool mb_cpu_use(void)
{
	if (MB_UNLIKELY(--mb_cpu_left == 0)) {
		mb_cpu_left = MB_CPU_USES;
		mb_cpu_refresh();
		return true;
	}
	return false;
}

static inline unsigned mb_cpu_slot(const struct mb_volume *vol)
{
	int cpu = mb_cpu_cached;

	if (mb_cpu_use())
		cpu = mb_cpu_cached;
	return (unsigned)cpu & vol->pcpu_mask;
}
unsigned mb_cpu_now(const struct mb_volume *vol); /* read fresh: locality groups */
/* the slot of the CPU a request names (MB_REQ_CPU), else mb_cpu_now() */
unsigned mb_req_cpu_slot(const struct mb_volume *vol, const struct mb_request *req);
/*
 * This CPU's slot: the cached CPU's slot as a byte offset (mb_cpu_refresh
 * keeps it with the CPU), the same in every volume, as every volume has
 * mb_pcpu_slots() slots -- an add to the array, not the mask, the multiply
 * by the slot's size (3 cache lines: a lea and a shift) and the add (~3
 * instructions a lookup, one or two a call).
 */
static inline struct mb_pcpu *mb_this_pcpu(struct mb_volume *vol)
{
	uint32_t off = mb_cpu_tls.off;

	if (mb_cpu_use())
		off = mb_cpu_tls.off;

	assert(off == ((unsigned)mb_cpu_cached & vol->pcpu_mask) * sizeof(struct mb_pcpu));
	return (struct mb_pcpu *)((char *)vol->pcpu + off);
}

/* CPU cpu's slot as a byte offset in every volume's pcpu array, kept in
   mb_cpu_tls.off with the CPU (mb_cpu_refresh, mb_cpu_pin) */
static inline uint32_t mb_cpu_off(int cpu)
{
	return ((unsigned)cpu & (mb_pcpu_slots() - 1)) * (uint32_t)sizeof(struct mb_pcpu);
}

/* Pins the calling thread's next 63 lookups to CPU cpu's slot (a test's:
   as if the cache had just read cpu) */
static inline void mb_cpu_pin(int cpu)
{
	mb_cpu_cached = cpu;
	mb_cpu_tls.off = mb_cpu_off(cpu);
	mb_cpu_left = MB_CPU_USES;
}
/*
 * mb_free_counter_consume (reserve.c) on a slot the caller already holds:
 * an allocation marks len blocks used on disk.  Claimed blocks left U, and
 * with it F, when they were claimed: nothing to do (the common case, no
 * RMW).  Reserved ones (flags: MB_HINT_DELALLOC_RESERVED) leave F now.
 */
static inline void mb_free_counter_consume_slot(struct mb_pcpu *slot, uint64_t len,
						uint32_t flags)
{
	if (flags & MB_HINT_DELALLOC_RESERVED)
		mb_ctr_add_signed(&slot->free_delta, -(int64_t)len, memory_order_relaxed);
}
/*
 * reserve.c's slot word (struct mb_pcpu, resv_word): the share of U in
 * the low 48 bits, two's complement, the claims in flight in the high 16
 * (reserve.c says why and how).
 */
#define MB_RESV_SHARE_BITS 48
static inline int64_t mb_resv_share_of(uint64_t w)
{
	/* sign-extend the low 48 bits (gcc and clang shift signed values
	   arithmetically) */
	return (int64_t)(w << (64 - MB_RESV_SHARE_BITS)) >> (64 - MB_RESV_SHARE_BITS);
}

/* A share past +-MB_RESV_SPILL goes to the pool (reserve.c, mb_resv_spill) */
#define MB_RESV_SPILL ((int64_t)1 << 44)

/*
 * mb_free_counter_add for a free of len blocks (len <= bpg < 2^32, far
 * inside the share's direct range: reserve.c's test of the delta's size
 * has nothing to find), on this CPU's slot.  With one thread the add is a
 * plain load and store, as mb_resv_word_add's, and its spill test reads
 * the sum it stored; threaded, or at a spill, reserve.c's add on the same
 * slot (one lookup a free).  Inline: the call and its two tests cost ~25
 * instructions a free.  bb_lock held.
 */
static inline __attribute__((always_inline)) void mb_free_counter_freed(struct mb_volume *vol,
									 uint32_t len)
{
	struct mb_pcpu *slot = mb_this_pcpu(vol);

	if (MB_LIKELY(MB_SINGLE_THREADED())) {
		uint64_t w = atomic_load_explicit(&slot->resv_word, memory_order_relaxed) + len;
		int64_t share = mb_resv_share_of(w);

		/* within +-MB_RESV_SPILL (mb_resv_spill's test), one compare */
		if (MB_LIKELY((uint64_t)(share + MB_RESV_SPILL) <= 2 * (uint64_t)MB_RESV_SPILL)) {
			atomic_store_explicit(&slot->resv_word, w, memory_order_relaxed);
			return;
		}
	}
	mb_free_counter_add_at(vol, slot, len);
}

/* The claims in flight, the word's high 16 bits (reserve.c). */
#define MB_RESV_FLIGHT_ONE ((uint64_t)1 << MB_RESV_SHARE_BITS)
#define MB_RESV_FLIGHT_MAX 0xfff0u
static inline uint32_t mb_resv_flight_of(uint64_t w)
{
	return (uint32_t)((w - (uint64_t)mb_resv_share_of(w)) >> MB_RESV_SHARE_BITS);
}

/* A claim's take of n from the share, the slot's lock held (or no other
   thread), counted in flight in the same store: if the share holds need
   and the slot is not full of claims (reserve.c, mb_resv_take_word) */
static inline bool mb_resv_take_claim_held(struct mb_pcpu *slot, uint64_t need, uint64_t n)
{
	uint64_t w = atomic_load_explicit(&slot->resv_word, memory_order_relaxed);

	/* near empty the shares are dry: nothing published.  Past the share's
	   test the share is need or more, not negative: the count is the
	   word's top 16 bits as they are (mb_resv_flight_of's borrow is 0),
	   one shift (2 instructions a regular call fewer) */
	assert((int64_t)need >= 0);
	if (mb_resv_share_of(w) < (int64_t)need || (w >> MB_RESV_SHARE_BITS) >= MB_RESV_FLIGHT_MAX)
		return false;
	assert(mb_resv_flight_of(w) == w >> MB_RESV_SHARE_BITS);
	atomic_store_explicit(&slot->resv_word, w + (MB_RESV_FLIGHT_ONE - n), memory_order_relaxed);
	return true;
}

/* mb_resv_take_exact's take from the share, the slot's lock held (or no
   other thread): n if it holds need; relaxed, the lock orders it */
static inline bool mb_resv_take_exact_held(struct mb_pcpu *slot, uint64_t need, uint64_t n)
{
	uint64_t w = atomic_load_explicit(&slot->resv_word, memory_order_relaxed);

	if (mb_resv_share_of(w) < (int64_t)need)
		return false; /* near empty the shares are dry: nothing published */
	atomic_store_explicit(&slot->resv_word, w - n, memory_order_relaxed);
	return true;
}

/*
 * mb_resv_take_exact for a caller that knows the process threaded and read
 * mb_lock_me() (me; mb_trylock_mt): the slot lock's biased hold inline,
 * with no call and no second read of the thread's record; else reserve.c's
 * general hold.  The slot lock's rank is 0 (zeroed memory, struct mb_pcpu).
 */
static inline __attribute__((always_inline)) bool
mb_resv_take_exact_mt(struct mb_pcpu *slot, uint64_t need, uint64_t n, struct mb_lock_thr *me)
{
	if (MB_LIKELY(mb_lock_if_biased_at(&slot->resv_lock, 0, me))) {
		bool ok = mb_resv_take_exact_held(slot, need, n);

		mb_unlock_biased_at(&slot->resv_lock, 0, me);
		return ok;
	}
	return mb_resv_take_exact(slot, need, n);
}

/*
 * A claim's take (mb_resv_take_claim_held) for a caller that knows the
 * process threaded: inline when the slot's lock is biased to this thread
 * (the slot a thread keeps using soon is); false otherwise, with nothing
 * taken, and the caller goes to reserve.c's general hold.
 */
static inline __attribute__((always_inline)) bool
mb_resv_take_claim_biased(struct mb_pcpu *slot, uint64_t need, uint64_t n)
{
	struct mb_lock_thr *me = mb_lock_me();

	if (!mb_lock_if_biased_at(&slot->resv_lock, 0, me))
		return false;
	bool ok = mb_resv_take_claim_held(slot, need, n);

	mb_unlock_biased_at(&slot->resv_lock, 0, me);
	return ok;
}

/* discard_pa_seq: bumped (relaxed) whenever a lock-free search may have
   missed free space -- a buddy free, a discard, a group moving between
   scan sets -- under the group lock (struct mb_pcpu says what it pairs
   with).  ext4 bumps on every mark-used too; a use that moves no set only
   takes space where searches look, so here it does not (a failing request
   retries on others' frees and moves, not on their every allocation).
   Nor does a move of the average's sub alone that lowers it (group_sets.c:
   it only takes a group out of walks that would now refuse it). */
static inline void mb_seq_bump(struct mb_volume *vol)
{
	mb_ctr_add(&mb_this_pcpu(vol)->discard_pa_seq, 1, memory_order_relaxed);
	mb_cpu_tls.bumps++;
}
/* The bumps this thread made, on any volume: a caller's own share of one
   volume's sum moves, while it touches no other volume between its two
   samples (constrain.c; a bump elsewhere would only cost a retry). */
static inline uint64_t mb_seq_own(void)
{
	return mb_cpu_tls.bumps;
}
static inline uint64_t mb_seq_local(struct mb_volume *vol)
{
	return atomic_load_explicit(&mb_this_pcpu(vol)->discard_pa_seq, memory_order_relaxed);
}
uint64_t mb_seq_sum(const struct mb_volume *vol);

/* Statistics (stats.c sums them): only when the mb_stats tunable is on. */
static inline void mb_stat_add(struct mb_volume *vol, enum mb_stat_id id, uint64_t n)
{
	if (MB_UNLIKELY(MB_READ_ONCE(vol->t.mb_stats)))
		atomic_fetch_add_explicit(&mb_this_pcpu(vol)->stat[id], n, memory_order_relaxed);
}
static inline void mb_stat_inc(struct mb_volume *vol, enum mb_stat_id id)
{
	mb_stat_add(vol, id, 1);
}
static inline void mb_stat_cr(struct mb_volume *vol, int cr, int which, uint64_t n)
{
	mb_stat_add(vol, (enum mb_stat_id)(MB_ST_CR_BASE + 4 * cr + which), n);
}

#endif /* MB_PERCPU_H */
