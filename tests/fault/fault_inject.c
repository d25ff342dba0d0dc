/* SPDX-License-Identifier: MIT */
/*
 * fault_inject.c - the --wrap'ed syscalls of the file backend: count,
 * fail or shorten the armed call, and undo unsynced writes when a sync
 * fails.  See fault_inject.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault_inject.h"

int __real_open(const char *path, int flags, ...);
int __real_close(int fd);
int __real_fstat(int fd, struct stat *st);
int __real_ftruncate(int fd, off_t len);
ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
int __real_fdatasync(int fd);
int __real_fsync(int fd);

const char *const fault_kind_name[FK_NKINDS] = { "open", "fstat", "ftruncate", "pread",
						 "pwrite", "fdatasync", "fsync" };
const char *const fault_mode_name[FAULT_NMODES] = { "eio-once", "eio-forever", "short-once",
						   "torn-once" };

/* A write not yet synced: the bytes it replaced. */
struct undo {
	int fd;
	off_t off;
	size_t len;
	uint8_t *old;
};

static struct {
	pthread_mutex_t mx; /* everything below */
	bool counting;
	uint64_t calls, at, fired;
	enum fault_mode mode;
	uint8_t *kinds; /* kinds[n - 1]: kind of call n */
	size_t kinds_cap;
	uint64_t per_kind[FK_NKINDS];
	struct undo *undo;
	size_t nundo, undo_cap;
} fi = { .mx = PTHREAD_MUTEX_INITIALIZER };

enum verdict { RUN, FAIL_EIO, SHORTEN, TEAR };

static void fi_record_kind(enum fault_kind k)
{
	if (fi.calls > fi.kinds_cap) {
		size_t cap = fi.kinds_cap ? 2 * fi.kinds_cap : 1024;
		uint8_t *p = realloc(fi.kinds, cap);

		if (!p)
			abort();
		fi.kinds = p;
		fi.kinds_cap = cap;
	}
	fi.kinds[fi.calls - 1] = (uint8_t)k;
	fi.per_kind[k]++;
}

/* Numbers the call and decides its fate. */
static enum verdict fi_decide(enum fault_kind k)
{
	enum verdict v = RUN;

	pthread_mutex_lock(&fi.mx);
	if (fi.counting) {
		fi.calls++;
		fi_record_kind(k);
		bool hit = fi.at && (fi.calls == fi.at ||
				     (fi.mode == FAULT_EIO_FOREVER && fi.calls > fi.at));

		if (hit && fi.mode == FAULT_SHORT_ONCE)
			v = k == FK_PREAD || k == FK_PWRITE ? SHORTEN : RUN;
		else if (hit && fi.mode == FAULT_TORN_ONCE)
			v = k == FK_PWRITE ? TEAR : RUN;
		else if (hit)
			v = FAIL_EIO;
		fi.fired += v != RUN;
	}
	pthread_mutex_unlock(&fi.mx);
	return v;
}

void fault_arm(uint64_t at, enum fault_mode mode)
{
	pthread_mutex_lock(&fi.mx);
	fi.at = at;
	fi.mode = mode;
	fi.calls = fi.fired = 0;
	memset(fi.per_kind, 0, sizeof(fi.per_kind));
	pthread_mutex_unlock(&fi.mx);
}

void fault_counting(bool on)
{
	pthread_mutex_lock(&fi.mx);
	fi.counting = on;
	pthread_mutex_unlock(&fi.mx);
}

uint64_t fault_calls(void)
{
	pthread_mutex_lock(&fi.mx);
	uint64_t n = fi.calls;
	pthread_mutex_unlock(&fi.mx);
	return n;
}

uint64_t fault_fired(void)
{
	pthread_mutex_lock(&fi.mx);
	uint64_t n = fi.fired;
	pthread_mutex_unlock(&fi.mx);
	return n;
}

enum fault_kind fault_call_kind(uint64_t n)
{
	pthread_mutex_lock(&fi.mx);
	enum fault_kind k = n && n <= fi.calls ? (enum fault_kind)fi.kinds[n - 1] : FK_NKINDS;
	pthread_mutex_unlock(&fi.mx);
	return k;
}

uint64_t fault_kind_calls(enum fault_kind k)
{
	pthread_mutex_lock(&fi.mx);
	uint64_t n = fi.per_kind[k];
	pthread_mutex_unlock(&fi.mx);
	return n;
}

/* ------------------------------------------------------------------------ */
/* The undo log of unsynced writes                                           */
/* ------------------------------------------------------------------------ */

/* Saves what [off, off + n) of fd holds before a write.  fi.mx held. */
static void fi_undo_save(int fd, off_t off, size_t n)
{
	if (fi.nundo == fi.undo_cap) {
		size_t cap = fi.undo_cap ? 2 * fi.undo_cap : 64;
		struct undo *p = realloc(fi.undo, cap * sizeof(*p));

		if (!p)
			abort();
		fi.undo = p;
		fi.undo_cap = cap;
	}
	uint8_t *old = calloc(1, n ? n : 1);

	if (!old)
		abort();
	ssize_t got = __real_pread(fd, old, n, off); /* past EOF reads as zeros */

	(void)got;
	fi.undo[fi.nundo++] = (struct undo){ fd, off, n, old };
}

/* Drops fd's entries; with `revert`, first puts the old bytes back. fi.mx held. */
static void fi_undo_finish(int fd, bool revert)
{
	size_t kept = 0;

	for (size_t i = fi.nundo; i-- > 0;) {
		struct undo *u = &fi.undo[i];

		if (u->fd != fd)
			continue;
		if (revert && __real_pwrite(fd, u->old, u->len, u->off) != (ssize_t)u->len)
			abort();
		free(u->old);
		u->old = NULL;
	}
	for (size_t i = 0; i < fi.nundo; i++)
		if (fi.undo[i].old)
			fi.undo[kept++] = fi.undo[i];
	fi.nundo = kept;
}

/* ------------------------------------------------------------------------ */
/* The wrappers                                                              */
/* ------------------------------------------------------------------------ */

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (fi_decide(FK_OPEN) != RUN) {
		errno = EIO;
		return -1;
	}
	return __real_open(path, flags, mode);
}

int __wrap_close(int fd)
{
	pthread_mutex_lock(&fi.mx);
	fi_undo_finish(fd, false); /* unsynced writes stay in the page cache */
	pthread_mutex_unlock(&fi.mx);
	return __real_close(fd);
}

int __wrap_fstat(int fd, struct stat *st)
{
	if (fi_decide(FK_FSTAT) != RUN) {
		errno = EIO;
		return -1;
	}
	return __real_fstat(fd, st);
}

int __wrap_ftruncate(int fd, off_t len)
{
	if (fi_decide(FK_FTRUNCATE) != RUN) {
		errno = EIO;
		return -1;
	}
	return __real_ftruncate(fd, len);
}

ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
	switch (fi_decide(FK_PREAD)) {
	case FAIL_EIO:
	case TEAR:
		errno = EIO;
		return -1;
	case SHORTEN:
		n -= n / 2;
		break;
	case RUN:
		break;
	}
	return __real_pread(fd, buf, n, off);
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	enum verdict v = fi_decide(FK_PWRITE);

	if (v == FAIL_EIO) {
		errno = EIO;
		return -1;
	}
	if (v == SHORTEN)
		n -= n / 2;
	if (v == TEAR) /* whole sectors: the superblock is one, written atomically */
		n = n / 2 / 512 * 512;
	pthread_mutex_lock(&fi.mx);
	fi_undo_save(fd, off, n);
	ssize_t r = __real_pwrite(fd, buf, n, off);
	pthread_mutex_unlock(&fi.mx);
	if (v == TEAR) { /* part of it landed, then the device failed */
		errno = EIO;
		return -1;
	}
	return r;
}

static int fi_sync(int fd, enum fault_kind k, int (*real)(int))
{
	bool fail = fi_decide(k) != RUN;
	int r = fail ? -1 : real(fd);

	pthread_mutex_lock(&fi.mx);
	fi_undo_finish(fd, fail); /* a failed sync: the writes since the last one are lost */
	pthread_mutex_unlock(&fi.mx);
	if (fail)
		errno = EIO;
	return r;
}

int __wrap_fdatasync(int fd)
{
	return fi_sync(fd, FK_FDATASYNC, __real_fdatasync);
}

int __wrap_fsync(int fd)
{
	return fi_sync(fd, FK_FSYNC, __real_fsync);
}
