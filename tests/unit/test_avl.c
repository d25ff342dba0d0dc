/* SPDX-License-Identifier: MIT */
/*
 * test_avl.c - the intrusive AVL tree (src/avl.c) against a brute-force
 * model (an unordered array of live keys): seeded random inserts (with
 * duplicate keys), removes of random members, floor / ceiling lookups and
 * in-order walks both ways, with every structural invariant checked after
 * each change: parent links, stored heights, balance within one, order,
 * count, the kept last node.  Also ascending / descending runs (the rotations' worst cases)
 * and remove-all in random order.
 */
#include <string.h>

#include "harness.h"
#include "avl.h"

struct item {
	struct mb_avl_node node;
	uint64_t key;
	unsigned id; /* insertion number: equal keys keep insertion order */
	bool in;
};

#define ITEM(n) ((struct item *)((char *)(n)-offsetof(struct item, node)))

static int cmp_items(const struct mb_avl_node *a, const struct mb_avl_node *b)
{
	uint64_t x = ITEM(a)->key, y = ITEM(b)->key;

	return x < y ? -1 : x > y;
}

static int cmp_key(const void *key, const struct mb_avl_node *n)
{
	uint64_t k = *(const uint64_t *)key, y = ITEM(n)->key;

	return k < y ? -1 : k > y;
}

/* Checks the subtree below n; returns its height, or -1 on a violation. */
static int check_sub(const struct mb_avl_node *n, const struct mb_avl_node *parent, size_t *count)
{
	if (!n)
		return 0;
	if (n->parent != parent)
		return -1;
	int l = check_sub(n->left, n, count), r = check_sub(n->right, n, count);

	if (l < 0 || r < 0 || l - r > 1 || r - l > 1)
		return -1;
	if (n->height != 1 + (l > r ? l : r))
		return -1;
	if (n->left && cmp_items(n->left, n) > 0)
		return -1;
	if (n->right && cmp_items(n->right, n) < 0)
		return -1;
	++*count;
	return n->height;
}

/*
 * The tree keeps its last node (t->last): the rightmost one, found by
 * walking.  The node held out (t->out), if any, is unlinked and sorts
 * after it (or with it, inserted later); it is then the last of all.
 */
static bool last_ok(const struct mb_avl *t)
{
	const struct mb_avl_node *n = t->root, *o = t->out;

	while (n && n->right)
		n = n->right;
	if (t->last != n)
		return false;
	if (!o)
		return mb_avl_last(t) == n;
	if (o->left || o->right || o->parent || o == n)
		return false;
	if (n && (cmp_items(n, o) > 0 || (cmp_items(n, o) == 0 && ITEM(n)->id > ITEM(o)->id)))
		return false;
	return mb_avl_last(t) == o;
}

static bool tree_ok(const struct mb_avl *t)
{
	size_t count = 0;

	return check_sub(t->root, NULL, &count) >= 0 && count + (t->out != NULL) == t->count &&
	       last_ok(t);
}

/* In-order walk: sorted by key, equal keys in insertion order, all live items. */
static bool walk_ok(const struct mb_avl *t, size_t live)
{
	const struct mb_avl_node *pos, *prev = NULL;
	size_t n = 0;

	mb_avl_for_each(pos, t)
	{
		if (!ITEM(pos)->in)
			return false;
		if (prev && (ITEM(prev)->key > ITEM(pos)->key ||
			     (ITEM(prev)->key == ITEM(pos)->key && ITEM(prev)->id > ITEM(pos)->id)))
			return false;
		if (mb_avl_prev(t, pos) != prev)
			return false;
		prev = pos;
		n++;
	}
	return n == live && mb_avl_last(t) == prev;
}

/* Brute force: the last live item with key <= k (latest inserted on ties). */
static struct item *model_floor(struct item *it, size_t n, uint64_t k)
{
	struct item *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (it[i].in && it[i].key <= k &&
		    (!best || it[i].key > best->key || (it[i].key == best->key && it[i].id > best->id)))
			best = &it[i];
	return best;
}

static struct item *model_ceil(struct item *it, size_t n, uint64_t k)
{
	struct item *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (it[i].in && it[i].key >= k &&
		    (!best || it[i].key < best->key || (it[i].key == best->key && it[i].id < best->id)))
			best = &it[i];
	return best;
}

static struct item *as_item(struct mb_avl_node *n)
{
	return n ? ITEM(n) : NULL;
}

#define N 1500

TEST(random_against_model)
{
	static struct item it[N];
	uint64_t rng = mb_test_seed;
	struct mb_avl t;
	size_t live = 0;

	for (int round = 0; round < 4; round++) {
		uint64_t span = round == 0 ? 50 : round == 1 ? 1000 : UINT64_MAX; /* dups, few, none */

		memset(it, 0, sizeof(it));
		mb_avl_init(&t);
		live = 0;
		for (unsigned step = 0; step < 6 * N; step++) {
			unsigned i = (unsigned)mb_rand_below(&rng, N);

			if (!it[i].in && mb_rand_below(&rng, 3)) {
				it[i].key = span == UINT64_MAX ? mb_rand_next(&rng)
							       : mb_rand_below(&rng, span);
				it[i].id = step;
				it[i].in = true;
				mb_avl_insert(&t, &it[i].node, cmp_items);
				live++;
			} else if (it[i].in) {
				mb_avl_remove(&t, &it[i].node);
				it[i].in = false;
				live--;
			}
			ASSERT_TRUE(tree_ok(&t));
			ASSERT_EQ_U64(t.count, live);
			uint64_t k = span == UINT64_MAX ? mb_rand_next(&rng) : mb_rand_below(&rng, span + 2);

			if (step % 7 == 0 && span != UINT64_MAX && it[i].in)
				k = it[i].key; /* hit equal keys exactly */
			ASSERT_TRUE(as_item(mb_avl_floor(&t, &k, cmp_key)) == model_floor(it, N, k));
			ASSERT_TRUE(as_item(mb_avl_ceil(&t, &k, cmp_key)) == model_ceil(it, N, k));
			if (step % 97 == 0)
				ASSERT_TRUE(walk_ok(&t, live));
		}
		ASSERT_TRUE(walk_ok(&t, live));
	}
}

TEST(sorted_runs_stay_shallow)
{
	static struct item it[1 << 14];
	const unsigned n = 1 << 14;
	struct mb_avl t;

	/* up, down, and up with runs of three equal keys (appends: each new
	   node sorts with or past the last, which takes it without a walk) */
	for (int dir = 0; dir < 3; dir++) {
		memset(it, 0, sizeof(it));
		mb_avl_init(&t);
		for (unsigned i = 0; i < n; i++) {
			it[i].key = dir == 1 ? n - i : dir == 2 ? i / 3 : i;
			it[i].id = i;
			it[i].in = true;
			mb_avl_insert(&t, &it[i].node, cmp_items);
			if (i % 61 == 0)
				ASSERT_TRUE(tree_ok(&t));
		}
		ASSERT_TRUE(tree_ok(&t));
		ASSERT_TRUE(walk_ok(&t, n));
		/* AVL bound: height < 1.45 log2(n + 2); 14 * 1.45 = 20.3 */
		ASSERT_LE_U64(t.root->height, 20);
		/* remove every other one, then the rest from the front (the back) */
		for (unsigned i = 0; i < n; i += 2) {
			mb_avl_remove(&t, &it[i].node);
			it[i].in = false;
		}
		ASSERT_TRUE(tree_ok(&t));
		ASSERT_TRUE(walk_ok(&t, n / 2));
		while (!mb_avl_empty(&t)) {
			struct mb_avl_node *f = dir == 2 ? mb_avl_last(&t) : mb_avl_first(&t);

			ITEM(f)->in = false;
			mb_avl_remove(&t, f);
			ASSERT_TRUE(tree_ok(&t));
		}
		ASSERT_EQ_U64(t.count, 0);
		ASSERT_TRUE(mb_avl_first(&t) == NULL && mb_avl_last(&t) == NULL);
	}
}

TEST(empty_and_single)
{
	struct mb_avl t;
	struct item a = { .key = 5, .in = true };
	uint64_t k = 4;

	mb_avl_init(&t);
	ASSERT_TRUE(mb_avl_floor(&t, &k, cmp_key) == NULL);
	ASSERT_TRUE(mb_avl_ceil(&t, &k, cmp_key) == NULL);
	mb_avl_insert(&t, &a.node, cmp_items);
	ASSERT_TRUE(mb_avl_floor(&t, &k, cmp_key) == NULL);
	ASSERT_TRUE(mb_avl_ceil(&t, &k, cmp_key) == &a.node);
	k = 5;
	ASSERT_TRUE(mb_avl_floor(&t, &k, cmp_key) == &a.node);
	k = 6;
	ASSERT_TRUE(mb_avl_floor(&t, &k, cmp_key) == &a.node);
	ASSERT_TRUE(mb_avl_ceil(&t, &k, cmp_key) == NULL);
	ASSERT_TRUE(mb_avl_next(&t, &a.node) == NULL && mb_avl_prev(&t, &a.node) == NULL);
	mb_avl_remove(&t, &a.node);
	ASSERT_TRUE(mb_avl_empty(&t));
	ASSERT_EQ_U64(t.count, 0);
}

/*
 * An appending file's PAs: each new one sorts past every other and is held
 * out of the tree; most are removed while still out (used up by the next
 * request), some stay behind and are linked when a newer one arrives.
 * Against the model at every step; the held-out node must really be used
 * (t.out), and one removed while out must leave the tree as it was.
 */
TEST(append_and_pop_newest)
{
	static struct item it[N];
	uint64_t rng = mb_test_seed, key = 0;
	struct mb_avl t;
	size_t live = 0;
	unsigned held = 0;

	memset(it, 0, sizeof(it));
	mb_avl_init(&t);
	for (unsigned i = 0; i < N; i++) {
		key += 1 + mb_rand_below(&rng, 2);
		/* now and then one a step back: it ties with the newest, or
		   sorts just before it */
		it[i].key = mb_rand_below(&rng, 8) ? key : key - 1;
		it[i].id = i;
		it[i].in = true;
		mb_avl_insert(&t, &it[i].node, cmp_items);
		live++;
		held += t.out == &it[i].node;
		ASSERT_TRUE(tree_ok(&t));
		if (t.out == &it[i].node && mb_rand_below(&rng, 4)) {
			struct mb_avl_node *root = t.root, *last = t.last;

			mb_avl_remove(&t, &it[i].node); /* used up: no unlink */
			it[i].in = false;
			live--;
			ASSERT_TRUE(t.root == root && t.last == last && t.out == NULL);
		} else if (live > 1 && !mb_rand_below(&rng, 5)) {
			unsigned j = (unsigned)mb_rand_below(&rng, i + 1);

			if (it[j].in) { /* an older one goes (a discard) */
				mb_avl_remove(&t, &it[j].node);
				it[j].in = false;
				live--;
			}
		}
		ASSERT_TRUE(tree_ok(&t));
		ASSERT_EQ_U64(t.count, live);
		uint64_t k = mb_rand_below(&rng, key + 3);

		ASSERT_TRUE(as_item(mb_avl_floor(&t, &k, cmp_key)) == model_floor(it, N, k));
		ASSERT_TRUE(as_item(mb_avl_ceil(&t, &k, cmp_key)) == model_ceil(it, N, k));
		if (i % 31 == 0)
			ASSERT_TRUE(walk_ok(&t, live));
	}
	ASSERT_TRUE(walk_ok(&t, live));
	ASSERT_LE_U64(N / 2, held); /* the path this is about was taken */
	while (!mb_avl_empty(&t)) {
		struct mb_avl_node *l = mb_avl_last(&t);

		ITEM(l)->in = false;
		mb_avl_remove(&t, l);
		ASSERT_TRUE(tree_ok(&t));
	}
	ASSERT_EQ_U64(t.count, 0);
}
