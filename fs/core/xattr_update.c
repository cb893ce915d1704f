/*
 * Changing an inode's xattr tree, inside the caller's transaction: a
 * record goes into its leaf in place (only the leaf's header is logged:
 * the record lands in free bytes), a full leaf or index node is split
 * copy-on-write into two new blocks and its parent gains an entry, a leaf
 * left empty leaves its parent, a root with one child gives way to it.
 * A change touches one leaf and, rarely, one node per level above it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xattr_tree.h"

/* A record of the largest kind (inline, longest name). */
#define XREC_MAX (XREC_HEADER + 256 + NVMPFS_XATTR_INLINE_MAX)

/*
 * The inode is logged and the records made durable at once: a tree change
 * logs as it goes (each later record is drained before its change).
 */
int xop_init(struct xop *op, struct tx *tx, struct nvmpfs_inode *inode)
{
	op->fs = tx->fs;
	op->tx = tx;
	op->inode = inode;
	op->nfrees = 0;
	int rc = inode_log(tx, inode);
	return rc ? rc : tx_ready(tx);
}

/* Frees what is still marked in use (a damaged tree may name a block twice). */
static int release_blocks(struct xop *op, uint64_t start, uint64_t count)
{
	for (uint64_t b = start; b < start + count; b++) {
		if (!xblock_in_data(op->fs, b) || !alloc_is_used(op->fs, b))
			continue;
		int rc = tx_free_blocks(op->tx, b, 1);
		if (rc)
			return rc;
	}
	return 0;
}

/* Drops a block from the inode now; it is freed by xop_finish. */
static int defer_free(struct xop *op, uint64_t blk)
{
	op->inode->blocks--;
	if (op->nfrees > 0) {
		uint64_t *last_start = &op->frees[op->nfrees - 1].start;
		uint64_t *last_count = &op->frees[op->nfrees - 1].count;
		if (blk == *last_start + *last_count) {
			(*last_count)++;
			return 0;
		}
	}
	if (op->nfrees == XOP_MAX_FREES)
		return -EIO; /* no change frees that many runs */
	op->frees[op->nfrees].start = blk;
	op->frees[op->nfrees].count = 1;
	op->nfrees++;
	return 0;
}

int xop_finish(struct xop *op)
{
	for (unsigned i = 0; i < op->nfrees; i++) {
		int rc = release_blocks(op, op->frees[i].start,
					op->frees[i].count);
		if (rc)
			return rc;
	}
	op->nfrees = 0;
	return 0;
}

/* A fresh, zeroed node of this level (written before anything sees it). */
static struct nvmpfs_xattr_node *new_node(struct xop *op, unsigned level,
					  uint64_t goal, uint64_t *blk)
{
	uint64_t got;
	if (tx_take_blocks(op->tx, goal, 1, blk, &got))
		return NULL;
	op->inode->blocks++;
	struct nvmpfs_xattr_node *node = pool_block(op->fs->pool, *blk);
	memset(node, 0, NVMPFS_BLOCK_SIZE);
	node->magic = level ? NVMPFS_XATTR_INDEX_MAGIC : NVMPFS_XATTR_LEAF_MAGIC;
	node->level = (uint16_t)level;
	tx_fresh(op->tx, node, NVMPFS_BLOCK_SIZE);
	return node;
}

/* ---- growing: index entries and splits ---- */

static int index_insert(struct xop *op, struct xpath *path, unsigned lvl,
			uint64_t left, uint64_t low, uint64_t right);

/* A new root above the old one, which was split into left and right. */
static int grow_root(struct xop *op, unsigned level, uint64_t left,
		     uint64_t low, uint64_t right)
{
	if (level > NVMPFS_XATTR_MAX_LEVEL)
		return -ENOSPC;
	uint64_t blk;
	struct nvmpfs_xattr_node *root = new_node(op, level, left, &blk);
	if (!root)
		return -ENOSPC;
	struct nvmpfs_xattr_entry *e = xnode_entries(root);
	e[0] = (struct nvmpfs_xattr_entry){ 0, left };
	e[1] = (struct nvmpfs_xattr_entry){ low, right };
	root->count = 2;
	op->inode->xattr_block = blk;
	return 0;
}

/* A full index node becomes two; its parent gets the second. */
static int split_index(struct xop *op, struct xpath *path, unsigned lvl,
		       uint64_t left, uint64_t low, uint64_t right)
{
	uint64_t blk = path->step[lvl].blk;
	unsigned at = path->step[lvl].idx;
	const struct nvmpfs_xattr_node *node = pool_block(op->fs->pool, blk);
	struct nvmpfs_xattr_entry all[NVMPFS_XATTR_INDEX_MAX + 1];
	unsigned n = node->count;
	memcpy(all, xnode_entries(node), (at + 1) * sizeof(all[0]));
	all[at].child = left;
	all[at + 1] = (struct nvmpfs_xattr_entry){ low, right };
	memcpy(all + at + 2, xnode_entries(node) + at + 1,
	       (n - at - 1) * sizeof(all[0]));
	n++;
	unsigned k = n / 2;
	uint64_t a_blk, b_blk;
	struct nvmpfs_xattr_node *a = new_node(op, node->level, blk, &a_blk);
	struct nvmpfs_xattr_node *b = a ? new_node(op, node->level, blk, &b_blk)
				       : NULL;
	if (!b)
		return -ENOSPC;
	memcpy(xnode_entries(a), all, k * sizeof(all[0]));
	a->count = (uint16_t)k;
	memcpy(xnode_entries(b), all + k, (n - k) * sizeof(all[0]));
	b->count = (uint16_t)(n - k);
	int rc = defer_free(op, blk);
	return rc ? rc : index_insert(op, path, lvl + 1, a_blk, all[k].low, b_blk);
}

/*
 * The child the entry path->step[lvl].idx of the index node at level lvl
 * points to was split: the entry now points to left, and (low, right)
 * comes after it.
 */
static int index_insert(struct xop *op, struct xpath *path, unsigned lvl,
			uint64_t left, uint64_t low, uint64_t right)
{
	if (lvl > path->height)
		return grow_root(op, lvl, left, low, right);
	struct nvmpfs_xattr_node *node =
		pool_block(op->fs->pool, path->step[lvl].blk);
	if (node->count >= NVMPFS_XATTR_INDEX_MAX)
		return split_index(op, path, lvl, left, low, right);
	unsigned at = path->step[lvl].idx, n = node->count;
	struct nvmpfs_xattr_entry *e = xnode_entries(node);
	int rc = tx_log(op->tx, node, sizeof(*node));
	if (rc == 0)
		rc = tx_log(op->tx, &e[at], (n - at + 1) * sizeof(*e));
	if (rc)
		return rc;
	memmove(&e[at + 2], &e[at + 1], (n - at - 1) * sizeof(*e));
	e[at].child = left;
	e[at + 1] = (struct nvmpfs_xattr_entry){ low, right };
	node->count++;
	return 0;
}

static int compare_hash(const void *a, const void *b)
{
	const struct nvmpfs_xattr_rec *x = *(const struct nvmpfs_xattr_rec *const *)a;
	const struct nvmpfs_xattr_rec *y = *(const struct nvmpfs_xattr_rec *const *)b;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/*
 * Where to cut n records sorted by hash: about half the bytes on each
 * side, never between two records of the same hash.  0 when impossible.
 */
static size_t split_point(const struct nvmpfs_xattr_rec *const *recs, size_t n,
			  size_t used)
{
	size_t k = 0, bytes = 0;
	while (k < n && bytes + recs[k]->rec_len <= used / 2)
		bytes += recs[k++]->rec_len;
	if (k == 0)
		k = 1;
	for (size_t up = k; up < n; up++)
		if (recs[up - 1]->hash != recs[up]->hash)
			return up;
	for (size_t down = k; down > 0; down--)
		if (down < n && recs[down - 1]->hash != recs[down]->hash)
			return down;
	return 0;
}

static void fill_leaf(struct nvmpfs_xattr_node *leaf,
		      const struct nvmpfs_xattr_rec *const *recs, size_t n)
{
	uint8_t *dst = xleaf_bytes(leaf);
	for (size_t i = 0; i < n; i++) {
		memcpy(dst + leaf->used, recs[i], recs[i]->rec_len);
		leaf->used += recs[i]->rec_len;
	}
	leaf->count = (uint16_t)n;
}

/* The full leaf of path becomes two new leaves (copy-on-write). */
static int split_leaf(struct xop *op, struct xpath *path)
{
	uint64_t blk = path->step[0].blk;
	const struct nvmpfs_xattr_node *leaf = pool_block(op->fs->pool, blk);
	const struct nvmpfs_xattr_rec *recs[NVMPFS_XATTR_ROOM / XREC_HEADER];
	size_t pos = 0, n = 0;
	bool damaged;
	const struct nvmpfs_xattr_rec *rec;
	while (n < sizeof(recs) / sizeof(recs[0]) &&
	       (rec = xleaf_next(leaf, &pos, &damaged)))
		recs[n++] = rec;
	if (damaged)
		return xtree_damaged(op->fs, op->inode, "leaf record");
	qsort(recs, n, sizeof(recs[0]), compare_hash);
	size_t k = split_point(recs, n, leaf->used);
	if (k == 0)
		return -ENOSPC; /* one leaf of names that share a hash */
	uint64_t a_blk, b_blk;
	struct nvmpfs_xattr_node *a = new_node(op, 0, blk, &a_blk);
	struct nvmpfs_xattr_node *b = a ? new_node(op, 0, blk, &b_blk) : NULL;
	if (!b)
		return -ENOSPC;
	fill_leaf(a, recs, k);
	fill_leaf(b, recs + k, n - k);
	int rc = defer_free(op, blk);
	return rc ? rc : index_insert(op, path, 1, a_blk, recs[k]->hash, b_blk);
}

/* Appends a record to the free bytes of a leaf. */
static int leaf_append(struct xop *op, struct nvmpfs_xattr_node *leaf,
		       const struct nvmpfs_xattr_rec *rec)
{
	int rc = tx_log(op->tx, leaf, sizeof(*leaf));
	if (rc)
		return rc;
	uint8_t *dst = xleaf_bytes(leaf) + leaf->used;
	memcpy(dst, rec, rec->rec_len);
	tx_fresh(op->tx, dst, rec->rec_len);
	leaf->used += rec->rec_len;
	leaf->count++;
	return 0;
}

static int place_record(struct xop *op, const struct nvmpfs_xattr_rec *rec)
{
	struct nvmpfs_inode *inode = op->inode;
	if (!inode->xattr_block) {
		uint64_t blk;
		struct nvmpfs_xattr_node *leaf =
			new_node(op, 0, ALLOC_AT_HINT, &blk);
		if (!leaf)
			return -ENOSPC;
		fill_leaf(leaf, &rec, 1);
		inode->xattr_block = blk;
		return 0;
	}
	/* One split always makes room; a second covers a lopsided cut. */
	for (int attempt = 0; attempt < 3; attempt++) {
		struct xpath path;
		int rc = xtree_descend(op->fs, inode, rec->hash, &path);
		if (rc)
			return rc;
		struct nvmpfs_xattr_node *leaf =
			pool_block(op->fs->pool, path.step[0].blk);
		if (leaf->used + rec->rec_len <= NVMPFS_XATTR_ROOM)
			return leaf_append(op, leaf, rec);
		if ((rc = split_leaf(op, &path)))
			return rc;
	}
	return -ENOSPC;
}

/* Puts a large value in new blocks; their numbers go to blocks[]. */
static int store_value(struct xop *op, const uint8_t *value, size_t size,
		       uint64_t *blocks)
{
	size_t n = xvalue_blocks(size);
	uint64_t goal = ALLOC_AT_HINT;
	for (size_t i = 0; i < n;) {
		uint64_t start, got;
		int rc = tx_take_blocks(op->tx, goal, n - i, &start, &got);
		if (rc)
			return rc;
		op->inode->blocks += got;
		for (uint64_t j = 0; j < got; j++)
			blocks[i + j] = start + j;
		i += got;
		goal = start + got;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t *dst = pool_block(op->fs->pool, blocks[i]);
		size_t off = i * NVMPFS_BLOCK_SIZE;
		size_t len = size - off < NVMPFS_BLOCK_SIZE ? size - off
							     : NVMPFS_BLOCK_SIZE;
		memcpy(dst, value + off, len);
		memset(dst + len, 0, NVMPFS_BLOCK_SIZE - len);
		tx_fresh(op->tx, dst, NVMPFS_BLOCK_SIZE);
	}
	return 0;
}

int xtree_insert(struct xop *op, const char *name, const void *value,
		 size_t size)
{
	size_t nl = strlen(name);
	if (nl == 0 || nl > NVMPFS_MAX_NAME || size > NVMPFS_XATTR_VALUE_MAX)
		return -EINVAL;
	_Alignas(8) uint8_t buf[XREC_MAX];
	memset(buf, 0, xrec_len(nl, size));
	struct nvmpfs_xattr_rec *rec = (void *)buf;
	rec->hash = xattr_hash(name, nl);
	rec->value_len = (uint32_t)size;
	rec->rec_len = (uint16_t)xrec_len(nl, size);
	rec->name_len = (uint8_t)nl;
	memcpy(rec->name, name, nl);
	if (xvalue_is_external(size)) {
		rec->flags = NVMPFS_XATTR_REC_EXTERNAL;
		uint64_t blocks[NVMPFS_XATTR_VALUE_MAX / NVMPFS_BLOCK_SIZE];
		int rc = store_value(op, value, size, blocks);
		if (rc)
			return rc;
		memcpy(xrec_payload(rec), blocks,
		       xvalue_blocks(size) * sizeof(blocks[0]));
	} else if (size) {
		memcpy(xrec_payload(rec), value, size);
	}
	return place_record(op, rec);
}

/* ---- shrinking ---- */

/* A root index node with a single child gives way to it. */
static int shrink_root(struct xop *op)
{
	struct nvmpfs_inode *inode = op->inode;
	for (;;) {
		struct nvmpfs_xattr_node *root =
			xnode_get(op->fs, inode->xattr_block, -1);
		if (!root)
			return xtree_damaged(op->fs, inode, "root node");
		if (root->level == 0 || root->count != 1)
			return 0;
		uint64_t child = xnode_entries(root)[0].child;
		if (!xnode_get(op->fs, child, root->level - 1))
			return xtree_damaged(op->fs, inode, "tree node");
		int rc = defer_free(op, inode->xattr_block);
		if (rc)
			return rc;
		inode->xattr_block = child;
	}
}

/* The node at level lvl of path is empty: it leaves its parent. */
static int prune_node(struct xop *op, struct xpath *path, unsigned lvl)
{
	int rc = defer_free(op, path->step[lvl].blk);
	if (rc)
		return rc;
	if (lvl == path->height) {
		op->inode->xattr_block = 0;
		return 0;
	}
	struct nvmpfs_xattr_node *parent =
		pool_block(op->fs->pool, path->step[lvl + 1].blk);
	unsigned at = path->step[lvl + 1].idx, n = parent->count;
	struct nvmpfs_xattr_entry *e = xnode_entries(parent);
	rc = tx_log(op->tx, parent, sizeof(*parent));
	if (rc == 0)
		rc = tx_log(op->tx, &e[at], (n - at) * sizeof(*e));
	if (rc)
		return rc;
	memmove(&e[at], &e[at + 1], (n - at - 1) * sizeof(*e));
	parent->count--;
	if (parent->count == 0)
		return prune_node(op, path, lvl + 1);
	return lvl + 1 == path->height ? shrink_root(op) : 0;
}

/* Hands a record's value blocks to free (after the change's allocations). */
static int drop_value(struct xop *op, const struct nvmpfs_xattr_rec *rec)
{
	if (!(rec->flags & NVMPFS_XATTR_REC_EXTERNAL))
		return 0;
	const uint8_t *payload = xrec_payload(rec);
	for (size_t i = 0; i < xvalue_blocks(rec->value_len); i++) {
		uint64_t blk;
		memcpy(&blk, payload + i * sizeof(blk), sizeof(blk));
		int rc = defer_free(op, blk);
		if (rc)
			return rc;
	}
	return 0;
}

int xtree_remove(struct xop *op, const char *name, bool prune)
{
	struct nvmpfs_xattr_rec *rec;
	struct xpath path;
	size_t off;
	int rc = xtree_find(op->fs, op->inode, name, &rec, &path, &off);
	if (rc == 0)
		rc = drop_value(op, rec);
	if (rc)
		return rc;
	struct nvmpfs_xattr_node *leaf = pool_block(op->fs->pool, path.step[0].blk);
	uint8_t *bytes = xleaf_bytes(leaf);
	size_t len = rec->rec_len;
	rc = tx_log(op->tx, leaf, sizeof(*leaf));
	if (rc == 0)
		rc = tx_log(op->tx, bytes + off, leaf->used - off);
	if (rc)
		return rc;
	memmove(bytes + off, bytes + off + len, leaf->used - off - len);
	leaf->used -= (uint32_t)len;
	leaf->count--;
	return leaf->count == 0 && prune ? prune_node(op, &path, 0) : 0;
}
