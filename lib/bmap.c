/*
 * File block maps: a radix tree of 4 KiB nodes of 512 block numbers.
 * Height h maps file blocks [0, 512^h).  Leaves point at data blocks; a
 * zero entry is a hole.  Runs of holes are filled with runs of contiguous
 * blocks, so sequential writes give contiguous files.
 */
#include <errno.h>
#include <string.h>

#include "fs.h"

/* Keep this much journal room for the step that frees one leaf's blocks. */
#define PUNCH_ROOM_NEEDED (16u * 1024u)

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

static bool valid_block(const struct nvfs *fs, uint64_t blk)
{
	return blk >= fs->sb.data_start && blk < fs->sb.block_count;
}

/* A map a damaged pool could hold: read as empty, refuse to change. */
static bool map_is_sane(const struct nvfs *fs, const struct nvmpfs_inode *inode)
{
	if (inode->map_height > NVMPFS_MAP_MAX_HEIGHT ||
	    (inode->map_root != 0) != (inode->map_height != 0))
		return false;
	return !inode->map_root || valid_block(fs, inode->map_root);
}

uint64_t bmap_lookup(struct nvfs *fs, const struct nvmpfs_inode *inode,
		     uint64_t lblk, uint64_t *run)
{
	if (run)
		*run = 1;
	if (!map_is_sane(fs, inode) || lblk >= capacity(inode->map_height) ||
	    !inode->map_root)
		return 0;
	uint64_t blk = inode->map_root;
	for (unsigned level = inode->map_height - 1;; level--) {
		if (!valid_block(fs, blk))
			return 0;
		const uint64_t *node = node_at(fs, blk);
		unsigned idx = (lblk >> span_shift(level)) & (NVMPFS_MAP_FANOUT - 1);
		blk = node[idx];
		if (level == 0) {
			if (run && blk) {
				uint64_t n = 1;
				while (idx + n < NVMPFS_MAP_FANOUT &&
				       node[idx + n] == blk + n &&
				       valid_block(fs, blk + n))
					n++;
				*run = n;
			}
			return valid_block(fs, blk) ? blk : 0;
		}
		if (!blk)
			return 0;
	}
}

static int new_node(struct nvfs *fs, struct nvmpfs_inode *inode, uint64_t *blk)
{
	uint64_t got;
	int rc = alloc_run(fs, fs->alloc_hint, 1, blk, &got);
	if (rc)
		return rc;
	pool_zero(fs->pool, *blk * NVMPFS_BLOCK_SIZE, NVMPFS_BLOCK_SIZE);
	inode->blocks++;
	return 0;
}

/* Makes the tree tall enough to map lblk. */
static int grow_tree(struct nvfs *fs, struct nvmpfs_inode *inode, uint64_t lblk)
{
	while (lblk >= capacity(inode->map_height)) {
		if (inode->map_height >= NVMPFS_MAP_MAX_HEIGHT)
			return -EFBIG;
		uint64_t blk;
		int rc = new_node(fs, inode, &blk);
		if (rc)
			return rc;
		if (inode->map_height > 0) {
			node_at(fs, blk)[0] = inode->map_root;
			tx_fresh(&fs->j, node_at(fs, blk), sizeof(uint64_t));
		}
		inode->map_root = blk;
		inode->map_height++;
	}
	return 0;
}

/* Walks down to the leaf that maps lblk, adding missing nodes. */
static int leaf_for(struct nvfs *fs, struct nvmpfs_inode *inode, uint64_t lblk,
		    uint64_t **leaf)
{
	uint64_t blk = inode->map_root;
	for (unsigned level = inode->map_height - 1; level > 0; level--) {
		uint64_t *node = node_at(fs, blk);
		unsigned idx = (lblk >> span_shift(level)) & (NVMPFS_MAP_FANOUT - 1);
		if (!node[idx]) {
			uint64_t child;
			int rc = new_node(fs, inode, &child);
			if (rc)
				return rc;
			rc = tx_log(&fs->j, &node[idx], sizeof(node[idx]));
			if (rc)
				return rc;
			node[idx] = child;
		}
		blk = node[idx];
		if (!valid_block(fs, blk))
			return -EIO;
	}
	*leaf = node_at(fs, blk);
	return 0;
}

int bmap_map(struct nvfs *fs, struct nvmpfs_inode *inode, uint64_t lblk,
	     uint64_t want, uint64_t *pblk, uint64_t *got, bool *fresh)
{
	if (!map_is_sane(fs, inode))
		return -EIO;
	int rc = inode_log(fs, inode);
	if (rc)
		return rc;
	rc = grow_tree(fs, inode, lblk);
	if (rc)
		return rc;
	uint64_t *leaf;
	rc = leaf_for(fs, inode, lblk, &leaf);
	if (rc)
		return rc;
	unsigned idx = lblk & (NVMPFS_MAP_FANOUT - 1);
	uint64_t limit = NVMPFS_MAP_FANOUT - idx;
	if (want > limit)
		want = limit;
	if (leaf[idx]) {
		if (!valid_block(fs, leaf[idx]))
			return -EIO; /* a damaged map: never write through it */
		uint64_t n = 1;
		while (n < want && leaf[idx + n] == leaf[idx] + n &&
		       valid_block(fs, leaf[idx + n]))
			n++;
		*pblk = leaf[idx];
		*got = n;
		*fresh = false;
		return 0;
	}
	uint64_t holes = 1;
	while (holes < want && !leaf[idx + holes])
		holes++;
	uint64_t goal = idx > 0 && leaf[idx - 1] ? leaf[idx - 1] + 1
						 : fs->alloc_hint;
	uint64_t start, n;
	rc = alloc_run(fs, goal, holes, &start, &n);
	if (rc)
		return rc;
	rc = tx_log(&fs->j, &leaf[idx], n * sizeof(*leaf));
	if (rc)
		return rc;
	for (uint64_t i = 0; i < n; i++)
		leaf[idx + i] = start + i;
	inode->blocks += n;
	*pblk = start;
	*got = n;
	*fresh = true;
	return 0;
}

static bool node_is_empty(const uint64_t *node)
{
	for (unsigned i = 0; i < NVMPFS_MAP_FANOUT; i++)
		if (node[i])
			return false;
	return true;
}

/* Frees the data blocks of leaf entries [from, to) that are mapped. */
static int punch_leaf(struct nvfs *fs, struct nvmpfs_inode *inode,
		      uint64_t *leaf, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to;) {
		if (!leaf[i]) {
			i++;
			continue;
		}
		if (tx_room(&fs->j) < PUNCH_ROOM_NEEDED)
			return -EAGAIN;
		unsigned j = i;
		while (j < to && leaf[j])
			j++;
		int rc = tx_log(&fs->j, &leaf[i], (j - i) * sizeof(*leaf));
		if (rc)
			return rc;
		for (unsigned k = i; k < j;) {
			unsigned run = 1;
			while (k + run < j && leaf[k + run] == leaf[k] + run)
				run++;
			if (valid_block(fs, leaf[k]) &&
			    (rc = alloc_free(fs, leaf[k], run)))
				return rc;
			k += run;
		}
		memset(&leaf[i], 0, (j - i) * sizeof(*leaf));
		inode->blocks -= j - i;
		i = j;
	}
	return 0;
}

static int punch_node(struct nvfs *fs, struct nvmpfs_inode *inode,
		      uint64_t *slot, unsigned level, uint64_t base,
		      uint64_t first, uint64_t last)
{
	if (!valid_block(fs, *slot))
		return -EIO;
	uint64_t *node = node_at(fs, *slot);
	unsigned shift = span_shift(level);
	unsigned lo = first > base ? (unsigned)((first - base) >> shift) : 0;
	uint64_t hi64 = (last - base) >> shift;
	unsigned hi = hi64 >= NVMPFS_MAP_FANOUT ? NVMPFS_MAP_FANOUT - 1
						: (unsigned)hi64;
	int rc = 0;
	if (level == 0) {
		rc = punch_leaf(fs, inode, node, lo, hi + 1);
	} else {
		for (unsigned i = lo; i <= hi && rc == 0; i++)
			if (node[i])
				rc = punch_node(fs, inode, &node[i], level - 1,
						base + ((uint64_t)i << shift),
						first, last);
	}
	if (rc == 0 && node_is_empty(node)) {
		if ((rc = tx_log(&fs->j, slot, sizeof(*slot))))
			return rc;
		if ((rc = alloc_free(fs, *slot, 1)))
			return rc;
		*slot = 0;
		inode->blocks--;
	}
	return rc;
}

int bmap_punch(struct nvfs *fs, struct nvmpfs_inode *inode, uint64_t first,
	       uint64_t last)
{
	if (!map_is_sane(fs, inode))
		return -EIO;
	if (!inode->map_root || first > last)
		return 0;
	uint64_t cap = capacity(inode->map_height);
	if (first >= cap)
		return 0;
	if (last >= cap)
		last = cap - 1;
	int rc = inode_log(fs, inode);
	if (rc)
		return rc;
	rc = punch_node(fs, inode, &inode->map_root, inode->map_height - 1, 0,
			first, last);
	if (rc == 0 && !inode->map_root)
		inode->map_height = 0;
	return rc;
}

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
		if (!node[i] || !valid_block(fs, node[i])) {
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

uint64_t bmap_next(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   uint64_t lblk, bool want_data)
{
	uint64_t cap = capacity(inode->map_height);
	if (!map_is_sane(fs, inode) || !inode->map_root || lblk >= cap)
		return want_data ? UINT64_MAX : lblk;
	uint64_t found = next_in_node(fs, inode->map_root, inode->map_height - 1,
				      0, lblk, want_data);
	if (found == UINT64_MAX && !want_data)
		return cap;
	return found;
}

static int walk_node(struct nvfs *fs, uint64_t blk, unsigned level,
		     uint64_t base, bmap_visit_cb cb, void *arg)
{
	int rc = cb(arg, base, blk, true);
	if (rc || !valid_block(fs, blk))
		return rc;
	const uint64_t *node = node_at(fs, blk);
	unsigned shift = span_shift(level);
	for (unsigned i = 0; i < NVMPFS_MAP_FANOUT && rc == 0; i++) {
		if (!node[i])
			continue;
		uint64_t child_base = base + ((uint64_t)i << shift);
		if (level == 0)
			rc = cb(arg, child_base, node[i], false);
		else
			rc = walk_node(fs, node[i], level - 1, child_base, cb, arg);
	}
	return rc;
}

int bmap_walk(struct nvfs *fs, const struct nvmpfs_inode *inode,
	      bmap_visit_cb cb, void *arg)
{
	if (!inode->map_root)
		return 0;
	if (inode->map_height == 0 || inode->map_height > NVMPFS_MAP_MAX_HEIGHT)
		return cb(arg, 0, inode->map_root, true);
	return walk_node(fs, inode->map_root, inode->map_height - 1, 0, cb, arg);
}
