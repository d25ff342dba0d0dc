/* SPDX-License-Identifier: MIT */
/*
 * callback_store.c - mballoc allocating for a toy "database" that keeps
 * the block bitmaps in its own pages and journals them in its own
 * transactions (mb_volume_open_callbacks).  The database here is two
 * arrays: the pages as last committed (what a crash leaves) and a
 * transaction counter.  The program allocates, frees, commits, "crashes"
 * (mb_volume_destroy: no commit), reopens from the pages and checks that
 * exactly the committed state came back.  Exit 0 when it did.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mballoc.h"

#define BLOCK_SIZE 4096
#define BLOCKS_PER_GROUP 1024
#define GROUPS 8
#define WORDS (BLOCKS_PER_GROUP / 64)

struct toy_db {
	uint64_t pages[GROUPS][WORDS]; /* committed bitmaps, 1 = used */
	uint32_t free[GROUPS];         /* committed free counts */
	unsigned transactions;
};

/* Called the first time the allocator needs a group. */
static int db_load(void *arg, uint32_t group, uint64_t *bits)
{
	struct toy_db *db = arg;

	memcpy(bits, db->pages[group], sizeof(db->pages[group]));
	return 0;
}

static int db_group_free(void *arg, uint32_t group, uint32_t *free)
{
	*free = ((struct toy_db *)arg)->free[group];
	return 0;
}

/* One transaction of the database: every changed bitmap, all or nothing. */
static int db_commit(void *arg, const struct mb_group_bitmap *groups, uint32_t n)
{
	struct toy_db *db = arg;

	for (uint32_t i = 0; i < n; i++) {
		memcpy(db->pages[groups[i].group], groups[i].bits, sizeof(db->pages[0]));
		db->free[groups[i].group] = groups[i].free;
	}
	db->transactions++;
	return 0;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "callback_store: %s: %s\n", what, strerror(-err));
	return 1;
}

int main(void)
{
	static struct toy_db db;
	const struct mb_geometry geo = { .block_size = BLOCK_SIZE,
					 .blocks_per_group = BLOCKS_PER_GROUP,
					 .blocks_count = (uint64_t)GROUPS * BLOCKS_PER_GROUP,
					 .reserved_per_group = 1 };
	const struct mb_open_opts opts = { .commit_interval_s = 0 }; /* we commit */
	struct mb_store_callbacks cb = { .arg = &db, .load = db_load, .commit = db_commit,
					 .group_free = db_group_free };
	struct mb_volume *vol;
	struct mb_extent ex[16];
	int err;

	for (int g = 0; g < GROUPS; g++) { /* a fresh database: metadata only */
		db.pages[g][0] = 1;
		db.free[g] = BLOCKS_PER_GROUP - 1;
	}
	err = mb_volume_open_callbacks(&geo, &cb, &opts, &vol);
	if (err)
		return fail("open", err);
	for (int i = 0; i < 16; i++) {
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 100,
					 .flags = MB_HINT_NOPREALLOC };

		if ((err = mb_alloc(vol, &rq, &ex[i])))
			return fail("alloc", err);
	}
	for (int i = 0; i < 16; i += 2) /* free every other extent */
		if ((err = mb_free(vol, ex[i].start, ex[i].len)))
			return fail("free", err);
	if ((err = mb_commit(vol)))
		return fail("commit", err);
	uint64_t committed = mb_free_blocks(vol);

	struct mb_request more = { .goal = MB_GOAL_NONE, .len = 500, .flags = MB_HINT_NOPREALLOC };
	struct mb_extent lost;

	if ((err = mb_alloc(vol, &more, &lost)))
		return fail("alloc", err);
	mb_volume_destroy(vol); /* a crash: the last allocation was never committed */

	err = mb_volume_open_callbacks(&geo, &cb, &opts, &vol);
	if (err)
		return fail("reopen", err);
	uint64_t now = mb_free_blocks(vol);
	int problems = mb_volume_verify(vol, NULL, 0);

	printf("%u transactions; %llu blocks free after the commit, %llu after the crash and "
	       "reopen; %d problems\n", db.transactions, (unsigned long long)committed,
	       (unsigned long long)now, problems);
	err = mb_volume_close(vol);
	if (err)
		return fail("close", err);
	return now == committed && problems == 0 && db.transactions >= 1 ? 0 : 1;
}
