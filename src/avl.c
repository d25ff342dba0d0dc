/* SPDX-License-Identifier: MIT */
/*
 * avl.c - the intrusive AVL tree of avl.h: linking, unlinking and
 * rebalancing by rotations, and in-order stepping through parent links.
 * Every node keeps its subtree's height; the two subtrees of any node
 * differ in height by at most one, so a tree of n nodes is at most about
 * 1.44 log2(n) deep.  The node held out (avl.h: out) is none of this
 * file's business: avl.h links it when a greater one takes its place.
 */
#include <assert.h>

#include "avl.h"

static inline int mb_avl_h(const struct mb_avl_node *n)
{
	return n ? n->height : 0;
}

static inline void mb_avl_fix_height(struct mb_avl_node *n)
{
	int l = mb_avl_h(n->left), r = mb_avl_h(n->right);

	n->height = 1 + (l > r ? l : r);
}

/* Points whatever pointed at old (its parent's link, or the root) at new. */
static void mb_avl_replace_child(struct mb_avl *t, struct mb_avl_node *parent,
				 struct mb_avl_node *old, struct mb_avl_node *new)
{
	if (!parent)
		t->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

/* x's right child takes x's place; x becomes its left child.  Returns it. */
static struct mb_avl_node *mb_avl_rotate_left(struct mb_avl *t, struct mb_avl_node *x)
{
	struct mb_avl_node *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->parent = x->parent;
	mb_avl_replace_child(t, x->parent, x, y);
	y->left = x;
	x->parent = y;
	mb_avl_fix_height(x);
	mb_avl_fix_height(y);
	return y;
}

static struct mb_avl_node *mb_avl_rotate_right(struct mb_avl *t, struct mb_avl_node *x)
{
	struct mb_avl_node *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->parent = x->parent;
	mb_avl_replace_child(t, x->parent, x, y);
	y->right = x;
	x->parent = y;
	mb_avl_fix_height(x);
	mb_avl_fix_height(y);
	return y;
}

/* Restores balance at n; returns the root of what was n's subtree. */
static struct mb_avl_node *mb_avl_balance_one(struct mb_avl *t, struct mb_avl_node *n)
{
	int bal = mb_avl_h(n->left) - mb_avl_h(n->right);

	if (bal > 1) {
		if (mb_avl_h(n->left->left) < mb_avl_h(n->left->right))
			mb_avl_rotate_left(t, n->left);
		return mb_avl_rotate_right(t, n);
	}
	if (bal < -1) {
		if (mb_avl_h(n->right->right) < mb_avl_h(n->right->left))
			mb_avl_rotate_right(t, n->right);
		return mb_avl_rotate_left(t, n);
	}
	mb_avl_fix_height(n);
	return n;
}

/*
 * Walks up from n, rebalancing.  Once a subtree comes out as high as it
 * was, nothing above it can change, so the walk stops there.
 */
static void mb_avl_rebalance(struct mb_avl *t, struct mb_avl_node *n)
{
	while (n) {
		int before = n->height;

		n = mb_avl_balance_one(t, n);
		if (n->height == before)
			return;
		n = n->parent;
	}
}

void mb_avl_link(struct mb_avl *t, struct mb_avl_node *n, struct mb_avl_node *parent,
		 struct mb_avl_node **slot)
{
	n->left = n->right = NULL;
	n->parent = parent;
	n->height = 1;
	if (!parent || (parent == t->last && slot == &parent->right))
		t->last = n; /* rotations keep the order, so it stays the last */
	*slot = n;
	t->count++;
	mb_avl_rebalance(t, parent);
}

void mb_avl_hold_out(struct mb_avl *t, struct mb_avl_node *n)
{
	struct mb_avl_node *o = t->out;

	if (o) { /* it takes the place after the tree's last, n its own */
		t->out = NULL;
		t->count--;
		mb_avl_link(t, o, t->last, t->last ? &t->last->right : &t->root);
	}
	n->left = n->right = n->parent = NULL;
	n->height = 1;
	t->out = n;
	t->count++;
}

static struct mb_avl_node *mb_avl_leftmost(struct mb_avl_node *n)
{
	while (n && n->left)
		n = n->left;
	return n;
}

static struct mb_avl_node *mb_avl_rightmost(struct mb_avl_node *n)
{
	while (n && n->right)
		n = n->right;
	return n;
}

static struct mb_avl_node *mb_avl_prev_linked(const struct mb_avl_node *n);

/*
 * A node with two children is replaced by its successor s (the leftmost
 * node of its right subtree, which has no left child): s moves into n's
 * place, and s's own right child into s's old place.
 */
void mb_avl_remove(struct mb_avl *t, struct mb_avl_node *n)
{
	struct mb_avl_node *from;

	assert(t->count > 0);
	if (n == t->out) { /* held out: nothing to unlink */
		t->out = NULL;
		t->count--;
		return;
	}
	if (n == t->last) /* no right child: its predecessor is near (its left child is a leaf) */
		t->last = mb_avl_prev_linked(n);
	if (n->left && n->right) {
		struct mb_avl_node *s = mb_avl_leftmost(n->right), *sp = s->parent;

		if (sp != n) {
			sp->left = s->right;
			if (s->right)
				s->right->parent = sp;
			s->right = n->right;
			n->right->parent = s;
			from = sp;
		} else {
			from = s;
		}
		s->left = n->left;
		n->left->parent = s;
		s->parent = n->parent;
		s->height = n->height;
		mb_avl_replace_child(t, n->parent, n, s);
	} else {
		struct mb_avl_node *c = n->left ? n->left : n->right;

		if (c)
			c->parent = n->parent;
		mb_avl_replace_child(t, n->parent, n, c);
		from = n->parent;
	}
	t->count--;
	n->left = n->right = n->parent = NULL;
	mb_avl_rebalance(t, from);
}

struct mb_avl_node *mb_avl_first(const struct mb_avl *t)
{
	return t->root ? mb_avl_leftmost(t->root) : t->out;
}

static struct mb_avl_node *mb_avl_next_linked(const struct mb_avl_node *n)
{
	if (n->right)
		return mb_avl_leftmost(n->right);
	while (n->parent && n->parent->right == n)
		n = n->parent;
	return n->parent;
}

static struct mb_avl_node *mb_avl_prev_linked(const struct mb_avl_node *n)
{
	if (n->left)
		return mb_avl_rightmost(n->left);
	while (n->parent && n->parent->left == n)
		n = n->parent;
	return n->parent;
}

struct mb_avl_node *mb_avl_next(const struct mb_avl *t, const struct mb_avl_node *n)
{
	if (n == t->out)
		return NULL;
	if (n == t->last)
		return t->out;
	return mb_avl_next_linked(n);
}

struct mb_avl_node *mb_avl_prev(const struct mb_avl *t, const struct mb_avl_node *n)
{
	return n == t->out ? t->last : mb_avl_prev_linked(n);
}
