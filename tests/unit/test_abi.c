/* SPDX-License-Identifier: MIT */
/*
 * test_abi.c - public structs can grow (mballoc.h, Growing structs): a
 * caller-filled struct with non-zero spare space is refused with -EINVAL
 * and changes nothing; library-filled structs come back with spare zeroed.
 * And a neighbour at block 0 (MB_REQ_PLEFT) is a neighbour, while a zero
 * pleft without the flag still means "none", as before.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NSPARE(s) (sizeof((s).spare) / sizeof((s).spare[0]))

TEST(geometry_spare_must_be_zero)
{
	struct mb_geometry geo = {.block_size = 4096, .blocks_count = 65536};
	struct mb_volume *vol = NULL;

	for (size_t i = 0; i < NSPARE(geo); i++) {
		geo.spare[i] = 1;
		ASSERT_EQ_INT(mb_volume_create(&geo, &vol), -EINVAL);
		ASSERT_TRUE(vol == NULL);
		geo.spare[i] = 0;
	}
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	mb_volume_destroy(vol);
}

TEST(format_and_open_refuse_spare)
{
	char path[] = "/tmp/mb_test_abi_XXXXXX";
	int fd = mkstemp(path);
	struct mb_geometry geo = {.block_size = 4096, .blocks_count = 8192, .reserved_per_group = 64};
	struct mb_open_opts o = {0};
	struct mb_volume *vol = NULL;

	ASSERT_TRUE(fd >= 0);
	close(fd);
	geo.spare[8] = 0x100;
	ASSERT_EQ_INT(mb_volume_format(path, &geo, NULL), -EINVAL);
	geo.spare[8] = 0;
	o.spare[0] = 1;
	ASSERT_EQ_INT(mb_volume_format(path, &geo, &o), -EINVAL);
	o.spare[0] = 0;
	if (mb_volume_format(path, &geo, &o)) {
		unlink(path);
		ASSERT_TRUE(!"format failed");
	}
	for (size_t i = 0; i < NSPARE(o); i++) {
		o.spare[i] = 0x80000000u;
		int err = mb_volume_open(path, &o, &vol);

		o.spare[i] = 0;
		if (err != -EINVAL) {
			if (!err)
				mb_volume_close(vol);
			unlink(path);
			ASSERT_EQ_INT(err, -EINVAL);
		}
	}
	int err = mb_volume_open(path, &o, &vol);

	if (!err)
		mb_volume_close(vol);
	unlink(path);
	ASSERT_EQ_INT(err, 0);
}

TEST(request_spare_must_be_zero)
{
	struct mb_geometry geo = {.block_size = 4096, .blocks_count = 65536};
	struct mb_volume *vol;
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	uint64_t before = mb_free_blocks(vol);

	const struct mb_request plain = {.goal = MB_GOAL_NONE, .len = 8};

	for (size_t i = 0; i <= NSPARE(plain); i++) { /* each spare word, then spare0 */
		struct mb_request rq = plain;

		if (i < NSPARE(rq))
			rq.spare[i] = 1ULL << 63;
		else
			rq.spare0 = 1;
		if (mb_alloc(vol, &rq, &ex) != -EINVAL) {
			mb_volume_destroy(vol);
			ASSERT_TRUE(!"a request with spare set was not refused");
		}
	}
	/* cpu took spare space: a CPU named without MB_REQ_CPU is refused,
	   0 and MB_CPU_CURRENT mean the current CPU with or without it */
	struct mb_request cpu = {.goal = MB_GOAL_NONE, .len = 8, .cpu = 1};

	ASSERT_EQ_INT(mb_alloc(vol, &cpu, &ex), -EINVAL);
	ASSERT_EQ_U64(mb_free_blocks(vol), before);
	cpu.cpu = MB_CPU_CURRENT;
	ASSERT_EQ_INT(mb_alloc(vol, &cpu, &ex), 0);
	cpu.flags = MB_REQ_CPU;
	ASSERT_EQ_INT(mb_alloc(vol, &cpu, &ex), 0);
	cpu.cpu = 1;
	ASSERT_EQ_INT(mb_alloc(vol, &cpu, &ex), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), before - 24);
	/* 0.3.0 cut spare to one word (Growing structs): 80 bytes, which a
	   C++ `mb_request r{}` zeroes with vector stores, not `rep stosq`;
	   every field before spare kept its offset */
	ASSERT_EQ_U64(sizeof(struct mb_request), 80);
	ASSERT_EQ_U64(offsetof(struct mb_request, pright), 56);
	ASSERT_EQ_U64(offsetof(struct mb_request, cpu), 64);
	ASSERT_EQ_U64(offsetof(struct mb_request, spare), 72);
	mb_volume_destroy(vol);
}

TEST(constraint_spare_must_be_zero)
{
	struct mb_geometry geo = {.block_size = 4096, .blocks_count = 65536};
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_request rq = {.goal = MB_GOAL_NONE, .len = 8};
	struct mb_constraint c = {.min_len = 8};

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	uint64_t before = mb_free_blocks(vol);

	c.spare[3] = 1;
	int bad = mb_alloc_constrained(vol, &rq, &c, &ex);
	uint64_t after_bad = mb_free_blocks(vol);

	c.spare[3] = 0;
	int good = mb_alloc_constrained(vol, &rq, &c, &ex);

	mb_volume_destroy(vol);
	ASSERT_EQ_INT(bad, -EINVAL);
	ASSERT_EQ_INT(good, 0);
	ASSERT_EQ_U64(after_bad, before); /* nothing allocated by the refused call */
	ASSERT_EQ_U64(ex.len, 8);
}

/* The library writes every byte of what it fills: spare comes back zero. */
TEST(library_filled_spare_is_zero)
{
	struct mb_geometry geo = {.block_size = 4096, .blocks_count = 65536};
	struct mb_volume *vol;
	struct mb_geometry g;
	struct mb_stats st;
	struct mb_statfs sf;
	struct mb_group_stat gs;
	struct mb_volume_info info;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	memset(&g, 0xff, sizeof(g));
	memset(&st, 0xff, sizeof(st));
	memset(&sf, 0xff, sizeof(sf));
	memset(&gs, 0xff, sizeof(gs));
	memset(&info, 0xff, sizeof(info));
	mb_volume_geometry(vol, &g);
	mb_stats_get(vol, &st);
	ASSERT_EQ_INT(mb_statfs(vol, &sf), 0);
	ASSERT_EQ_INT(mb_group_stat(vol, 0, &gs), 0);
	mb_volume_info(vol, &info);
	mb_volume_destroy(vol);
	for (size_t i = 0; i < NSPARE(g); i++)
		ASSERT_EQ_U64(g.spare[i], 0);
	for (size_t i = 0; i < NSPARE(st); i++)
		ASSERT_EQ_U64(st.spare[i], 0);
	for (size_t i = 0; i < NSPARE(sf); i++)
		ASSERT_EQ_U64(sf.spare[i], 0);
	for (size_t i = 0; i < NSPARE(gs); i++)
		ASSERT_EQ_U64(gs.spare[i], 0);
	for (size_t i = 0; i < NSPARE(info); i++)
		ASSERT_EQ_U64(info.spare[i], 0);
	for (size_t i = 0; i < NSPARE(info.geo); i++)
		ASSERT_EQ_U64(info.geo.spare[i], 0);
}

/*
 * first_data_block 0 and no reserved blocks: block 0 is data.  A file
 * whose first block is block 0 asks for its next block with that
 * neighbour: with MB_REQ_PLEFT normalization clips its window after the
 * neighbour and merges with it (block 1); without the flag pleft 0 means
 * "no neighbour": the window covers logical 0 too, and logical 1 does
 * not land next to block 0.
 */
static int mb_next_after_block0(bool flag, uint64_t *start)
{
	struct mb_geometry geo = {.block_size = 4096, .blocks_per_group = 1024,
				  .blocks_count = 8 * 1024};
	struct mb_volume *vol;
	struct mb_file *f;
	struct mb_extent ex;
	int err = mb_volume_create(&geo, &vol);

	if (err)
		return err;
	err = mb_file_open(vol, 42, &f);
	if (!err)
		err = mb_mark_used(vol, 0, 1); /* the file's block 0 lives at block 0 */
	if (!err)
		mb_file_set_size(f, 256); /* a growing file: its own window (inode PA) */
	if (!err) {
		struct mb_request rq = {.file = f, .logical = 1, .goal = MB_GOAL_NONE, .len = 4,
					.flags = flag ? MB_REQ_PLEFT : 0,
					.lleft = 0, .pleft = 0};

		err = mb_alloc(vol, &rq, &ex);
		*start = ex.start;
		mb_file_close(f);
	}
	mb_volume_destroy(vol);
	return err;
}

TEST(block0_neighbour)
{
	uint64_t with = 0, without = 0;

	ASSERT_EQ_INT(mb_next_after_block0(true, &with), 0);
	ASSERT_EQ_U64(with, 1);
	ASSERT_EQ_INT(mb_next_after_block0(false, &without), 0);
	printf("  logical 1 at block %llu with the flag, %llu without\n",
	       (unsigned long long)with, (unsigned long long)without);
	/* zero-initialised: no neighbour, as before -- not contiguous with it */
	ASSERT_TRUE(without != 1);
}

/* The flag makes lleft/pleft checked like any neighbour's. */
TEST(block0_neighbour_validated)
{
	struct mb_geometry geo = {.block_size = 4096, .blocks_count = 65536};
	struct mb_volume *vol;
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	struct mb_request left = {.logical = 5, .goal = MB_GOAL_NONE, .len = 1,
				  .flags = MB_REQ_PLEFT, .lleft = 5};
	struct mb_request right = {.logical = 5, .goal = MB_GOAL_NONE, .len = 2,
				   .flags = MB_REQ_PRIGHT, .lright = 6};
	int el = mb_alloc(vol, &left, &ex), er = mb_alloc(vol, &right, &ex);

	left.lleft = 4;
	right.lright = 7;
	int ol = mb_alloc(vol, &left, &ex), or_ = mb_alloc(vol, &right, &ex);

	mb_volume_destroy(vol);
	ASSERT_EQ_INT(el, -EINVAL); /* lleft must be below logical */
	ASSERT_EQ_INT(er, -EINVAL); /* lright must be at or past the end */
	ASSERT_EQ_INT(ol, 0);
	ASSERT_EQ_INT(or_, 0);
}
