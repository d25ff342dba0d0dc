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

/*
 * The greatest node is held out of the tree (`out`): a node inserted past
 * every other one waits there, unlinked, and enters the tree only when a
 * greater one arrives; removed while out, it costs no unlink.  An
 * appending file's newest PA is made by one request and used up by the
 * next: without it, an insert and a remove with their rebalancing (~260
 * instructions) every time (aging:8m64k:file, 12,500 PAs a run).
 */
struct mb_avl {
	struct mb_avl_node *root;
	/* the greatest node in the tree, kept: an appending file's lookups
	   and inserts all fall past it, and then need no walk (NULL when the
	   tree is empty) */
	struct mb_avl_node *last;
	/* the greatest node of all, held out of the tree (links NULL), or
	   NULL: every node in the tree sorts before it (or with it, inserted
	   before it) */
	struct mb_avl_node *out;
	size_t count; /* nodes, the tree's and out */
};

/* < 0, 0, > 0 as a sorts before, with, after b. */
typedef int (*mb_avl_cmp_fn)(const struct mb_avl_node *a, const struct mb_avl_node *b);
/* < 0, 0, > 0 as key sorts before, with, after n. */
typedef int (*mb_avl_key_fn)(const void *key, const struct mb_avl_node *n);

static inline void mb_avl_init(struct mb_avl *t)
{
	t->root = t->last = t->out = NULL;
	t->count = 0;
}

static inline int mb_avl_empty(const struct mb_avl *t)
{
	return t->root == NULL && t->out == NULL;
}

/* Links n as a leaf below parent (NULL: the root) and rebalances. */
void mb_avl_link(struct mb_avl *t, struct mb_avl_node *n, struct mb_avl_node *parent,
		 struct mb_avl_node **slot);
/* Holds n out of t, the greatest node of all now; the one held out
   before it, if any, is linked first. */
void mb_avl_hold_out(struct mb_avl *t, struct mb_avl_node *n);
/* Takes n (which must be in t) out of t: unlinks it and rebalances, unless
   it is held out. */
void mb_avl_remove(struct mb_avl *t, struct mb_avl_node *n);

struct mb_avl_node *mb_avl_first(const struct mb_avl *t);

static inline struct mb_avl_node *mb_avl_last(const struct mb_avl *t)
{
	return t->out ? t->out : t->last;
}

/*
 * In-order successor / predecessor in t, NULL at the end.  The tree's
 * last node is followed by out, if any, with no climb to the root.
 */
struct mb_avl_node *mb_avl_next(const struct mb_avl *t, const struct mb_avl_node *n);
struct mb_avl_node *mb_avl_prev(const struct mb_avl *t, const struct mb_avl_node *n);

/*
 * Inserts n after every node that compares equal to it.  A node that sorts
 * with or after every other one is held out (the one held out before it,
 * if any, is linked first, as the tree's last) without a walk.  Kept as
 * small as it was before out: it is inlined where a PA is made, and gcc
 * (LTO) inlined less elsewhere when it grew.
 */
static inline void mb_avl_insert(struct mb_avl *t, struct mb_avl_node *n, mb_avl_cmp_fn cmp)
{
	struct mb_avl_node *parent = NULL, **slot = &t->root;
	struct mb_avl_node *max = mb_avl_last(t);

	if (!max || cmp(n, max) >= 0) {
		mb_avl_hold_out(t, n);
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
	struct mb_avl_node *n = t->root, *best = NULL, *max = mb_avl_last(t);

	/* past the tree's last but before out, the walk finds the last */
	if (max && cmp(key, max) >= 0)
		return max;
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
	if (!best && t->out && cmp(key, t->out) <= 0)
		return t->out; /* past the tree: only out may follow */
	return best;
}

/* Walks a tree in order; the body may not remove pos (use _safe). */
#define mb_avl_for_each(pos, t) for (pos = mb_avl_first(t); pos; pos = mb_avl_next(t, pos))
#define mb_avl_for_each_safe(pos, tmp, t)                                                         \
	for (pos = mb_avl_first(t), tmp = pos ? mb_avl_next(t, pos) : NULL; pos;                   \
	     pos = tmp, tmp = pos ? mb_avl_next(t, pos) : NULL)

#endif
