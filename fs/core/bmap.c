/*
 * File block maps: lookups, plans that map holes (see bmap.h), punching,
 * and walks.  Runs of holes are filled with runs of contiguous blocks, so
 * sequential writes give contiguous files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#define BS NVMPFS_BLOCK_SIZE
/* Keep this much journal room for the step that frees one leaf's blocks. */
#define PUNCH_ROOM_NEEDED (16u * 1024u)
/* What logging one range costs in a lane, besides its bytes. */
#define RECORD_COST 48u

static uint64_t *node_at(const struct nvfs *fs, uint64_t blk)
{
	return pool_block(fs->pool, blk);
}

static unsigned span_shift(unsigned level)
{
	return NVMPFS_MAP_SHIFT * level;
}

/* File blocks a tree of this height maps. */
static uint64_t capacity(unsigned height)
{
	if (height == 0)
		return 0;
	if (height >= NVMPFS_MAP_MAX_HEIGHT)
		return 1ull << span_shift(NVMPFS_MAP_MAX_HEIGHT);
	return 1ull << span_shift(height);
}

/* A map a damaged pool could hold: read as empty, refuse to change. */
static bool word_is_sane(const struct nvfs *fs, uint64_t map)
{
	uint64_t root = nvmpfs_map_root(map);
	unsigned height = nvmpfs_map_height(map);
	if (height > NVMPFS_MAP_MAX_HEIGHT || (root != 0) != (height != 0))
		return false;
	return !root || valid_data_block(fs, root);
}

uint64_t bmap_lookup(struct nvfs *fs, const struct nvmpfs_inode *inode,
		     uint64_t lblk, uint64_t *run)
{
	if (run)
		*run = 1;
	uint64_t map = inode->map;
	unsigned height = nvmpfs_map_height(map);
	if (!word_is_sane(fs, map) || lblk >= capacity(height) ||
	    !nvmpfs_map_root(map))
		return 0;
	uint64_t blk = nvmpfs_map_root(map);
	for (unsigned level = height - 1;; level--) {
		if (!valid_data_block(fs, blk))
			return 0;
		const uint64_t *node = node_at(fs, blk);
		unsigned idx = (lblk >> span_shift(level)) & (NVMPFS_MAP_FANOUT - 1);
		blk = node[idx];
		if (level == 0) {
			if (run && blk) {
				uint64_t n = 1;
				while (idx + n < NVMPFS_MAP_FANOUT &&
				       node[idx + n] == blk + n &&
				       valid_data_block(fs, blk + n))
					n++;
				*run = n;
			}
			return valid_data_block(fs, blk) ? blk : 0;
		}
		if (!blk)
			return 0;
	}
}

/* ---- plans ---- */

void map_plan_init(struct map_plan *p, struct nvfs *fs,
		   struct nvmpfs_inode *inode)
{
	memset(p, 0, sizeof(*p));
	p->fs = fs;
	p->inode = inode;
	p->map = inode->map;
}

void map_plan_fini(struct map_plan *p)
{
	free(p->stores);
	free(p->fresh_nodes);
	free(p->taken);
	p->stores = NULL;
	p->fresh_nodes = NULL;
	p->taken = NULL;
}

static int grow(void **arr, size_t *cap, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *a = realloc(*arr, ncap * elem);
	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = ncap;
	return 0;
}

static bool in_fresh_node(const struct map_plan *p, const uint64_t *at)
{
	uint64_t blk = pool_off(p->fs->pool, at) / BS;
	for (size_t i = 0; i < p->nfresh; i++)
		if (p->fresh_nodes[i] == blk)
			return true;
	return false;
}

/* A word as it will be once the plan is applied. */
static uint64_t plan_get(const struct map_plan *p, const uint64_t *at)
{
	for (size_t i = p->nstores; i-- > 0;)
		if (p->stores[i].at == at)
			return p->stores[i].value;
	return *at;
}

/*
 * Words of new nodes are set now; words of the tree at apply.  data says
 * the word names the data block of file block lblk (else a new node).
 */
static int plan_set(struct map_plan *p, uint64_t *at, uint64_t value,
		    bool data, uint64_t lblk)
{
	if (in_fresh_node(p, at)) {
		*at = value;
		pool_flush_ptr(p->fs->pool, at, sizeof(*at));
		return 0;
	}
	if (!data && !p->looking_ahead)
		p->structure_needed = true;
	for (size_t i = p->nstores; i-- > 0;)
		if (p->stores[i].at == at) {
			p->stores[i].value = value;
			return 0;
		}
	if (p->nstores == p->cap_stores &&
	    grow((void **)&p->stores, &p->cap_stores, sizeof(*p->stores)))
		return -ENOMEM;
	p->stores[p->nstores++] = (struct map_store){ at, value, lblk, data };
	return 0;
}

static int take(struct map_plan *p, uint64_t goal, uint64_t want,
		uint64_t *start, uint64_t *got)
{
	if (p->ntaken == p->cap_taken &&
	    grow((void **)&p->taken, &p->cap_taken, sizeof(*p->taken)))
		return -ENOMEM;
	int rc = alloc_run(p->fs, goal, want, start, got);
	if (rc)
		return rc;
	p->taken[p->ntaken++] = (struct pool_range){ *start, *got };
	p->new_blocks += *got;
	return 0;
}

static int new_node(struct map_plan *p, uint64_t *blk)
{
	if (p->nfresh == p->cap_fresh &&
	    grow((void **)&p->fresh_nodes, &p->cap_fresh, sizeof(*p->fresh_nodes)))
		return -ENOMEM;
	uint64_t got;
	int rc = take(p, ALLOC_AT_HINT, 1, blk, &got);
	if (rc)
		return rc;
	pool_fill_fresh(p->fs->pool, *blk * BS, NULL, BS);
	p->fresh_nodes[p->nfresh++] = *blk;
	return 0;
}

/* Makes the tree tall enough to map lblk: new roots above the old. */
static int plan_grow(struct map_plan *p, uint64_t lblk)
{
	while (lblk >= capacity(nvmpfs_map_height(p->map))) {
		unsigned height = nvmpfs_map_height(p->map);
		if (height >= NVMPFS_MAP_MAX_HEIGHT)
			return -EFBIG;
		uint64_t blk;
		int rc = new_node(p, &blk);
		if (rc)
			return rc;
		if (height > 0)
			plan_set(p, &node_at(p->fs, blk)[0],
				 nvmpfs_map_root(p->map), false, 0);
		p->map = nvmpfs_map_word(blk, height + 1);
		if (!p->looking_ahead)
			p->structure_needed = true;
	}
	return 0;
}

/* Walks down to the leaf that maps lblk, planning missing nodes. */
static int plan_leaf(struct map_plan *p, uint64_t lblk, uint64_t **leaf)
{
	uint64_t blk = nvmpfs_map_root(p->map);
	for (unsigned level = nvmpfs_map_height(p->map) - 1; level > 0; level--) {
		uint64_t *node = node_at(p->fs, blk);
		unsigned idx = (lblk >> span_shift(level)) & (NVMPFS_MAP_FANOUT - 1);
		uint64_t child = plan_get(p, &node[idx]);
		if (!child) {
			int rc = new_node(p, &child);
			if (rc == 0)
				rc = plan_set(p, &node[idx], child, false, 0);
			if (rc)
				return rc;
		}
		if (!valid_data_block(p->fs, child))
			return -EIO;
		blk = child;
	}
	*leaf = node_at(p->fs, blk);
	return 0;
}

int map_plan_map(struct map_plan *p, uint64_t lblk, uint64_t want,
		 uint64_t *pblk, uint64_t *got, bool *fresh)
{
	if (!word_is_sane(p->fs, p->map))
		return -EIO;
	int rc = plan_grow(p, lblk);
	uint64_t *leaf;
	if (rc == 0)
		rc = plan_leaf(p, lblk, &leaf);
	if (rc)
		return rc;
	unsigned idx = lblk & (NVMPFS_MAP_FANOUT - 1);
	uint64_t limit = NVMPFS_MAP_FANOUT - idx;
	if (want > limit)
		want = limit;
	uint64_t first = plan_get(p, &leaf[idx]);
	if (first) {
		if (!valid_data_block(p->fs, first))
			return -EIO; /* a damaged map: never write through it */
		uint64_t n = 1;
		while (n < want && plan_get(p, &leaf[idx + n]) == first + n &&
		       valid_data_block(p->fs, first + n))
			n++;
		*pblk = first;
		*got = n;
		*fresh = false;
		return 0;
	}
	uint64_t holes = 1;
	while (holes < want && !plan_get(p, &leaf[idx + holes]))
		holes++;
	uint64_t prev = idx > 0 ? plan_get(p, &leaf[idx - 1]) : 0;
	uint64_t start, n;
	rc = take(p, prev ? prev + 1 : ALLOC_AT_HINT, holes, &start, &n);
	for (uint64_t i = 0; rc == 0 && i < n; i++)
		rc = plan_set(p, &leaf[idx + i], start + i, true, lblk + i);
	if (rc)
		return rc;
	*pblk = start;
	*got = n;
	*fresh = true;
	return 0;
}

bool map_plan_empty(const struct map_plan *p)
{
	return p->ntaken == 0;
}

int map_plan_lookahead(struct map_plan *p, uint64_t lblk)
{
	if (lblk >= capacity(NVMPFS_MAP_MAX_HEIGHT) ||
	    !word_is_sane(p->fs, p->map))
		return 0;
	p->looking_ahead = true;
	uint64_t *leaf;
	int rc = plan_grow(p, lblk);
	if (rc == 0)
		rc = plan_leaf(p, lblk, &leaf);
	p->looking_ahead = false;
	return rc;
}

void map_plan_apply_past(struct map_plan *p, uint64_t from)
{
	size_t kept = 0;
	for (size_t i = 0; i < p->nstores; i++) {
		struct map_store *st = &p->stores[i];
		if (st->data && st->lblk >= from)
			pool_store64(p->fs->pool, st->at, st->value);
		else
			p->stores[kept++] = *st;
	}
	p->nstores = kept;
}

int map_plan_log(struct map_plan *p, struct tx *tx)
{
	for (size_t i = 0; i < p->nstores; i++) {
		int rc = tx_log(tx, p->stores[i].at, sizeof(uint64_t));
		if (rc)
			return rc;
	}
	return 0;
}

void map_plan_apply(struct map_plan *p)
{
	struct pool *pool = p->fs->pool;
	for (size_t i = 0; i < p->nstores; i++)
		pool_store64(pool, p->stores[i].at, p->stores[i].value);
	if (p->map != p->inode->map)
		pool_store64(pool, &p->inode->map, p->map);
	if (p->new_blocks)
		pool_store64(pool, &p->inode->blocks,
			     p->inode->blocks + p->new_blocks);
	p->nstores = p->nfresh = p->ntaken = 0;
	p->new_blocks = 0;
	p->structure_needed = false;
}

void map_plan_cancel(struct map_plan *p)
{
	if (!p->fs)
		return; /* never started */
	for (size_t i = 0; i < p->ntaken; i++)
		alloc_release(p->fs, p->taken[i].off, p->taken[i].len);
	p->nstores = p->nfresh = p->ntaken = 0;
	p->new_blocks = 0;
	p->map = p->inode->map;
}

/* ---- punching ---- */

enum { CLEAR_ENTRIES, FREE_NODE };

struct punch_action {
	int kind;
	uint64_t *at;            /* entries to clear, or the node's pointer */
	unsigned count;          /* entries */
	uint64_t node;           /* FREE_NODE: its block */
};

struct punch {
	struct tx *tx;
	struct nvfs *fs;
	struct nvmpfs_inode *inode;
	uint64_t first, last;
	uint64_t budget;         /* journal bytes left for this step */
	bool partial;            /* stopped for room: call again */
	struct punch_action *acts;
	size_t n, cap;
};

static int add_action(struct punch *pc, int kind, uint64_t *at,
		      unsigned count, uint64_t node)
{
	if (pc->n == pc->cap &&
	    grow((void **)&pc->acts, &pc->cap, sizeof(*pc->acts)))
		return -ENOMEM;
	pc->acts[pc->n++] = (struct punch_action){ kind, at, count, node };
	uint64_t cost = RECORD_COST + (uint64_t)count * 8 + 8;
	pc->budget = pc->budget > cost ? pc->budget - cost : 0;
	return 0;
}

static bool any_outside(const uint64_t *node, unsigned lo, unsigned hi)
{
	for (unsigned i = 0; i < NVMPFS_MAP_FANOUT; i++)
		if (node[i] && (i < lo || i > hi))
			return true;
	return false;
}

/* Plans the clearing of a leaf's entries [lo, hi]; all mapped runs. */
static int collect_leaf(struct punch *pc, uint64_t *leaf, unsigned lo,
			unsigned hi)
{
	for (unsigned i = lo; i <= hi;) {
		if (!leaf[i]) {
			i++;
			continue;
		}
		unsigned j = i;
		while (j <= hi && leaf[j])
			j++;
		int rc = add_action(pc, CLEAR_ENTRIES, &leaf[i], j - i, 0);
		if (rc)
			return rc;
		i = j;
	}
	return 0;
}

/*
 * Plans the punch below the node at *slot (level 0: a leaf); *emptied
 * says whether the node will hold nothing afterwards (then it is freed).
 */
static int collect_node(struct punch *pc, uint64_t *slot, unsigned level,
			uint64_t base, bool *emptied)
{
	*emptied = false;
	if (!valid_data_block(pc->fs, *slot))
		return -EIO;
	uint64_t *node = node_at(pc->fs, *slot);
	unsigned shift = span_shift(level);
	unsigned lo = pc->first > base ? (unsigned)((pc->first - base) >> shift) : 0;
	uint64_t hi64 = (pc->last - base) >> shift;
	unsigned hi = hi64 >= NVMPFS_MAP_FANOUT ? NVMPFS_MAP_FANOUT - 1
						: (unsigned)hi64;
	bool all_gone = !any_outside(node, lo, hi);
	int rc = 0;
	if (level == 0) {
		if (pc->budget < PUNCH_ROOM_NEEDED) {
			pc->partial = true;
			return 0;
		}
		rc = collect_leaf(pc, node, lo, hi);
	} else {
		for (unsigned i = lo; i <= hi && rc == 0; i++) {
			if (!node[i])
				continue;
			if (pc->partial) {
				all_gone = false;
				continue;
			}
			bool gone;
			rc = collect_node(pc, &node[i], level - 1,
					  base + ((uint64_t)i << shift), &gone);
			all_gone = all_gone && gone;
		}
	}
	if (rc == 0 && all_gone && !pc->partial) {
		rc = add_action(pc, FREE_NODE, slot, 0, *slot);
		*emptied = true;
	}
	return rc;
}

static int log_actions(struct punch *pc)
{
	for (size_t i = 0; i < pc->n; i++) {
		struct punch_action *a = &pc->acts[i];
		size_t len = a->kind == CLEAR_ENTRIES ? a->count * 8u : 8u;
		int rc = tx_log(pc->tx, a->at, len);
		if (rc)
			return rc;
	}
	return 0;
}

/* Hands the blocks to the transaction (freed when it commits). */
static int free_blocks_of(struct punch *pc, uint64_t *count)
{
	*count = 0;
	for (size_t i = 0; i < pc->n; i++) {
		struct punch_action *a = &pc->acts[i];
		if (a->kind == FREE_NODE) {
			int rc = tx_free_blocks(pc->tx, a->node, 1);
			if (rc)
				return rc;
			(*count)++;
			continue;
		}
		for (unsigned k = 0; k < a->count;) {
			unsigned run = 1;
			while (k + run < a->count && a->at[k + run] == a->at[k] + run)
				run++;
			if (valid_data_block(pc->fs, a->at[k]) &&
			    valid_data_block(pc->fs, a->at[k] + run - 1)) {
				int rc = tx_free_blocks(pc->tx, a->at[k], run);
				if (rc)
					return rc;
			}
			*count += run;
			k += run;
		}
	}
	return 0;
}

static void apply_actions(struct punch *pc, uint64_t freed)
{
	struct nvmpfs_inode *inode = pc->inode;
	for (size_t i = 0; i < pc->n; i++) {
		struct punch_action *a = &pc->acts[i];
		if (a->kind == CLEAR_ENTRIES) {
			memset(a->at, 0, a->count * 8u);
			pool_flush_ptr(pc->fs->pool, a->at, a->count * 8u);
		} else if (a->at == &inode->map) {
			inode->map = 0;
			/* An empty map may now go with a size (layout.h). */
			inode->flags &= ~NVMPFS_IFLAG_FIRST_MAP;
		} else {
			*a->at = 0;
			pool_flush_ptr(pc->fs->pool, a->at, 8);
		}
	}
	inode->blocks = inode->blocks > freed ? inode->blocks - freed : 0;
}

int bmap_punch(struct tx *tx, struct nvmpfs_inode *inode, uint64_t first,
	       uint64_t last)
{
	struct nvfs *fs = tx->fs;
	if (!word_is_sane(fs, inode->map))
		return -EIO;
	uint64_t cap = capacity(bmap_height(inode));
	if (!bmap_root(inode) || first > last || first >= cap)
		return 0;
	if (last >= cap)
		last = cap - 1;
	struct punch pc = { .tx = tx, .fs = fs, .inode = inode,
			    .first = first, .last = last,
			    .budget = tx_room(tx) };
	/* The map word lives in the inode, which the caller logged. */
	uint64_t root = bmap_root(inode);
	uint64_t *root_slot = &inode->map;
	bool gone;
	int rc = collect_node(&pc, &root, bmap_height(inode) - 1, 0, &gone);
	for (size_t i = 0; i < pc.n; i++)
		if (pc.acts[i].at == &root)
			pc.acts[i].at = root_slot;
	uint64_t freed = 0;
	if (rc == 0)
		rc = log_actions(&pc);
	if (rc == 0)
		rc = free_blocks_of(&pc, &freed);
	if (rc == 0)
		rc = tx_ready(tx);
	if (rc == 0)
		apply_actions(&pc, freed);
	free(pc.acts);
	if (rc)
		return rc;
	return pc.partial ? -EAGAIN : 0;
}

/* ---- walks ---- */

/* First block >= from under this node that is data (or a hole). */
static uint64_t next_in_node(struct nvfs *fs, uint64_t blk, unsigned level,
			     uint64_t base, uint64_t from, bool want_data)
{
	const uint64_t *node = node_at(fs, blk);
	unsigned shift = span_shift(level);
	unsigned lo = from > base ? (unsigned)((from - base) >> shift) : 0;
	for (unsigned i = lo; i < NVMPFS_MAP_FANOUT; i++) {
		uint64_t child_base = base + ((uint64_t)i << shift);
		uint64_t start = from > child_base ? from : child_base;
		if (!node[i] || !valid_data_block(fs, node[i])) {
			if (!want_data)
				return start;
			continue;
		}
		if (level == 0) {
			if (want_data)
				return start;
			continue;
		}
		uint64_t found = next_in_node(fs, node[i], level - 1, child_base,
					      start, want_data);
		if (found != UINT64_MAX)
			return found;
	}
	return UINT64_MAX;
}

void bmap_for_runs(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   uint64_t *lblk, uint64_t end, uint64_t budget,
		   bmap_run_cb fn, void *arg)
{
	uint64_t b = *lblk;
	while (b < end && budget) {
		uint64_t data = bmap_next(fs, inode, b, true);
		if (data == UINT64_MAX || data >= end) {
			b = end;
			break;
		}
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, data, &run);
		if (run > budget)
			run = budget;
		if (run > end - data)
			run = end - data;
		if (pblk)
			fn(arg, data, pblk, run);
		budget -= run;
		b = data + run;
	}
	*lblk = b;
}

uint64_t bmap_next(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   uint64_t lblk, bool want_data)
{
	uint64_t cap = capacity(bmap_height(inode));
	if (!word_is_sane(fs, inode->map) || !bmap_root(inode) || lblk >= cap)
		return want_data ? UINT64_MAX : lblk;
	uint64_t found = next_in_node(fs, bmap_root(inode),
				      bmap_height(inode) - 1, 0, lblk, want_data);
	if (found == UINT64_MAX && !want_data)
		return cap;
	return found;
}

/* A node is visited before what it maps, or after it (nodes_last). */
static int walk_node(struct nvfs *fs, uint64_t blk, unsigned level,
		     uint64_t base, bmap_visit_cb cb, void *arg,
		     bool nodes_last)
{
	int rc = nodes_last ? 0 : cb(arg, base, blk, true);
	if (rc)
		return rc;
	if (!valid_data_block(fs, blk))
		return nodes_last ? cb(arg, base, blk, true) : 0;
	const uint64_t *node = node_at(fs, blk);
	unsigned shift = span_shift(level);
	for (unsigned i = 0; i < NVMPFS_MAP_FANOUT && rc == 0; i++) {
		if (!node[i])
			continue;
		uint64_t child_base = base + ((uint64_t)i << shift);
		if (level == 0)
			rc = cb(arg, child_base, node[i], false);
		else
			rc = walk_node(fs, node[i], level - 1, child_base, cb,
				       arg, nodes_last);
	}
	if (rc == 0 && nodes_last)
		rc = cb(arg, base, blk, true);
	return rc;
}

static int walk_map(struct nvfs *fs, const struct nvmpfs_inode *inode,
		    bmap_visit_cb cb, void *arg, bool nodes_last)
{
	if (!bmap_root(inode))
		return 0;
	unsigned height = bmap_height(inode);
	if (height == 0 || height > NVMPFS_MAP_MAX_HEIGHT)
		return cb(arg, 0, bmap_root(inode), true);
	return walk_node(fs, bmap_root(inode), height - 1, 0, cb, arg,
			 nodes_last);
}

int bmap_walk(struct nvfs *fs, const struct nvmpfs_inode *inode,
	      bmap_visit_cb cb, void *arg)
{
	return walk_map(fs, inode, cb, arg, false);
}

int bmap_walk_nodes_last(struct nvfs *fs, const struct nvmpfs_inode *inode,
			 bmap_visit_cb cb, void *arg)
{
	return walk_map(fs, inode, cb, arg, true);
}
