/*
 * Reading an inode's xattr tree: sound nodes and records, the way down to
 * a hash, lookups, values and an in-order walk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "xattr_tree.h"

uint64_t xattr_hash(const char *name, size_t len)
{
	return XXH3_64bits(name, len);
}

bool xblock_in_data(const struct nvfs *fs, uint64_t blk)
{
	return blk >= fs->sb.data_start && blk < fs->sb.block_count;
}

struct nvmpfs_xattr_node *xnode_get(const struct nvfs *fs, uint64_t blk,
				    int level)
{
	if (!xblock_in_data(fs, blk))
		return NULL;
	struct nvmpfs_xattr_node *node = pool_block(fs->pool, blk);
	if (level >= 0 && node->level != (unsigned)level)
		return NULL;
	/*
	 * An empty leaf is not kept (fsck reports one), but a replace
	 * empties a leaf for a moment, inside its transaction.
	 */
	if (node->level == 0)
		return node->magic == NVMPFS_XATTR_LEAF_MAGIC &&
		       node->used <= NVMPFS_XATTR_ROOM ? node : NULL;
	return node->magic == NVMPFS_XATTR_INDEX_MAGIC &&
	       node->level <= NVMPFS_XATTR_MAX_LEVEL && node->count > 0 &&
	       node->count <= NVMPFS_XATTR_INDEX_MAX
		       ? node : NULL;
}

bool xrec_shape_ok(const struct nvmpfs_xattr_rec *rec, size_t room)
{
	if (room < XREC_HEADER || rec->rec_len < XREC_HEADER ||
	    rec->rec_len > room || rec->rec_len % 8 || rec->name_len == 0)
		return false;
	bool external = rec->flags & NVMPFS_XATTR_REC_EXTERNAL;
	if ((rec->flags & ~NVMPFS_XATTR_REC_EXTERNAL) ||
	    rec->value_len > NVMPFS_XATTR_VALUE_MAX ||
	    external != xvalue_is_external(rec->value_len))
		return false;
	return xrec_len(rec->name_len, rec->value_len) <= rec->rec_len;
}

struct nvmpfs_xattr_rec *xleaf_next(const struct nvmpfs_xattr_node *leaf,
				    size_t *pos, bool *damaged)
{
	*damaged = false;
	if (*pos >= leaf->used)
		return NULL;
	struct nvmpfs_xattr_rec *rec = (void *)(xleaf_bytes(leaf) + *pos);
	if (*pos % 8 || !xrec_shape_ok(rec, leaf->used - *pos)) {
		*damaged = true;
		return NULL;
	}
	*pos += rec->rec_len;
	return rec;
}

int xtree_damaged(struct nvfs *fs, const struct nvmpfs_inode *inode,
		  const char *what)
{
	uint64_t ino = ((uintptr_t)inode - (uintptr_t)pool_block(
			fs->pool, fs->sb.inode_start)) / NVMPFS_INODE_SIZE;
	nvfs_log(fs, "inode %llu: extended attributes damaged (%s); run "
		 "fsck.nvmpfs", (unsigned long long)ino, what);
	return -EIO;
}

/* The entry of an index node whose range holds hash (binary search). */
static unsigned entry_for(const struct nvmpfs_xattr_node *node, uint64_t hash)
{
	const struct nvmpfs_xattr_entry *e = xnode_entries(node);
	unsigned lo = 0, hi = node->count; /* the answer is in [lo, hi) */
	while (hi - lo > 1) {
		unsigned mid = lo + (hi - lo) / 2;
		if (e[mid].low <= hash)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int xtree_descend(struct nvfs *fs, const struct nvmpfs_inode *inode,
		  uint64_t hash, struct xpath *path)
{
	uint64_t blk = inode->xattr_block;
	if (!blk)
		return -ENODATA;
	const struct nvmpfs_xattr_node *node = xnode_get(fs, blk, -1);
	if (!node)
		return xtree_damaged(fs, inode, "root node");
	path->height = node->level;
	for (int level = (int)node->level;; level--) {
		path->step[level].blk = blk;
		path->step[level].idx = 0;
		if (level == 0)
			return 0;
		unsigned i = entry_for(node, hash);
		path->step[level].idx = i;
		blk = xnode_entries(node)[i].child;
		node = xnode_get(fs, blk, level - 1);
		if (!node)
			return xtree_damaged(fs, inode, "tree node");
	}
}

int xtree_find(struct nvfs *fs, const struct nvmpfs_inode *inode,
	       const char *name, struct nvmpfs_xattr_rec **rec_out,
	       struct xpath *path_out, size_t *off_out)
{
	size_t len = strlen(name);
	uint64_t hash = xattr_hash(name, len);
	struct xpath scratch, *path = path_out ? path_out : &scratch;
	int rc = xtree_descend(fs, inode, hash, path);
	if (rc)
		return rc;
	const struct nvmpfs_xattr_node *leaf =
		pool_block(fs->pool, path->step[0].blk);
	size_t pos = 0, at = 0;
	bool damaged;
	struct nvmpfs_xattr_rec *rec;
	while ((rec = xleaf_next(leaf, &pos, &damaged))) {
		if (xrec_is(rec, hash, name, len)) {
			*rec_out = rec;
			if (off_out)
				*off_out = at;
			return 0;
		}
		at = pos;
	}
	return damaged ? xtree_damaged(fs, inode, "leaf record") : -ENODATA;
}

int xrec_read_value(struct nvfs *fs, const struct nvmpfs_xattr_rec *rec,
		    void *buf)
{
	const uint8_t *payload = xrec_payload(rec);
	if (!(rec->flags & NVMPFS_XATTR_REC_EXTERNAL)) {
		memcpy(buf, payload, rec->value_len);
		return 0;
	}
	size_t left = rec->value_len;
	for (size_t i = 0; left > 0; i++) {
		uint64_t blk;
		memcpy(&blk, payload + i * sizeof(blk), sizeof(blk));
		if (!xblock_in_data(fs, blk))
			return -EIO;
		size_t n = left < NVMPFS_BLOCK_SIZE ? left : NVMPFS_BLOCK_SIZE;
		memcpy((uint8_t *)buf + i * NVMPFS_BLOCK_SIZE,
		       pool_block(fs->pool, blk), n);
		left -= n;
	}
	return 0;
}

/* ---- the walk in hash order ---- */

struct walk {
	struct nvfs *fs;
	const struct nvmpfs_inode *inode;
	xrec_visit_cb visit;
	void *arg;
	uint64_t budget;  /* nodes a sound tree of this inode can have */
};

static int compare_hash(const void *a, const void *b)
{
	const struct nvmpfs_xattr_rec *x = *(const struct nvmpfs_xattr_rec *const *)a;
	const struct nvmpfs_xattr_rec *y = *(const struct nvmpfs_xattr_rec *const *)b;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static int walk_leaf(struct walk *w, const struct nvmpfs_xattr_node *leaf)
{
	const struct nvmpfs_xattr_rec *recs[NVMPFS_XATTR_ROOM / XREC_HEADER];
	size_t pos = 0, n = 0;
	bool damaged;
	const struct nvmpfs_xattr_rec *rec;
	while (n < sizeof(recs) / sizeof(recs[0]) &&
	       (rec = xleaf_next(leaf, &pos, &damaged)))
		recs[n++] = rec;
	if (damaged)
		return xtree_damaged(w->fs, w->inode, "leaf record");
	qsort(recs, n, sizeof(recs[0]), compare_hash);
	for (size_t i = 0; i < n; i++) {
		int rc = w->visit(w->arg, recs[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int walk_node(struct walk *w, uint64_t blk, int level)
{
	const struct nvmpfs_xattr_node *node = xnode_get(w->fs, blk, level);
	/* A damaged tree may point twice at a node: bounded by the blocks. */
	if (!node || w->budget-- == 0)
		return xtree_damaged(w->fs, w->inode, "tree node");
	if (node->level == 0)
		return walk_leaf(w, node);
	for (unsigned i = 0; i < node->count; i++) {
		int rc = walk_node(w, xnode_entries(node)[i].child,
				   (int)node->level - 1);
		if (rc)
			return rc;
	}
	return 0;
}

int xtree_each(struct nvfs *fs, const struct nvmpfs_inode *inode,
	       xrec_visit_cb visit, void *arg)
{
	if (!inode->xattr_block)
		return 0;
	uint64_t budget = inode->blocks < fs->sb.block_count ? inode->blocks
							      : fs->sb.block_count;
	struct walk w = { fs, inode, visit, arg, budget + 1 };
	return walk_node(&w, inode->xattr_block, -1);
}
