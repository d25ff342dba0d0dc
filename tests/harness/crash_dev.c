/* SPDX-License-Identifier: MIT */
/*
 * crash_dev.c - the crash shim (test-only, linked into tests alone): a
 * memory device that cuts power at any write (SQLite's test6.c idea).  It
 * keeps the synced image and the writes since the last sync, and builds
 * what survives a crash by keeping, dropping or tearing each of them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crash_dev.h"

#define MB_SECTOR 512

struct mb_pending_write {
	uint64_t off;
	size_t len;
	uint8_t *data;
};

struct mb_dev_crash {
	struct mb_dev dev;  /* first */
	uint8_t *data;      /* the live image, all writes applied; mx */
	pthread_mutex_t mx; /* everything below */
	uint8_t *synced;       /* what a crash cannot take away */
	struct mb_pending_write *pend;
	size_t npend, cap;
	uint64_t nwrites, crash_at;
	bool crashed;
};

static int mb_crash_read(struct mb_dev *dev, uint64_t off, void *buf, size_t len)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;

	pthread_mutex_lock(&c->mx);
	int err = c->crashed ? -EIO : 0;

	if (!err)
		memcpy(buf, c->data + off, len);
	pthread_mutex_unlock(&c->mx);
	return err;
}

static int mb_crash_record(struct mb_dev_crash *c, uint64_t off, const void *buf, size_t len)
{
	if (c->npend == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		void *p = realloc(c->pend, cap * sizeof(*c->pend));

		if (!p)
			return -ENOMEM;
		c->pend = p;
		c->cap = cap;
	}
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	c->pend[c->npend++] = (struct mb_pending_write){ off, len, copy };
	return 0;
}

static int mb_crash_write(struct mb_dev *dev, uint64_t off, const void *buf, size_t len)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;
	int err = -EIO;

	pthread_mutex_lock(&c->mx);
	if (!c->crashed) {
		err = mb_crash_record(c, off, buf, len);
		if (!err)
			memcpy(c->data + off, buf, len);
		if (++c->nwrites == c->crash_at)
			c->crashed = true; /* the write is in flight: it may or may not land */
	}
	pthread_mutex_unlock(&c->mx);
	return err;
}

static void mb_crash_drop_pending(struct mb_dev_crash *c)
{
	for (size_t i = 0; i < c->npend; i++)
		free(c->pend[i].data);
	c->npend = 0;
}

static int mb_crash_sync(struct mb_dev *dev)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;
	int err = -EIO;

	pthread_mutex_lock(&c->mx);
	if (!c->crashed) {
		for (size_t i = 0; i < c->npend; i++)
			memcpy(c->synced + c->pend[i].off, c->pend[i].data, c->pend[i].len);
		mb_crash_drop_pending(c);
		err = 0;
	}
	pthread_mutex_unlock(&c->mx);
	return err;
}

static void mb_crash_close(struct mb_dev *dev)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;

	mb_crash_drop_pending(c);
	free(c->pend);
	free(c->synced);
	free(c->data);
	pthread_mutex_destroy(&c->mx);
	free(c);
}

/* The live view, as mb_dev_memory_data() gives a memory image's. */
static const uint8_t *mb_crash_data(struct mb_dev *dev)
{
	return ((struct mb_dev_crash *)dev)->data;
}

static const struct mb_dev_ops mb_crash_ops = { mb_crash_read, mb_crash_write, mb_crash_sync,
						mb_crash_close, mb_crash_data };

int mb_dev_crash_open(const void *image, size_t size, struct mb_dev **out)
{
	struct mb_dev_crash *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->data = malloc(size ? size : 1);
	c->synced = malloc(size ? size : 1);
	if (!c->data || !c->synced) {
		free(c->data);
		free(c->synced);
		free(c);
		return -ENOMEM;
	}
	if (image)
		memcpy(c->data, image, size);
	else
		memset(c->data, 0, size);
	memcpy(c->synced, c->data, size);
	c->dev.size = size;
	pthread_mutex_init(&c->mx, NULL);
	c->dev.ops = &mb_crash_ops;
	*out = &c->dev;
	return 0;
}

void mb_dev_crash_arm(struct mb_dev *dev, uint64_t crash_at)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;

	pthread_mutex_lock(&c->mx);
	c->crash_at = crash_at ? c->nwrites + crash_at : 0;
	pthread_mutex_unlock(&c->mx);
}

bool mb_dev_crashed(struct mb_dev *dev)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;

	pthread_mutex_lock(&c->mx);
	bool crashed = c->crashed;
	pthread_mutex_unlock(&c->mx);
	return crashed;
}

static uint64_t mb_crash_rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Applies one unsynced write to img: kept, dropped, or torn by sectors. */
static void mb_crash_apply(const struct mb_pending_write *w, uint8_t *img, uint64_t *rng,
			   struct mb_crash_fates *f)
{
	switch (mb_crash_rng(rng) % 3) {
	case 0:
		memcpy(img + w->off, w->data, w->len);
		f->kept++;
		return;
	case 1:
		f->dropped++;
		return;
	}
	f->torn++;
	for (size_t s = 0; s < w->len; s += MB_SECTOR) {
		size_t n = w->len - s < MB_SECTOR ? w->len - s : MB_SECTOR;

		if (mb_crash_rng(rng) & 1)
			memcpy(img + w->off + s, w->data + s, n);
	}
}

int mb_dev_crash_image(struct mb_dev *dev, uint64_t seed, struct mb_crash_fates *fates,
		       struct mb_dev **out)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;
	struct mb_crash_fates f = { 0 };
	uint64_t rng = seed;

	pthread_mutex_lock(&c->mx);
	int err = mb_dev_crash_open(c->synced, c->dev.size, out);

	if (!err) {
		struct mb_dev_crash *n = (struct mb_dev_crash *)*out;

		for (size_t i = 0; i < c->npend; i++)
			mb_crash_apply(&c->pend[i], n->data, &rng, &f);
		memcpy(n->synced, n->data, n->dev.size);
	}
	pthread_mutex_unlock(&c->mx);
	if (fates)
		*fates = f;
	return err;
}
