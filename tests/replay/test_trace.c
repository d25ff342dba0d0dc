/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - the ftrace text parser of `mballoc replay`: the README's
 * line shapes (task names with '-', '/' and ':', empty values, "len:"),
 * each used event's fields, and bad lines that must be counted, not
 * trusted: truncated, garbage, overflowing numbers, over-long lines.
 */
#define _GNU_SOURCE /* fmemopen */
#include <string.h>

#include "harness.h"
#include "trace.h"

#define HDR "    kworker/u8:3-19717   [001] .....  6734.652534: "

TEST(trace_request_and_result)
{
	struct mb_tev ev;

	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_request_blocks: dev 7,0 ino 12 flags "
					  "HINT_DATA|DELALLOC_RESV|USE_RESV len 15 lblk 3 goal 32768 "
					  "lleft 2 lright 9 pleft 40 pright 50 \n", &ev), 0);
	ASSERT_EQ_INT(ev.kind, MB_TEV_REQUEST);
	ASSERT_EQ_U64(ev.pid, 19717);
	ASSERT_EQ_INT(ev.cpu, 1);
	ASSERT_EQ_U64(ev.ino, 12);
	ASSERT_EQ_U64(ev.flags, MB_EXT4_HINT_DATA | MB_EXT4_DELALLOC_RESV | MB_EXT4_USE_RESV);
	ASSERT_EQ_U64(ev.len, 15);
	ASSERT_EQ_U64(ev.lblk, 3);
	ASSERT_EQ_U64(ev.goal, 32768);
	ASSERT_EQ_U64(ev.lleft, 2);
	ASSERT_EQ_U64(ev.lright, 9);
	ASSERT_EQ_U64(ev.pleft, 40);
	ASSERT_EQ_U64(ev.pright, 50);
	ASSERT_TRUE(!ev.unknown_flag);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_allocate_blocks: dev 7,0 ino 12 flags "
					  "HINT_DATA|HINT_WHATEVER len 2048 block 34816 lblk 0 goal "
					  "32768 lleft 0 lright 0 pleft 0 pright 0", &ev), 0);
	ASSERT_EQ_INT(ev.kind, MB_TEV_ALLOCATED);
	ASSERT_EQ_U64(ev.block, 34816);
	ASSERT_EQ_U64(ev.len, 2048);
	ASSERT_TRUE(ev.unknown_flag); /* counted, not fatal */
}

TEST(trace_mballoc_alloc_and_free)
{
	struct mb_tev ev;

	ASSERT_EQ_INT(mb_trace_parse_line(
			      "  wl-18853   [000] .....  6655.496932: ext4_mballoc_alloc: dev 7,0 "
			      "inode 12 orig 1/0/2048@0 goal 0/-1/2048@0 result 1/2048/2048@0 blks 1 "
			      "grps 1 cr CR_POWER2_ALIGNED flags HINT_DATA|STREAM_ALLOC tail 0 "
			      "broken 0", &ev), 0);
	ASSERT_EQ_INT(ev.kind, MB_TEV_MBALLOC);
	ASSERT_EQ_U64(ev.ino, 12);
	ASSERT_EQ_INT(ev.gl.start, -1);
	ASSERT_EQ_U64(ev.res.group, 1);
	ASSERT_EQ_U64(ev.res.start, 2048);
	ASSERT_EQ_U64(ev.res.len, 2048);
	ASSERT_EQ_U64(ev.grps, 1);
	ASSERT_TRUE(!strcmp(ev.cr, "CR_POWER2_ALIGNED"));
	ASSERT_EQ_U64(ev.mflags, MB_EXT4_HINT_DATA | MB_EXT4_STREAM_ALLOC);
	ASSERT_EQ_INT(mb_trace_parse_line("jbd2/loop0-8-18539 [001] ...1. 6655.5: "
					  "jbd2_commit_flushing: dev 7,0 transaction 2 sync 0", &ev), 0);
	ASSERT_EQ_INT(ev.kind, MB_TEV_COMMIT_FLUSHING);
	ASSERT_EQ_U64(ev.pid, 18539);
	ASSERT_EQ_U64(ev.a, 2);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_mballoc_free: dev 7,0 inode 13 extent "
					  "1/31/184 ", &ev), 0);
	ASSERT_EQ_U64(ev.res.start, 31);
	ASSERT_EQ_U64(ev.res.len, 184);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_discard_preallocations: dev 7,0 ino 12 len: 0",
					  &ev), 0);
	ASSERT_EQ_INT(ev.kind, MB_TEV_DISCARD_PA);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_fallocate_enter: dev 7,0 ino 12 offset 4096 "
					  "len 148229 mode ", &ev), 0);
	ASSERT_EQ_U64(ev.a, 4096 + 148229);
	ASSERT_TRUE(!ev.keep_size);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_da_reserve_space: dev 7,0 ino 12 mode 0100644 "
					  "i_blocks 8 reserve_blocks 1reserved_data_blocks 1", &ev),
		      0);
	ASSERT_EQ_INT(ev.kind, MB_TEV_OTHER);
}

TEST(trace_bad_lines)
{
	struct mb_tev ev;

	ASSERT_EQ_INT(mb_trace_parse_line("# tracer: nop", &ev), 1);
	ASSERT_EQ_INT(mb_trace_parse_line("", &ev), 1);
	ASSERT_EQ_INT(mb_trace_parse_line("hello world", &ev), -EINVAL);
	ASSERT_EQ_INT(mb_trace_parse_line("x-1 [0", &ev), -EINVAL);
	ASSERT_EQ_INT(mb_trace_parse_line("x-1 [0] ..... 1.0: ", &ev), -EINVAL);
	/* Truncated mid-fields, overflowing and negative numbers, bad extents. */
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_request_blocks: dev 7,0 ino 12 flags "
					  "HINT_DATA len 15 lblk 0 goal 3", &ev), -EBADMSG);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_allocate_blocks: dev 7,0 ino 12 flags  len "
					  "99999999999999999999999 block 1 lblk 0 goal 0 lleft 0 "
					  "lright 0 pleft 0 pright 0", &ev), -EBADMSG);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_allocate_blocks: dev 7,0 ino 12 flags  len "
					  "-5 block 1 lblk 0 goal 0 lleft 0 lright 0 pleft 0 pright 0",
					  &ev), -EBADMSG);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_mballoc_free: dev 7,0 inode 13 extent 1/x/3",
					  &ev), -EBADMSG);
	ASSERT_EQ_INT(mb_trace_parse_line(HDR "ext4_mballoc_free: dev 7,0 inode 13 extent 1/2/3@",
					  &ev), -EBADMSG);
}

TEST(trace_reader_counts)
{
	static const char text[] =
		"# header\n"
		"garbage line\n" HDR "ext4_free_inode: dev 7,0 ino 5 mode 0100644 uid 0 gid 0 "
		"blocks 0\n" HDR "ext4_request_blocks: dev 7,0 ino\n" HDR
		"some_new_event: a 1\n" HDR "ext4_evict_inode: dev 7,0 ino 5 nlink 0";
	char *big = malloc(sizeof(text) + 10000);

	ASSERT_TRUE(big);
	memcpy(big, text, sizeof(text) - 1);
	memset(big + sizeof(text) - 1, 'x', 9999); /* an over-long last line, no newline */
	big[sizeof(text) - 1 + 9999] = 0;
	FILE *f = fmemopen(big, strlen(big), "r");
	struct mb_trace_reader r = { .f = f };
	struct mb_tev ev;
	int kinds[3], n = 0;

	ASSERT_TRUE(f);
	while (mb_trace_next(&r, &ev) > 0 && n < 3)
		kinds[n++] = ev.kind;
	fclose(f);
	free(big);
	ASSERT_EQ_INT(n, 2); /* free_inode, some_new_event (the long evict line is dropped) */
	ASSERT_EQ_INT(kinds[0], MB_TEV_FREE_INODE);
	ASSERT_EQ_INT(kinds[1], MB_TEV_OTHER);
	ASSERT_EQ_U64(r.n.lines, 6);
	ASSERT_EQ_U64(r.n.comments, 1);
	ASSERT_EQ_U64(r.n.malformed, 3); /* garbage, bad request, too long */
	ASSERT_EQ_U64(r.n.too_long, 1);
	ASSERT_EQ_U64(r.n.ignored, 1);
	ASSERT_EQ_U64(r.n.first_malformed, 2);
}
