/* SPDX-License-Identifier: MIT */
/*
 * stats.c - tunables by ext4's sysfs names, with ranges, and the mb_stats
 * counters summed over the per-CPU slots.
 */
#include <string.h>

#include "mb_int.h"
#include "percpu.h"
#include "store.h"

struct mb_tunable_desc {
	const char *name;
	size_t offset;
	uint64_t min, max; /* max 0: the volume decides (see mb_tunable_max) */
	const char *help;  /* one line for `mballoc tunables` */
};

#define MB_T(name, lo, hi, help) { #name, offsetof(struct mb_tunables, name), lo, hi, help }
static const struct mb_tunable_desc mb_tunable_table[] = {
	MB_T(mb_stats, 0, 1, "1: count requests, criteria hits and retries (mb_stats)"),
	MB_T(mb_max_to_scan, 1, UINT32_MAX,
	     "free extents a best-fit search may look at in a group before taking its best"),
	MB_T(mb_min_to_scan, 1, UINT32_MAX,
	     "free extents a best-fit search looks at before a good-enough one may end it"),
	MB_T(mb_order2_req, 1, 64,
	     "requests of at least 2^N blocks first try the power-of-two aligned criterion"),
	MB_T(mb_stream_req, 0, UINT32_MAX,
	     "files smaller than this many blocks share a per-CPU locality group; "
	     "larger ones stream"),
	MB_T(mb_group_prealloc, 0, 0,
	     "blocks a locality group preallocates at a time for small files"),
	MB_T(mb_max_linear_groups, 0, UINT32_MAX,
	     "groups tried in order before the optimized scan (ext4: 4 on rotating disks)"),
	MB_T(mb_optimize_scan, 0, 1,
	     "1: find groups through per-order lists instead of walking them in order"),
	MB_T(mb_best_avail_max_trim_order, 0, 0,
	     "orders by which the best-available criterion may shrink a request"),
	MB_T(mb_enospc_policy, 0, 1,
	     "0: the 2020 fix (no ENOSPC while the space exists); 1: ext4 before it"),
	MB_T(mb_max_retries, 1, UINT32_MAX,
	     "cap on ENOSPC retry rounds (a backstop: rounds end when nothing moves)"),
	MB_T(mb_lg_sticky, 0, 1,
	     "departure, 1: a file keeps the locality group it first used"),
	MB_T(mb_lg_continuity, 0, 1,
	     "departure, 1: a file continuing a group preallocation keeps filling it"),
	MB_T(reserved_clusters, 0, 0,
	     "system reserve: blocks only MB_HINT_USE_RESERVED allocations may take"),
	MB_T(r_blocks_count, 0, 0,
	     "root blocks: blocks only MB_HINT_USE_ROOT_BLOCKS allocations may take"),
	MB_T(mb_stream_spread, 0, 1,
	     "departure, 1: stream goals start spread over the volume, not at group 0"),
	MB_T(mb_goal_skip_busy, 0, 1,
	     "departure, 1: a stream's new window skips its goal group when it is locked"),
	MB_T(mb_enospc_no_prealloc, 0, 1,
	     "departure (on by default), 1: no preallocation while any request retries "
	     "after ENOSPC"),
	MB_T(mb_scan_summary, 0, 1,
	     "speed only, 1: the group scan jumps over free runs with a tree of them, "
	     "group passes skip groups through order sets (same decisions)"),
	MB_T(mb_slow_skip_short, 0, 1,
	     "departure, 1: the slow best-fit pass skips free runs that cannot beat its best"),
	MB_T(mb_noprealloc_no_pa, 0, 1,
	     "departure, 1: a NOPREALLOC request is never served from a preallocation"),
	MB_T(mb_profile, 0, 2,
	     "sets every departure at once: 0 mballoc (ext4 + correctness fixes), "
	     "1 ext4, 2 project"),
	MB_T(mb_cache_groups, 1, 0,
	     "memory only, groups whose buddy stays built; colder ones are dropped and "
	     "rebuilt on use (same decisions)"),
};
#define MB_NTUNABLES (sizeof(mb_tunable_table) / sizeof(mb_tunable_table[0]))

void mb_tunables_default(struct mb_volume *vol)
{
	struct mb_tunables *t = &vol->t;

	t->mb_stats = 0;
	t->mb_max_to_scan = 200;
	t->mb_min_to_scan = 10;
	t->mb_order2_req = 2;
	t->mb_stream_req = 16;
	t->mb_group_prealloc = vol->bpg < 512 ? vol->bpg : 512;
	t->mb_max_linear_groups = 0; /* ext4: 4 on rotational media, 0 otherwise */
	t->mb_optimize_scan = vol->ngroups >= 16;
	t->mb_best_avail_max_trim_order = 3;
	t->mb_enospc_policy = MB_POLICY_SEQ;
	/*
	 * ext4 caps retries at 3 rounds to stop live-locks over the last
	 * extents.  Our rounds retry only while something moved, so they end
	 * when the others stop; the cap is a backstop, high enough that the
	 * stress modes never reach it (they report when they do).
	 */
	t->mb_max_retries = 4096;
	/* departures from ext4 (docs/FIDELITY.md): off, as ext4 */
	t->mb_lg_sticky = 0;
	t->mb_lg_continuity = 0;
	/* ext4 would say mb_resv_default_clusters(); a library volume starts
	   without a system reserve, so plain mb_alloc may take every free block */
	t->reserved_clusters = 0;
	t->r_blocks_count = 0;
	t->mb_stream_spread = 0;
	t->mb_goal_skip_busy = 0;
	t->mb_slow_skip_short = 0;
	/* a departure that fixes a spurious ENOSPC: on by default */
	t->mb_enospc_no_prealloc = 1;
	/* speed only, the decisions are the same either way (runsum.c) */
	t->mb_scan_summary = 1;
	t->mb_noprealloc_no_pa = 0;
	t->mb_profile = MB_PROFILE_MBALLOC; /* what the lines above amount to */
	mb_tunables_retune(vol);
}

/* vol->p2_fast_lo from the tunables and the hook it folds (mb_int.h). */
void mb_tunables_retune(struct mb_volume *vol)
{
	const struct mb_tunables *t = &vol->t;
	uint32_t order2 = MB_READ_ONCE(t->mb_order2_req);
	/* a read-only store too: the fast path then needs no test of its own
	   (mb_alloc_anon_valid; set when the store is, mb_volume_create_on) */
	bool regular = MB_READ_ONCE(t->mb_stats) || !MB_READ_ONCE(t->mb_optimize_scan) ||
		       MB_READ_ONCE(t->mb_max_linear_groups) || !MB_READ_ONCE(t->mb_scan_summary) ||
		       vol->hook_fn || (vol->store && mb_store_read_only(vol->store));

	/* ext4 takes CR_POWER2_ALIGNED for 2^k blocks when k >= mb_order2_req - 1
	   (mb_order2_req is at least 1); the fast path, when k is above
	   MB_BUDDY_DERIVED too (its orders have maps): one compare for both */
	uint32_t lo = order2 - 1 > MB_BUDDY_DERIVED ? order2 - 1 : MB_BUDDY_DERIVED + 1;

	MB_WRITE_ONCE(vol->p2_fast_lo, regular ? UINT32_MAX : lo);
}

/*
 * Profiles (mb_profile): each departure's value under MB_PROFILE_MBALLOC
 * (the defaults above: ext4's decisions, plus the departures that fix a
 * correctness bug), MB_PROFILE_EXT4 (every ext4 value) and
 * MB_PROFILE_PROJECT (every departure the project made on purpose, on).
 * reserved_clusters's ext4 value depends on the volume: MB_RESV_EXT4.
 */
#define MB_RESV_EXT4 UINT32_MAX
static const struct {
	const char *name;
	uint32_t v[3]; /* by MB_PROFILE_* */
} mb_profile_table[] = {
	{ "mb_lg_sticky", { 0, 0, 1 } },
	{ "mb_lg_continuity", { 0, 0, 1 } },
	{ "mb_stream_spread", { 0, 0, 1 } },
	{ "mb_goal_skip_busy", { 0, 0, 1 } },
	{ "mb_slow_skip_short", { 0, 0, 1 } },
	{ "mb_noprealloc_no_pa", { 0, 0, 1 } },
	{ "mb_enospc_no_prealloc", { 1, 0, 1 } },
	{ "reserved_clusters", { 0, MB_RESV_EXT4, 0 } },
};

static void mb_profile_apply(struct mb_volume *vol, uint32_t profile)
{
	for (size_t i = 0; i < sizeof(mb_profile_table) / sizeof(mb_profile_table[0]); i++) {
		uint64_t v = mb_profile_table[i].v[profile];

		if (v == MB_RESV_EXT4)
			v = mb_resv_default_clusters(vol);
		/* every value is in range: the table's, or ext4's own reserve,
		   which is below blocks_count */
		int err = mb_tunable_set(vol, mb_profile_table[i].name, v);

		assert(!err);
		(void)err;
	}
}

static uint64_t mb_tunable_max(const struct mb_volume *vol, const struct mb_tunable_desc *d)
{
	if (d->max)
		return d->max;
	if (!strcmp(d->name, "mb_group_prealloc"))
		return vol->bpg;
	if (!strcmp(d->name, "mb_cache_groups"))
		return vol->gc_size; /* the ring's size, fixed at creation */
	if (!strcmp(d->name, "reserved_clusters") || !strcmp(d->name, "r_blocks_count")) {
		/* ext4's reserved_clusters_store: below the volume's size */
		uint64_t n = vol->geo.blocks_count - 1;

		return n < UINT32_MAX ? n : UINT32_MAX;
	}
	return (uint64_t)vol->max_order; /* mb_best_avail_max_trim_order */
}

static const struct mb_tunable_desc *mb_tunable_find(const char *name)
{
	for (size_t i = 0; name && i < MB_NTUNABLES; i++)
		if (!strcmp(mb_tunable_table[i].name, name))
			return &mb_tunable_table[i];
	return NULL;
}

const char *mb_tunable_name(unsigned i)
{
	return i < MB_NTUNABLES ? mb_tunable_table[i].name : NULL;
}

int mb_tunable_info(const struct mb_volume *vol, const char *name, uint64_t *min, uint64_t *max,
		    const char **help)
{
	const struct mb_tunable_desc *d = mb_tunable_find(name);

	if (!d)
		return -ENOENT;
	if (min)
		*min = d->min;
	if (max)
		*max = vol ? mb_tunable_max(vol, d) : d->max;
	if (help)
		*help = d->help;
	return 0;
}

int mb_tunable_get(const struct mb_volume *vol, const char *name, uint64_t *value)
{
	const struct mb_tunable_desc *d = mb_tunable_find(name);

	if (!d)
		return -ENOENT;
	const uint32_t *field = (const uint32_t *)((const char *)&vol->t + d->offset);
	*value = __atomic_load_n(field, __ATOMIC_RELAXED);
	return 0;
}

int mb_tunable_set(struct mb_volume *vol, const char *name, uint64_t value)
{
	const struct mb_tunable_desc *d = mb_tunable_find(name);

	if (!d)
		return -ENOENT;
	if (value < d->min || value > mb_tunable_max(vol, d))
		return -EINVAL;
	uint32_t *field = (uint32_t *)((char *)&vol->t + d->offset);
	if (!strcmp(d->name, "mb_profile"))
		mb_profile_apply(vol, (uint32_t)value);
	__atomic_store_n(field, (uint32_t)value, __ATOMIC_RELAXED);
	if (!strcmp(d->name, "reserved_clusters") || !strcmp(d->name, "r_blocks_count"))
		mb_resv_retune(vol);
	mb_tunables_retune(vol);
	return 0;
}

static uint64_t mb_stat_sum(const struct mb_volume *vol, int id)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		n += atomic_load_explicit(&vol->pcpu[i].stat[id], memory_order_relaxed);
	return n;
}

void mb_stats_get(const struct mb_volume *vol, struct mb_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->reqs = mb_stat_sum(vol, MB_ST_REQS);
	st->success = mb_stat_sum(vol, MB_ST_SUCCESS);
	st->groups_scanned = mb_stat_sum(vol, MB_ST_GROUPS_SCANNED);
	st->goal_hits = mb_stat_sum(vol, MB_ST_GOAL_HITS);
	st->stream_goal_hits = mb_stat_sum(vol, MB_ST_STREAM_GOAL_HITS);
	st->len_goal_hits = mb_stat_sum(vol, MB_ST_LEN_GOAL_HITS);
	st->two_n_hits = mb_stat_sum(vol, MB_ST_2N_HITS);
	st->breaks = mb_stat_sum(vol, MB_ST_BREAKS);
	st->lost = mb_stat_sum(vol, MB_ST_LOST);
	st->buddies_generated = mb_stat_sum(vol, MB_ST_BUDDIES_GENERATED);
	st->preallocated = mb_stat_sum(vol, MB_ST_PREALLOCATED);
	st->discarded = mb_stat_sum(vol, MB_ST_DISCARDED);
	st->enospc = mb_stat_sum(vol, MB_ST_ENOSPC);
	st->retries = mb_stat_sum(vol, MB_ST_RETRIES);
	st->strict_retries = mb_stat_sum(vol, MB_ST_STRICT_RETRIES);
	st->discard_passes = mb_stat_sum(vol, MB_ST_DISCARD_PASSES);
	st->pa_hits = mb_stat_sum(vol, MB_ST_PA_HITS);
	for (int cr = 0; cr < MB_NUM_CRS; cr++) {
		st->cr[cr].hits = mb_stat_sum(vol, MB_ST_CR_BASE + 4 * cr);
		st->cr[cr].groups_considered = mb_stat_sum(vol, MB_ST_CR_BASE + 4 * cr + 1);
		st->cr[cr].extents_scanned = mb_stat_sum(vol, MB_ST_CR_BASE + 4 * cr + 2);
		st->cr[cr].useless_loops = mb_stat_sum(vol, MB_ST_CR_BASE + 4 * cr + 3);
		st->extents_scanned += st->cr[cr].extents_scanned;
	}
}

void mb_stats_reset(struct mb_volume *vol)
{
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		for (int id = 0; id < MB_ST_COUNT; id++)
			atomic_store_explicit(&vol->pcpu[i].stat[id], 0, memory_order_relaxed);
}

const char *mb_criteria_name(int cr)
{
	static const char *const names[MB_NUM_CRS] = {
		"CR_POWER2_ALIGNED", "CR_GOAL_LEN_FAST", "CR_BEST_AVAIL_LEN",
		"CR_GOAL_LEN_SLOW", "CR_ANY_FREE",
	};
	return cr >= 0 && cr < MB_NUM_CRS ? names[cr] : "?";
}

int mb_group_stat(struct mb_volume *vol, uint32_t g, struct mb_group_stat *st)
{
	if (g >= vol->ngroups)
		return -EINVAL;
	struct mb_group *grp = mb_group_at(vol, g);
	uint32_t state;

	memset(st, 0, sizeof(*st));
	mb_lock(&grp->bb_lock);
	st->free = grp->bb_free;
	st->fragments = grp->bb_fragments;
	st->first_free = grp->bb_first_free;
	st->largest_free_order = grp->bb_largest_free_order;
	st->avg_fragment_order = grp->bb_avg_fragment_size_order;
	memcpy(st->counters, grp->bb_counters, sizeof(st->counters));
	st->disk_free = grp->bg_free;
	state = atomic_load(&grp->bb_state);
	mb_unlock(&grp->bb_lock);
	st->flags = ((state & MB_GRP_CORRUPT) ? MB_GROUP_CORRUPT : 0) |
		    ((state & MB_GRP_NEED_INIT) ? 0 : MB_GROUP_LOADED);
	return 0;
}
