/* SPDX-License-Identifier: MIT */
/*
 * mb_list.h - intrusive doubly linked lists (the kernel's list_head, our
 * way).  Not thread-safe: every list names the lock that protects it.
 */
#ifndef MB_LIST_H
#define MB_LIST_H

#include <stddef.h>

struct mb_list {
	struct mb_list *next, *prev;
};

#define MB_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void mb_list_init(struct mb_list *h)
{
	h->next = h;
	h->prev = h;
}

static inline int mb_list_empty(const struct mb_list *h)
{
	return h->next == h;
}

static inline void mb_list_insert_between(struct mb_list *n, struct mb_list *prev,
					  struct mb_list *next)
{
	n->next = next;
	n->prev = prev;
	prev->next = n;
	next->prev = n;
}

/* Inserts n right after pos. */
static inline void mb_list_add(struct mb_list *n, struct mb_list *pos)
{
	mb_list_insert_between(n, pos, pos->next);
}

/* Inserts n right before pos (at the tail when pos is the head). */
static inline void mb_list_add_tail(struct mb_list *n, struct mb_list *pos)
{
	mb_list_insert_between(n, pos->prev, pos);
}

/* Unlinks n and leaves it self-linked, so a second del is harmless. */
static inline void mb_list_del(struct mb_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	mb_list_init(n);
}

static inline int mb_list_linked(const struct mb_list *n)
{
	return n->next != n;
}

#define mb_list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)

#define mb_list_for_each_safe(pos, tmp, head)                                                      \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

#endif /* MB_LIST_H */
