/* SPDX-License-Identifier: MIT */
/*
 * test_cbstore.c - the callback store through the public API only: a tiny
 * "database" keeps each group's bitmap in its own pages (live and
 * committed copies); the library must read them through load(), never
 * hand out a block they show used, hand every changed group to commit()
 * (freed blocks included) and reuse a freed block only after that commit.
 */
#include <string.h>

#include "harness.h"

#define BS 1024
#define BPG 256
#define NGROUPS 4
#define WORDS (BPG / 64)
#define RSV 2

static const struct mb_geometry geo = { .block_size = BS, .blocks_per_group = BPG,
					.blocks_count = (uint64_t)BPG * NGROUPS,
					.first_data_block = 0, .reserved_per_group = RSV };
static const struct mb_open_opts no_thread = { .commit_interval_s = 0 };

struct db {
	uint64_t pages[NGROUPS][WORDS]; /* committed bitmaps: what survives */
	int loads[NGROUPS];
	int commits;                   /* commit() calls */
	int committed[NGROUPS];        /* times each group was committed */
	int fail_commit;               /* return this from commit() */
	int bad_free_group;            /* group_free() lies for this group (-1: never) */
	bool give_free;                /* group_free given */
	int bad;                       /* broken promises seen inside callbacks */
};

/* Inside a callback (which returns int): count, the test asserts bad == 0. */
#define DB_CHECK(d, c) ((d)->bad += !(c))

static int db_load(void *arg, uint32_t g, uint64_t *bits)
{
	struct db *d = arg;

	d->loads[g]++;
	for (int w = 0; w < WORDS; w++)
		DB_CHECK(d, bits[w] == 0); /* zeroed by the library */
	memcpy(bits, d->pages[g], sizeof(d->pages[g]));
	return 0;
}

static uint32_t db_count_free(const uint64_t *bits)
{
	uint32_t n = 0;

	for (int i = 0; i < BPG; i++)
		n += !((bits[i / 64] >> (i % 64)) & 1);
	return n;
}

static int db_group_free(void *arg, uint32_t g, uint32_t *free)
{
	struct db *d = arg;

	*free = db_count_free(d->pages[g]) + ((int)g == d->bad_free_group);
	return 0;
}

static int db_commit(void *arg, const struct mb_group_bitmap *groups, uint32_t n)
{
	struct db *d = arg;

	d->commits++;
	if (d->fail_commit)
		return d->fail_commit;
	DB_CHECK(d, n >= 1);
	for (uint32_t i = 0; i < n; i++) {
		if (groups[i].group >= NGROUPS) {
			d->bad++;
			continue;
		}
		DB_CHECK(d, i == 0 || groups[i].group > groups[i - 1].group);
		DB_CHECK(d, groups[i].free == db_count_free(groups[i].bits));
		DB_CHECK(d, !groups[i].spare[0] && !groups[i].spare[1]);
		memcpy(d->pages[groups[i].group], groups[i].bits, sizeof(d->pages[0]));
		d->committed[groups[i].group]++;
	}
	return 0;
}

static void db_init(struct db *d)
{
	memset(d, 0, sizeof(*d));
	d->bad_free_group = -1;
	d->give_free = true;
	for (int g = 0; g < NGROUPS; g++)
		d->pages[g][0] = (1ULL << RSV) - 1; /* metadata */
}

static struct mb_store_callbacks db_cb(struct db *d)
{
	return (struct mb_store_callbacks){ .arg = d, .load = db_load, .commit = db_commit,
					    .group_free = d->give_free ? db_group_free : NULL };
}

static bool db_used(const struct db *d, uint64_t b)
{
	return (d->pages[b / BPG][(b % BPG) / 64] >> (b % 64)) & 1;
}

static void db_set(struct db *d, uint64_t start, uint64_t len)
{
	for (uint64_t b = start; b < start + len; b++)
		d->pages[b / BPG][(b % BPG) / 64] |= 1ULL << (b % 64);
}

static int alloc1(struct mb_volume *vol, uint64_t goal, uint32_t len, struct mb_extent *ex)
{
	struct mb_request rq = { .goal = goal, .len = len, .flags = MB_HINT_NOPREALLOC };

	return mb_alloc(vol, &rq, ex);
}

/* Blocks the caller's pages show used are never handed out. */
TEST(loads_are_honoured)
{
	struct db d;
	struct mb_volume *vol;
	struct mb_extent ex;
	uint64_t got = 0, expect = 0;

	db_init(&d);
	db_set(&d, 10, 90);           /* group 0: 10..99 used */
	db_set(&d, BPG + 50, 100);    /* group 1 */
	db_set(&d, 3 * BPG + 2, 254); /* group 3: full */
	struct mb_store_callbacks cb = db_cb(&d);

	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &no_thread, &vol), 0);
	for (uint64_t b = 0; b < geo.blocks_count; b++)
		expect += !db_used(&d, b);
	ASSERT_EQ_U64(mb_free_blocks(vol), expect);
	while (alloc1(vol, MB_GOAL_NONE, 7, &ex) == 0) {
		for (uint64_t b = ex.start; b < ex.start + ex.len; b++)
			ASSERT_TRUE(!db_used(&d, b));
		got += ex.len;
	}
	ASSERT_EQ_U64(got, expect);
	ASSERT_TRUE(d.loads[0] >= 1 && d.loads[1] >= 1 && d.loads[2] >= 1);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(d.bad, 0);
	mb_volume_destroy(vol); /* no commit: the pages keep the old state */
	ASSERT_TRUE(!db_used(&d, 100));
}

/* A free reaches commit(), and the block is reusable only after it. */
TEST(commit_carries_frees)
{
	struct db d;
	struct mb_volume *vol;
	struct mb_extent a, b;

	db_init(&d);
	struct mb_store_callbacks cb = db_cb(&d);

	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &no_thread, &vol), 0);
	ASSERT_EQ_INT(alloc1(vol, BPG + 20, 16, &a), 0);
	ASSERT_EQ_U64(a.start / BPG, 1);
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_INT(d.commits, 1);
	ASSERT_EQ_INT(d.committed[1], 1);
	ASSERT_TRUE(db_used(&d, a.start) && db_used(&d, a.start + 15));

	ASSERT_EQ_INT(mb_free(vol, a.start, a.len), 0);
	struct mb_request again = { .goal = a.start, .len = 16,
				    .flags = MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY };
	ASSERT_EQ_INT(mb_alloc(vol, &again, &b), -ENOSPC); /* not committed yet */
	ASSERT_TRUE(db_used(&d, a.start));
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_INT(d.committed[1], 2);
	ASSERT_TRUE(!db_used(&d, a.start) && !db_used(&d, a.start + 15));
	ASSERT_EQ_INT(mb_alloc(vol, &again, &b), 0);
	ASSERT_EQ_U64(b.start, a.start);
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_INT(d.committed[0] + d.committed[2] + d.committed[3], 0); /* untouched */
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
	ASSERT_EQ_INT(d.bad, 0);
}

/* Out of space with frees waiting: the allocator commits them itself. */
TEST(enospc_forces_commit)
{
	struct db d;
	struct mb_volume *vol;
	struct mb_extent ex;
	uint64_t total = 0;

	db_init(&d);
	struct mb_store_callbacks cb = db_cb(&d);

	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &no_thread, &vol), 0);
	while (alloc1(vol, MB_GOAL_NONE, 8, &ex) == 0)
		total += ex.len;
	ASSERT_EQ_U64(total, (uint64_t)NGROUPS * (BPG - RSV));
	ASSERT_EQ_INT(mb_free(vol, BPG + 64, 32), 0);
	int before = d.commits;

	ASSERT_EQ_INT(alloc1(vol, MB_GOAL_NONE, 32, &ex), 0);
	ASSERT_EQ_U64(ex.start, BPG + 64);
	ASSERT_TRUE(d.commits > before);
	ASSERT_TRUE(!db_used(&d, BPG + 64) || d.committed[1] >= 1);
	mb_volume_destroy(vol);
}

/* Close commits; a reopen from the pages sees the same volume. */
TEST(reopen_from_pages)
{
	struct db d;
	struct mb_volume *vol;
	struct mb_extent ex;

	db_init(&d);
	d.give_free = false; /* counts come from one load per group */
	struct mb_store_callbacks cb = db_cb(&d);

	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &no_thread, &vol), 0);
	ASSERT_EQ_INT(d.loads[0] + d.loads[1] + d.loads[2] + d.loads[3], NGROUPS);
	for (int i = 0; i < 20; i++)
		ASSERT_EQ_INT(alloc1(vol, (uint64_t)i * 37 % geo.blocks_count, 5, &ex), 0);
	ASSERT_EQ_INT(mb_free(vol, ex.start, 2), 0);
	uint64_t left = mb_free_blocks(vol);

	ASSERT_EQ_INT(mb_volume_close(vol), 0);
	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &no_thread, &vol), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), left);
	ASSERT_EQ_INT(mb_volume_verify(vol, NULL, 0), 0);
	ASSERT_EQ_INT(d.bad, 0);
	mb_volume_destroy(vol);
}

/* A bitmap that disagrees with its count is corrupt: never allocated from. */
TEST(load_disagrees_with_count)
{
	struct db d;
	struct mb_volume *vol;
	struct mb_extent ex;
	char buf[512];

	db_init(&d);
	db_set(&d, 2 * BPG + 100, 10);
	d.bad_free_group = 2; /* its count says 1 more free than its bitmap */
	struct mb_store_callbacks cb = db_cb(&d);

	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &no_thread, &vol), 0);
	for (int i = 0; i < 50 && alloc1(vol, 2 * BPG + 10, 4, &ex) == 0; i++)
		ASSERT_TRUE(ex.start / BPG != 2);
	ASSERT_TRUE(mb_volume_verify(vol, buf, sizeof(buf)) > 0);
	ASSERT_TRUE(strstr(buf, "group 2") != NULL);
	mb_volume_destroy(vol);
}

/* A failed commit: the error comes back, the frees stay unusable, and it sticks. */
TEST(commit_error_sticks)
{
	struct db d;
	struct mb_volume *vol;
	struct mb_extent a, b;

	db_init(&d);
	struct mb_store_callbacks cb = db_cb(&d);

	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &no_thread, &vol), 0);
	ASSERT_EQ_INT(alloc1(vol, 40, 8, &a), 0);
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_INT(mb_free(vol, a.start, a.len), 0);
	d.fail_commit = -EIO;
	ASSERT_EQ_INT(mb_commit(vol), -EIO);
	struct mb_request again = { .goal = a.start, .len = 8,
				    .flags = MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY };
	ASSERT_EQ_INT(mb_alloc(vol, &again, &b), -ENOSPC);
	d.fail_commit = 0;
	ASSERT_EQ_INT(mb_commit(vol), -EIO); /* sticky: the pages may have diverged */
	ASSERT_TRUE(db_used(&d, a.start));
	mb_volume_destroy(vol);
}

TEST(read_only_and_bad_args)
{
	struct db d;
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_open_opts ro = { .read_only = 1 };

	db_init(&d);
	struct mb_store_callbacks cb = db_cb(&d), none = cb;

	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &ro, &vol), 0);
	ASSERT_EQ_INT(alloc1(vol, MB_GOAL_NONE, 1, &ex), -EROFS);
	ASSERT_EQ_INT(mb_free(vol, 10, 1), -EROFS);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
	ASSERT_EQ_INT(d.commits, 0);
	none.commit = NULL;
	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &none, NULL, &vol), -EINVAL);
	none = cb;
	none.load = NULL;
	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &none, NULL, &vol), -EINVAL);
	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, NULL, NULL, &vol), -EINVAL);
	none = cb;
	none.spare[8] = 1; /* a field of a later version this one does not know */
	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &none, NULL, &vol), -EINVAL);
	struct mb_open_opts bad_opts = { .spare[0] = 1 };
	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &bad_opts, &vol), -EINVAL);
	d.pages[1][0] = 0; /* a metadata block free: refused at open */
	d.give_free = false;
	cb = db_cb(&d);
	ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, &no_thread, &vol), -EUCLEAN);
}
