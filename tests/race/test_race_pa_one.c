/* SPDX-License-Identifier: MIT */
/*
 * test_race_pa_one.c - the PA fast path reads MB_SINGLE_THREADED() once
 * for its locks and its claim (prealloc.c, mb_pa_one; mb_lock_one): while
 * the process has one thread a lock is a plain store, and so is its
 * unlock.  Nothing on the path starts a thread but a test's hook, so with
 * hooks built in every use reads it again.  Here the hook at
 * MB_HOOK_PA_FAST_FOUND, f_data_sem held, starts a second thread that
 * asks the same file for a block, and waits till it sleeps on f_data_sem.
 * The owner's later locks, claim and unlocks must then be the threaded
 * ones: the builds with hooks check mb_lock_one's `one` against
 * MB_SINGLE_THREADED() (an assert), and a plain unlock would leave the
 * sleeper asleep for good (the join below would not return).
 *
 * Its own executable: the process must have one thread when it starts.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "mb_int.h"

struct one_race {
	struct mb_volume *vol;
	struct mb_file *file;
	pthread_t second;
	_Atomic int tid; /* the second thread's, once it runs */
	bool started;
	int err;
	struct mb_extent ex;
};

static void *one_second(void *arg)
{
	struct one_race *r = arg;
	struct mb_request rq = { .file = r->file, .logical = 1, .goal = MB_GOAL_NONE, .len = 1 };

	atomic_store(&r->tid, (int)syscall(SYS_gettid));
	r->err = mb_alloc(r->vol, &rq, &r->ex);
	return NULL;
}

/* Whether thread tid is inside a futex call (/proc: its syscall's number first). */
static bool one_in_futex(int tid)
{
	char path[64], buf[64] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return true; /* no /proc: the word's 2 alone (the sleep then likely) */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && atoi(buf) == SYS_futex;
}

static void one_hook(void *arg, int id, uint32_t group, int cr)
{
	struct one_race *r = arg;

	(void)group;
	(void)cr;
	if (id != MB_HOOK_PA_FAST_FOUND || r->started)
		return;
	r->started = true;
	if (pthread_create(&r->second, NULL, one_second, r))
		abort();
	/* the second thread sleeps on f_data_sem: it swapped in the 2 that
	   asks for a wake-up, and is in its futex wait */
	while (atomic_load(&r->file->f_data_sem.word) != 2 || !atomic_load(&r->tid) ||
	       !one_in_futex(atomic_load(&r->tid)))
		sched_yield();
}

TEST(a_thread_started_mid_path_is_woken)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
				   .blocks_count = 4096 };
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_extent ex, ex2;
	struct one_race r;

	memset(&r, 0, sizeof(r));
	ASSERT_TRUE(MB_SINGLE_THREADED()); /* else this test shows nothing */
	ASSERT_EQ_INT(mb_volume_create(&geo, &r.vol), 0);
	ASSERT_EQ_INT(mb_file_open(r.vol, 7, &r.file), 0);
	mb_file_set_size(r.file, 100);
	rq.file = r.file;
	ASSERT_EQ_INT(mb_alloc(r.vol, &rq, &ex), 0); /* the file's PA, its first block */
	ASSERT_TRUE(MB_SINGLE_THREADED());
	mb_hook_set(r.vol, one_hook, &r);
	rq.logical = 2;
	ASSERT_EQ_INT(mb_alloc(r.vol, &rq, &ex2), 0); /* the fast path; the hook starts one */
	ASSERT_TRUE(r.started);
	pthread_join(r.second, NULL); /* never returns if its wake-up was lost */
	mb_hook_set(r.vol, NULL, NULL);
	ASSERT_EQ_INT(r.err, 0);
	ASSERT_EQ_U64(ex2.start, ex.start + 2);
	ASSERT_EQ_U64(r.ex.start, ex.start + 1); /* the second thread's block 1 */
	ASSERT_CHECK_CLEAN(r.vol);
	mb_file_close(r.file);
	mb_volume_destroy(r.vol);
}
