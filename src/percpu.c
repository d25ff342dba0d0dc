/* SPDX-License-Identifier: MIT */
/*
 * percpu.c - per-CPU slots: finding this CPU's slot, and the
 * discard_pa_seq counter of the 2020 ENOSPC series.  The fast path touches
 * only its own CPU's slot; sums are for the failure path.  The stripes of
 * the free-block counter live in the slots too; reserve.c keeps them.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>

#include "mb_int.h"
#include "percpu.h"

/* the cache mb_cpu_slot() (percpu.h) reads */
_Thread_local struct mb_cpu_cache mb_cpu_tls MB_TLS_FAST = { .cpu = -1, .left = 1 };

/*
 * The slots of every volume: the CPUs configured, rounded up to a power of
 * two, 1024 at most -- read once, so that a CPU's slot is at the same
 * offset in every volume's array (mb_this_pcpu).
 */
uint32_t mb_pcpu_slots(void)
{
	static _Atomic uint32_t slots;
	uint32_t s = atomic_load_explicit(&slots, memory_order_relaxed);

	if (MB_LIKELY(s))
		return s;
	long n = sysconf(_SC_NPROCESSORS_CONF);

	for (s = 1; s < (uint32_t)(n > 0 ? n : 1) && s < 1024;)
		s <<= 1;
	uint32_t none = 0;

	/* the first answer stays: a CPU brought up later changes no slot count */
	if (!atomic_compare_exchange_strong_explicit(&slots, &none, s, memory_order_relaxed,
						     memory_order_relaxed))
		s = none;
	return s;
}

int mb_cpu_refresh(void)
{
	int cpu = sched_getcpu();

	if (MB_UNLIKELY(cpu < 0)) {
		static _Thread_local char tag; /* no CPU number: one slot per thread */
		cpu = (int)(((uintptr_t)&tag >> 6) & 0xffff);
	}
	mb_cpu_cached = cpu;
	mb_cpu_tls.off = mb_cpu_off(cpu);
	return cpu;
}

/*
 * The CPU the caller runs on now, read fresh (rule 7: ext4 takes the
 * current CPU's locality group on every request, so a thread that migrated
 * uses its new CPU's group at once).  sched_getcpu() is answered from the
 * vDSO or rseq area on Linux, no system call; it also refreshes the cache
 * mb_cpu_slot() reads.
 */
unsigned mb_cpu_now(const struct mb_volume *vol)
{
	return (unsigned)mb_cpu_refresh() & vol->pcpu_mask;
}

/*
 * A request may name its CPU (MB_REQ_CPU): a caller that hands requests to
 * worker threads, or replays a trace, keeps each on its own locality
 * group.  Folded by the low bits, as sched_getcpu()'s answer is.
 */
unsigned mb_req_cpu_slot(const struct mb_volume *vol, const struct mb_request *req)
{
	if ((req->flags & MB_REQ_CPU) && req->cpu != MB_CPU_CURRENT)
		return req->cpu & vol->pcpu_mask;
	return mb_cpu_now(vol);
}

/*
 * Every counter only grows, so two sums that are equal mean no slot moved
 * in between (each slot's value is bracketed by its two reads).  Acquire
 * pairs with the group unlock that follows each bump.
 */
uint64_t mb_seq_sum(const struct mb_volume *vol)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		sum += atomic_load_explicit(&vol->pcpu[i].discard_pa_seq, memory_order_acquire);
	return sum;
}
