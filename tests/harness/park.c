/* SPDX-License-Identifier: MIT */
/*
 * park.c - the race tests' park (park.h): a mutex, a condition variable
 * and the flags a hook and the test thread hand each other.  Test-only.
 */
#include "park.h"

void mb_park_init(struct mb_park *p)
{
	pthread_mutex_init(&p->mx, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->arrivals = p->parks = 0;
	p->reached = p->released = p->ended = false;
}

void mb_park_destroy(struct mb_park *p)
{
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mx);
}

bool mb_park_here(struct mb_park *p)
{
	bool park;

	pthread_mutex_lock(&p->mx);
	p->arrivals++;
	park = !p->reached;
	if (park) {
		p->reached = true;
		p->parks++;
		pthread_cond_broadcast(&p->cv);
		while (!p->released)
			pthread_cond_wait(&p->cv, &p->mx);
	}
	pthread_mutex_unlock(&p->mx);
	return park;
}

void mb_park_mark(struct mb_park *p)
{
	pthread_mutex_lock(&p->mx);
	p->reached = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mx);
}

void mb_park_end(struct mb_park *p)
{
	pthread_mutex_lock(&p->mx);
	p->ended = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mx);
}

bool mb_park_wait_parked(struct mb_park *p)
{
	bool parked;

	pthread_mutex_lock(&p->mx);
	while (!p->reached && !p->ended)
		pthread_cond_wait(&p->cv, &p->mx);
	parked = p->reached && !p->ended;
	pthread_mutex_unlock(&p->mx);
	return parked;
}

void mb_park_release(struct mb_park *p)
{
	pthread_mutex_lock(&p->mx);
	p->released = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mx);
}

unsigned mb_park_arrivals(struct mb_park *p)
{
	unsigned n;

	pthread_mutex_lock(&p->mx);
	n = p->arrivals;
	pthread_mutex_unlock(&p->mx);
	return n;
}

unsigned mb_park_parks(struct mb_park *p)
{
	unsigned n;

	pthread_mutex_lock(&p->mx);
	n = p->parks;
	pthread_mutex_unlock(&p->mx);
	return n;
}
