/* SPDX-License-Identifier: MIT */
/*
 * test_dlclose.c - a program may dlclose() libmballoc while threads that
 * called into it live on.  Each thread keeps a few freed preallocation
 * descriptors for reuse (prealloc.c) and drains them when it exits; the
 * drain must not call into the unloaded library.
 *
 * A thread makes and discards a PA (so it holds a cached descriptor), the
 * main thread destroys the volume and unloads the library, then the thread
 * exits.  Usage: test_dlclose path/to/libmballoc.so.  Exit 0 pass, 1 fail,
 * 77 skip (the library could not be unloaded, so nothing is shown).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mballoc.h"

struct mb_api {
	int (*volume_create)(const struct mb_geometry *, struct mb_volume **);
	void (*volume_destroy)(struct mb_volume *);
	int (*file_open)(struct mb_volume *, uint64_t, struct mb_file **);
	void (*file_close)(struct mb_file *);
	int (*alloc)(struct mb_volume *, const struct mb_request *, struct mb_extent *);
};

static struct mb_api api;
static struct mb_volume *vol;
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage; /* 1: the thread holds cached PAs; 2: unloaded, exit */
static int thread_err;

static void set_stage(int s)
{
	pthread_mutex_lock(&mx);
	stage = s;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mx);
}

static void wait_stage(int s)
{
	pthread_mutex_lock(&mx);
	while (stage < s)
		pthread_cond_wait(&cv, &mx);
	pthread_mutex_unlock(&mx);
}

/* Opens files, allocates through their PAs and closes them: each close
   frees the file's PAs in this thread. */
static void *worker(void *arg)
{
	(void)arg;
	for (uint64_t ino = 1; ino <= 4 && !thread_err; ino++) {
		struct mb_file *f;
		struct mb_request r;
		struct mb_extent e;

		memset(&r, 0, sizeof(r));
		if (api.file_open(vol, ino, &f)) {
			thread_err = 1;
			break;
		}
		r.file = f;
		r.len = 64; /* a stream request: an inode PA, not the group one */
		r.goal = MB_GOAL_NONE;
		if (api.alloc(vol, &r, &e))
			thread_err = 1;
		api.file_close(f);
	}
	set_stage(1);
	wait_stage(2);
	return NULL; /* thread exit: the PA list's drain runs here */
}

#define SYM(field, name)                                                                           \
	do {                                                                                       \
		*(void **)&api.field = dlsym(h, name);                                             \
		if (!api.field) {                                                                  \
			fprintf(stderr, "test_dlclose: %s not found\n", name);                    \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

int main(int argc, char **argv)
{
	struct mb_geometry g = { .block_size = 4096, .blocks_per_group = 32768,
				 .blocks_count = 1u << 18 };
	pthread_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: test_dlclose path/to/libmballoc.so\n");
		return 1;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "test_dlclose: %s\n", dlerror());
		return 1;
	}
	SYM(volume_create, "mb_volume_create");
	SYM(volume_destroy, "mb_volume_destroy");
	SYM(file_open, "mb_file_open");
	SYM(file_close, "mb_file_close");
	SYM(alloc, "mb_alloc");
	if (api.volume_create(&g, &vol) || pthread_create(&t, NULL, worker, NULL)) {
		fprintf(stderr, "test_dlclose: setup failed\n");
		return 1;
	}
	wait_stage(1);
	api.volume_destroy(vol);
	if (dlclose(h)) {
		fprintf(stderr, "test_dlclose: dlclose: %s\n", dlerror());
		return 1;
	}
	bool unloaded = !dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);

	set_stage(2);
	pthread_join(t, NULL); /* crashes here if the drain is the library's */
	if (thread_err) {
		fprintf(stderr, "test_dlclose: the worker's allocations failed\n");
		return 1;
	}
	if (!unloaded) {
		printf("test_dlclose: the library stayed loaded; nothing shown\n");
		return 77;
	}
	printf("test_dlclose: thread exit after dlclose: ok\n");
	return 0;
}
