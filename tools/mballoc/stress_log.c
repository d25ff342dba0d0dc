/* SPDX-License-Identifier: MIT */
/*
 * stress_log.c - `mballoc stress --commit-log FILE`: one more thread, with
 * a file of its own on the image, that allocates a few extents, commits,
 * and only then appends them to FILE ("start len" lines) and fsyncs it.
 * Every extent in FILE was therefore allocated in a durable commit, and
 * `mballoc check --expect-allocated FILE` must find it allocated whenever
 * the run is killed.  The logger never frees during the run; the extents
 * are freed with everyone's at the end of the iteration, after FILE has
 * been emptied durably, so FILE never names a freed extent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stress_int.h"

#define MB_STRESS_LOG_BATCH 4 /* extents per commit */
#define MB_STRESS_LOG_LINE 48 /* "start len\n" at most */

int mb_stress_log_open(struct mb_stress_shared *sh)
{
	sh->log_fd = -1;
	if (!sh->o->commit_log)
		return 0;
	sh->log_fd = open(sh->o->commit_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (sh->log_fd < 0) {
		int err = -errno;

		mb_cli_err("stress", "%s: %s", sh->o->commit_log, strerror(errno));
		return err;
	}
	return mb_stress_log_truncate(sh);
}

/*
 * Empties FILE durably before --reclaim frees the extents it names: a kill
 * between the reclaim's commit and mb_stress_log_open() must not leave
 * FILE naming freed extents.
 */
int mb_stress_log_reset(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || fsync(fd)) {
		int err = -errno;

		mb_cli_err("stress", "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	close(fd);
	return 0;
}

int mb_stress_log_truncate(struct mb_stress_shared *sh)
{
	if (sh->log_fd < 0)
		return 0;
	if (ftruncate(sh->log_fd, 0) || fsync(sh->log_fd)) {
		int err = -errno;

		mb_cli_err("stress", "%s: %s", sh->o->commit_log, strerror(errno));
		return err;
	}
	return 0;
}

void mb_stress_log_close(struct mb_stress_shared *sh)
{
	if (sh->log_fd >= 0)
		close(sh->log_fd);
	sh->log_fd = -1;
}

/* Appends ex[from, to) in one write, then fsyncs. */
static int mb_stress_log_append(struct mb_stress_thread *t, size_t from, size_t to)
{
	char buf[MB_STRESS_LOG_BATCH * MB_STRESS_LOG_LINE];
	size_t n = 0;

	for (size_t k = from; k < to; k++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%llu %u\n",
				      (unsigned long long)t->ex[k].start, t->ex[k].len);
	errno = 0;
	if (write(t->sh->log_fd, buf, n) != (ssize_t)n || fsync(t->sh->log_fd))
		return errno ? -errno : -EIO;
	t->sh->logged += to - from;
	return 0;
}

/*
 * The logger's loop: a batch of allocations, a commit, the log.  It stops
 * at its quota (its extents stay allocated), at the first error, or when
 * the workers are done.  A short nap between rounds spreads the quota over
 * the run instead of spending it in the first moments.
 */
void mb_stress_logger(struct mb_stress_thread *t)
{
	struct mb_stress_shared *sh = t->sh;
	uint64_t max = sh->o->chunk * 4;
	int err = 0;

	while (!err && !atomic_load_explicit(&sh->stop, memory_order_relaxed) &&
	       t->held < t->target) {
		size_t from = t->nex;

		/* mb_stress_alloc counts its own errors (ENOSPC included) */
		for (int i = 0; i < MB_STRESS_LOG_BATCH && t->held < t->target && !err; i++) {
			uint64_t len = 1 + mb_stress_rng(&t->rng) % max;

			len = len < t->target - t->held ? len : t->target - t->held;
			mb_file_set_size(t->file, t->next_logical + len);
			err = mb_stress_alloc(t, (uint32_t)len);
		}
		/* log what this round got, even if it ended with an error */
		if (t->nex > from) {
			int cerr = mb_stress_commit(sh); /* counted in sh->commit_errors */
			int lerr = cerr ? 0 : mb_stress_log_append(t, from, t->nex);

			if (lerr)
				mb_stress_error(t, lerr);
			err = err ? err : cerr ? cerr : lerr;
		}
		struct timespec nap = { 0, 5 * 1000 * 1000 };

		nanosleep(&nap, NULL);
	}
}
