/* SPDX-License-Identifier: MIT */
/*
 * test_lock.c - one writer per volume (issue 9, item 8): a second
 * read-write open or a format gets -EBUSY and changes nothing; read-only
 * opens share with each other but not with a writer; close releases.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mb_test_int.h"

static const struct mb_geometry geo = {
	.block_size = 1024, .blocks_per_group = 256, .blocks_count = 4 * 256,
	.reserved_per_group = 16,
};
static const struct mb_open_opts rw = { .commit_interval_s = 0 };
static const struct mb_open_opts ro = { .commit_interval_s = 0, .read_only = 1 };
#define VOL_BYTES (4 * 256 * 1024)

static char path[64];

static int make_volume(void)
{
	int fd;

	strcpy(path, "/tmp/mb_lock_XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	close(fd);
	return mb_volume_format(path, &geo, NULL);
}

static uint8_t *slurp(void)
{
	uint8_t *buf = malloc(VOL_BYTES);
	int fd = open(path, O_RDONLY);

	if (!buf || fd < 0 || pread(fd, buf, VOL_BYTES, 0) != VOL_BYTES)
		abort();
	close(fd);
	return buf;
}

TEST(second_writer_is_refused)
{
	struct mb_volume *a, *b;
	struct mb_request rq = { .goal = 300, .len = 10, .flags = MB_HINT_NOPREALLOC };
	struct mb_extent ex;

	ASSERT_EQ_INT(make_volume(), 0);
	ASSERT_EQ_INT(mb_volume_open(path, &rw, &a), 0);
	ASSERT_EQ_INT(mb_alloc(a, &rq, &ex), 0);
	ASSERT_EQ_INT(mb_commit(a), 0);
	uint8_t *before = slurp();

	b = NULL;
	ASSERT_EQ_INT(mb_volume_open(path, &rw, &b), -EBUSY);
	ASSERT_TRUE(b == NULL);
	ASSERT_EQ_INT(mb_volume_open(path, &ro, &b), -EBUSY); /* no reader beside a writer */
	ASSERT_EQ_INT(mb_volume_format(path, &geo, NULL), -EBUSY);
	uint8_t *after = slurp();
	ASSERT_TRUE(memcmp(before, after, VOL_BYTES) == 0); /* the refusals wrote nothing */
	free(before);
	free(after);

	ASSERT_EQ_INT(mb_volume_close(a), 0); /* close releases the lock */
	ASSERT_EQ_INT(mb_volume_open(path, &rw, &b), 0);
	ASSERT_EQ_INT(mb_free(b, ex.start, ex.len), 0); /* the first writer's update is there */
	ASSERT_EQ_INT(mb_volume_close(b), 0);
	unlink(path);
}

TEST(readers_share_but_exclude_writers)
{
	struct mb_volume *r1, *r2, *w;

	ASSERT_EQ_INT(make_volume(), 0);
	ASSERT_EQ_INT(mb_volume_open(path, &ro, &r1), 0);
	ASSERT_EQ_INT(mb_volume_open(path, &ro, &r2), 0);
	ASSERT_EQ_INT(mb_volume_open(path, &rw, &w), -EBUSY);
	ASSERT_EQ_INT(mb_volume_format(path, &geo, NULL), -EBUSY);
	ASSERT_EQ_INT(mb_volume_close(r1), 0);
	ASSERT_EQ_INT(mb_volume_open(path, &rw, &w), -EBUSY); /* r2 still reads */
	ASSERT_EQ_INT(mb_volume_close(r2), 0);
	ASSERT_EQ_INT(mb_volume_open(path, &rw, &w), 0);
	ASSERT_EQ_INT(mb_volume_close(w), 0);
	unlink(path);
}

/* Another process is refused too, and a writer that dies without closing
 * releases the lock with its descriptors. */
TEST(lock_across_processes)
{
	struct mb_volume *a;
	int status, ready[2], go[2];
	char c = 0;

	ASSERT_EQ_INT(make_volume(), 0);
	ASSERT_EQ_INT(pipe(ready), 0);
	ASSERT_EQ_INT(pipe(go), 0);
	pid_t pid = fork();

	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]); /* so the parent's exit, even a failed one, ends the read */
		c = mb_volume_open(path, &rw, &a) ? 'n' : 'y';
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(4);
		_exit(0); /* no close: as after a crash */
	}
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
	ASSERT_EQ_INT(c, 'y');
	ASSERT_EQ_INT(mb_volume_open(path, &rw, &a), -EBUSY);
	ASSERT_EQ_INT(mb_volume_open(path, &ro, &a), -EBUSY);
	ASSERT_EQ_INT(write(go[1], &c, 1), 1);
	ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ_INT(mb_volume_open(path, &rw, &a), 0); /* released by the dead writer */
	ASSERT_EQ_INT(mb_volume_close(a), 0);
	close(ready[0]);
	close(go[1]);
	unlink(path);
}
