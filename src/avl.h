/* SPDX-License-Identifier: MIT */
/*
 * avl.h - an intrusive AVL tree: ordered sets of objects that embed a
 * struct mb_avl_node, with O(log n) insert, remove, and ordered lookups
 * (floor / ceiling of a key), plus in-order stepping.  The tree never
 * allocates: a node is the caller's memory, so insert and remove cannot
 * fail and cost no malloc on a fast path.
 *
 * Order is the caller's: insert takes a node comparison, lookups a key
 * comparison.  Both are passed to static inline functions, so a
 * comparison that is a static function in the caller's file is inlined
 * there (no indirect call on a lookup).  Equal keys are allowed; an
 * inserted node goes after the nodes that compare equal to it.
 *
 * Thread-safety: none.  The owner of a tree serializes every call on it
 * (for a file's PAs: f_data_sem); readers of the nodes' own fields follow
 * the rules of the structure that embeds them.
 */
#ifndef MB_AVL_H
#define MB_AVL_H

#include <stddef.h>
#include <stdint.h>

struct mb_avl_node {
	struct mb_avl_node *left, *right, *parent;
	int height; /* of the subtree rooted here; a leaf is 1 */
};

struct mb_avl {
	struct mb_avl_node *root;
	/* the greatest node, kept: an appending file's lookups and inserts
	   all fall past it, and then need no walk (NULL when empty) */
	struct mb_avl_node *last;
	size_t count;
};

/* < 0, 0, > 0 as a sorts before, with, after b. */
typedef int (*mb_avl_cmp_fn)(const struct mb_avl_node *a, const struct mb_avl_node *b);
/* < 0, 0, > 0 as key sorts before, with, after n. */
typedef int (*mb_avl_key_fn)(const void *key, const struct mb_avl_node *n);

static inline void mb_avl_init(struct mb_avl *t)
{
	t->root = t->last = NULL;
	t->count = 0;
}

static inline int mb_avl_empty(const struct mb_avl *t)
{
	return t->root == NULL;
}

/* Links n as a leaf below parent (NULL: the root) and rebalances. */
void mb_avl_link(struct mb_avl *t, struct mb_avl_node *n, struct mb_avl_node *parent,
		 struct mb_avl_node **slot);
/* Unlinks n (which must be in t) and rebalances. */
void mb_avl_remove(struct mb_avl *t, struct mb_avl_node *n);

struct mb_avl_node *mb_avl_first(const struct mb_avl *t);

static inline struct mb_avl_node *mb_avl_last(const struct mb_avl *t)
{
	return t->last;
}
/* In-order successor / predecessor, NULL at the end. */
struct mb_avl_node *mb_avl_next(const struct mb_avl_node *n);
struct mb_avl_node *mb_avl_prev(const struct mb_avl_node *n);

/*
 * Inserts n after every node that compares equal to it.  A node that sorts
 * with or after the last one becomes its right child (the last node has
 * none) without a walk.
 */
static inline void mb_avl_insert(struct mb_avl *t, struct mb_avl_node *n, mb_avl_cmp_fn cmp)
{
	struct mb_avl_node *parent = NULL, **slot = &t->root;

	if (t->last && cmp(n, t->last) >= 0) {
		mb_avl_link(t, n, t->last, &t->last->right);
		return;
	}
	while (*slot) {
		parent = *slot;
		slot = cmp(n, parent) < 0 ? &parent->left : &parent->right;
	}
	mb_avl_link(t, n, parent, slot);
}

/*
 * The last node that sorts with or before key (its "floor"), or NULL.  A
 * key with or past the last node has it as its floor: one comparison.
 */
static inline struct mb_avl_node *mb_avl_floor(const struct mb_avl *t, const void *key,
					       mb_avl_key_fn cmp)
{
	struct mb_avl_node *n = t->root, *best = NULL;

	if (t->last && cmp(key, t->last) >= 0)
		return t->last;
	while (n) {
		if (cmp(key, n) >= 0) {
			best = n;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return best;
}

/* The first node that sorts with or after key (its "ceiling"), or NULL. */
static inline struct mb_avl_node *mb_avl_ceil(const struct mb_avl *t, const void *key,
					      mb_avl_key_fn cmp)
{
	struct mb_avl_node *n = t->root, *best = NULL;

	while (n) {
		if (cmp(key, n) <= 0) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

/* Walks a tree in order; the body may not remove pos (use _safe). */
#define mb_avl_for_each(pos, t) for (pos = mb_avl_first(t); pos; pos = mb_avl_next(pos))
#define mb_avl_for_each_safe(pos, tmp, t)                                                         \
	for (pos = mb_avl_first(t), tmp = pos ? mb_avl_next(pos) : NULL; pos;                      \
	     pos = tmp, tmp = pos ? mb_avl_next(pos) : NULL)

#endif
