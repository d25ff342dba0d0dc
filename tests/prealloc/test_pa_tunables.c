/* SPDX-License-Identifier: MIT */
/*
 * test_pa_tunables.c - every tunable round-trips, out-of-range values are
 * refused without effect, unknown names are -ENOENT, and the defaults are
 * ext4's (design doc 7).
 */
#include "pa_util.h"

#include <string.h>

static const struct mb_geometry geo = { 4096, 1024, 65536, 0, 2, 0 }; /* 64 groups */

TEST(tunables_round_trip)
{
	struct mb_volume *vol;
	unsigned n = 0;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (const char *name; (name = mb_tunable_name(n)); n++) {
		uint64_t v, orig;

		ASSERT_EQ_INT(mb_tunable_get(vol, name, &orig), 0);
		/* 1 is in range for every tunable (a bool, a count or an order) */
		ASSERT_EQ_INT(mb_tunable_set(vol, name, 1), 0);
		ASSERT_EQ_INT(mb_tunable_get(vol, name, &v), 0);
		ASSERT_EQ_U64(v, 1);
		ASSERT_EQ_INT(mb_tunable_set(vol, name, orig), 0);
		ASSERT_EQ_INT(mb_tunable_get(vol, name, &v), 0);
		ASSERT_EQ_U64(v, orig);
	}
	ASSERT_TRUE(n >= 10);
	/* the header's list: each name must exist */
	static const char *const names[] = { "mb_stats", "mb_max_to_scan", "mb_min_to_scan",
		"mb_order2_req", "mb_stream_req", "mb_group_prealloc", "mb_max_linear_groups",
		"mb_optimize_scan", "mb_best_avail_max_trim_order", "mb_enospc_policy" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t v;

		ASSERT_EQ_INT(mb_tunable_get(vol, names[i], &v), 0);
	}
	mb_volume_destroy(vol);
}

TEST(tunables_defaults)
{
	static const struct {
		const char *name;
		uint64_t value;
	} defs[] = {
		{ "mb_stats", 0 },	    { "mb_max_to_scan", 200 },   { "mb_min_to_scan", 10 },
		{ "mb_order2_req", 2 },	    { "mb_stream_req", 16 },     { "mb_group_prealloc", 512 },
		{ "mb_optimize_scan", 1 },  { "mb_best_avail_max_trim_order", 3 },
		{ "mb_enospc_policy", 0 },
	};
	struct mb_volume *vol;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		uint64_t v;

		ASSERT_EQ_INT(mb_tunable_get(vol, defs[i].name, &v), 0);
		if (v != defs[i].value) {
			mb_test_fail(__FILE__, __LINE__, "%s = %" PRIu64 ", want %" PRIu64,
				     defs[i].name, v, defs[i].value);
			return;
		}
	}
	mb_volume_destroy(vol);
	/* optimized scanning defaults on iff there are >= 16 groups */
	const struct mb_geometry few = { 4096, 1024, 15 * 1024, 0, 2, 0 };
	uint64_t v;

	ASSERT_EQ_INT(mb_volume_create(&few, &vol), 0);
	ASSERT_EQ_INT(mb_tunable_get(vol, "mb_optimize_scan", &v), 0);
	ASSERT_EQ_U64(v, 0);
	ASSERT_EQ_INT(mb_tunable_get(vol, "mb_group_prealloc", &v), 0);
	ASSERT_EQ_U64(v, 512);
	mb_volume_destroy(vol);
}

TEST(tunables_out_of_range_refused)
{
	static const struct {
		const char *name;
		uint64_t bad;
	} cases[] = {
		{ "mb_optimize_scan", 2 },
		{ "mb_enospc_policy", 2 },
		{ "mb_stats", 2 },
		{ "mb_group_prealloc", 1025 }, /* > blocks_per_group */
		{ "mb_max_to_scan", 0 },
		{ "mb_min_to_scan", 0 },
		{ "mb_max_to_scan", 1ULL << 32 },
		{ "mb_stream_req", UINT64_MAX },
		{ "mb_best_avail_max_trim_order", 11 }, /* > log2(blocks_per_group) */
	};
	struct mb_volume *vol;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t before, after;

		ASSERT_EQ_INT(mb_tunable_get(vol, cases[i].name, &before), 0);
		int err = mb_tunable_set(vol, cases[i].name, cases[i].bad);

		ASSERT_EQ_INT(mb_tunable_get(vol, cases[i].name, &after), 0);
		if (err != -EINVAL || after != before) {
			mb_test_fail(__FILE__, __LINE__,
				     "%s = %" PRIu64 ": %d, value %" PRIu64 " -> %" PRIu64,
				     cases[i].name, cases[i].bad, err, before, after);
			return;
		}
	}
	/* the edges are in range */
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_group_prealloc", 1024), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_group_prealloc", 0), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_best_avail_max_trim_order", 10), 0);
	mb_volume_destroy(vol);
}

TEST(tunables_unknown_names)
{
	struct mb_volume *vol;
	unsigned n = 0;
	uint64_t v = 42;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	while (mb_tunable_name(n))
		n++;
	ASSERT_TRUE(mb_tunable_name(n) == NULL);
	ASSERT_TRUE(mb_tunable_name(n + 1000) == NULL);
	ASSERT_EQ_INT(mb_tunable_get(vol, "mb_no_such", &v), -ENOENT);
	ASSERT_EQ_U64(v, 42);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_no_such", 1), -ENOENT);
	ASSERT_EQ_INT(mb_tunable_set(vol, "", 1), -ENOENT);
	ASSERT_EQ_INT(mb_tunable_set(vol, "MB_STATS", 1), -ENOENT);
	ASSERT_EQ_INT(mb_tunable_get(vol, "mb_stats_", &v), -ENOENT);
	mb_volume_destroy(vol);
}

/* mb_tunable_info's range is exactly what mb_tunable_set takes, on this volume. */
TEST(tunables_info_is_the_set_range)
{
	struct mb_volume *vol;
	const char *name, *help = NULL;
	uint64_t lo, hi, orig, v;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (unsigned n = 0; (name = mb_tunable_name(n)); n++) {
		ASSERT_EQ_INT(mb_tunable_info(vol, name, &lo, &hi, &help), 0);
		ASSERT_TRUE(help && strlen(help) > 10);
		ASSERT_TRUE(lo <= hi);
		ASSERT_EQ_INT(mb_tunable_get(vol, name, &orig), 0);
		ASSERT_TRUE(orig >= lo && orig <= hi); /* the default is in range */
		ASSERT_EQ_INT(mb_tunable_set(vol, name, hi), 0);
		ASSERT_EQ_INT(mb_tunable_set(vol, name, hi + 1), -EINVAL);
		ASSERT_EQ_INT(mb_tunable_set(vol, name, lo), 0);
		if (lo)
			ASSERT_EQ_INT(mb_tunable_set(vol, name, lo - 1), -EINVAL);
		ASSERT_EQ_INT(mb_tunable_get(vol, name, &v), 0);
		ASSERT_EQ_U64(v, lo);
		ASSERT_EQ_INT(mb_tunable_set(vol, name, orig), 0);
		/* without a volume, a bound the volume decides reads 0 */
		ASSERT_EQ_INT(mb_tunable_info(NULL, name, NULL, &v, NULL), 0);
		ASSERT_TRUE(v == hi || v == 0);
	}
	ASSERT_EQ_INT(mb_tunable_info(vol, "mb_group_prealloc", NULL, &hi, NULL), 0);
	ASSERT_EQ_U64(hi, geo.blocks_per_group);
	ASSERT_EQ_INT(mb_tunable_info(vol, "mb_no_such", &lo, &hi, &help), -ENOENT);
	mb_volume_destroy(vol);
}

/*
 * mb_profile sets every departure at once (docs/FIDELITY.md): ext4 (1)
 * every ext4 value, project (2) every departure on, mballoc (0, the
 * default) ext4's decisions plus the fix for a spurious ENOSPC.  A tunable
 * set afterwards overrides its profile value; the profile reads back as
 * the one last selected.
 */
static const char *const profile_names[] = { "mb_lg_sticky", "mb_lg_continuity",
	"mb_stream_spread", "mb_goal_skip_busy", "mb_slow_skip_short", "mb_noprealloc_no_pa",
	"mb_enospc_no_prealloc", "reserved_clusters" };
#define NPROF (sizeof(profile_names) / sizeof(profile_names[0]))

static void profile_expect(struct mb_volume *vol, const uint64_t want[NPROF])
{
	for (size_t i = 0; i < NPROF; i++) {
		uint64_t v;

		ASSERT_EQ_INT(mb_tunable_get(vol, profile_names[i], &v), 0);
		if (v != want[i])
			fprintf(stderr, "%s: %llu, want %llu\n", profile_names[i],
				(unsigned long long)v, (unsigned long long)want[i]);
		ASSERT_EQ_U64(v, want[i]);
	}
}

TEST(profile_sets_every_departure)
{
	/* 65536 blocks: ext4's reserve is min(2%, 4096) = 1310 */
	static const uint64_t mballoc[NPROF] = { 0, 0, 0, 0, 0, 0, 1, 0 };
	static const uint64_t ext4[NPROF] = { 0, 0, 0, 0, 0, 0, 0, 1310 };
	static const uint64_t project[NPROF] = { 1, 1, 1, 1, 1, 1, 1, 0 };
	struct mb_volume *vol;
	uint64_t v;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_tunable_get(vol, "mb_profile", &v), 0);
	ASSERT_EQ_U64(v, MB_PROFILE_MBALLOC);
	profile_expect(vol, mballoc);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_profile", MB_PROFILE_EXT4), 0);
	profile_expect(vol, ext4);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_profile", MB_PROFILE_PROJECT), 0);
	profile_expect(vol, project);
	/* out of range: refused, nothing changes */
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_profile", 3), -EINVAL);
	profile_expect(vol, project);
	ASSERT_EQ_INT(mb_tunable_get(vol, "mb_profile", &v), 0);
	ASSERT_EQ_U64(v, MB_PROFILE_PROJECT);
	/* one departure overridden after the ext4 profile keeps its value */
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_profile", MB_PROFILE_EXT4), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_lg_sticky", 1), 0);
	uint64_t ext4_sticky[NPROF];

	memcpy(ext4_sticky, ext4, sizeof(ext4));
	ext4_sticky[0] = 1;
	profile_expect(vol, ext4_sticky);
	ASSERT_EQ_INT(mb_tunable_get(vol, "mb_profile", &v), 0);
	ASSERT_EQ_U64(v, MB_PROFILE_EXT4);
	/* back to the default profile: every tunable as on a fresh volume */
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_profile", MB_PROFILE_MBALLOC), 0);
	struct mb_volume *fresh;

	ASSERT_EQ_INT(mb_volume_create(&geo, &fresh), 0);
	for (unsigned n = 0; mb_tunable_name(n); n++) {
		uint64_t a, b;

		ASSERT_EQ_INT(mb_tunable_get(vol, mb_tunable_name(n), &a), 0);
		ASSERT_EQ_INT(mb_tunable_get(fresh, mb_tunable_name(n), &b), 0);
		ASSERT_EQ_U64(a, b);
	}
	mb_volume_destroy(fresh);
	mb_volume_destroy(vol);
}
