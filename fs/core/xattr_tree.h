/*
 * The B+tree that holds an inode's extended attributes (format and
 * invariants in nvmpfs/layout.h).  xattr_tree.c reads it, xattr_update.c
 * changes it, xattr_check.c checks it for fsck; xattr.c builds the system
 * calls on them.  The caller holds the inode's lock (exclusively for
 * changes).
 *
 * Readers trust nothing: a node is used only once its block number, magic,
 * level and counts make sense, a record only once it lies inside its
 * leaf; anything else is reported as -EIO (and logged), never followed.
 */
#ifndef NVMPFS_XATTR_TREE_H
#define NVMPFS_XATTR_TREE_H

#include "fs.h"

#define XREC_HEADER sizeof(struct nvmpfs_xattr_rec)

static inline size_t xalign8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Where a record's payload starts, after its name. */
static inline size_t xrec_payload_off(size_t name_len)
{
	return XREC_HEADER + xalign8(name_len);
}

/* Blocks of an external value of len bytes. */
static inline size_t xvalue_blocks(size_t len)
{
	return (len + NVMPFS_BLOCK_SIZE - 1) / NVMPFS_BLOCK_SIZE;
}

static inline bool xvalue_is_external(size_t len)
{
	return len > NVMPFS_XATTR_INLINE_MAX;
}

/* Bytes of the payload of a value of len bytes. */
static inline size_t xpayload_len(size_t len)
{
	return xvalue_is_external(len) ? xvalue_blocks(len) * sizeof(uint64_t)
				       : len;
}

/* Bytes of a whole record for a name and value of these sizes. */
static inline size_t xrec_len(size_t name_len, size_t value_len)
{
	return xalign8(xrec_payload_off(name_len) + xpayload_len(value_len));
}

static inline uint8_t *xrec_payload(const struct nvmpfs_xattr_rec *rec)
{
	return (uint8_t *)rec + xrec_payload_off(rec->name_len);
}

static inline struct nvmpfs_xattr_entry *xnode_entries(
	const struct nvmpfs_xattr_node *node)
{
	return (struct nvmpfs_xattr_entry *)(node + 1);
}

static inline uint8_t *xleaf_bytes(const struct nvmpfs_xattr_node *leaf)
{
	return (uint8_t *)(leaf + 1);
}

uint64_t xattr_hash(const char *name, size_t len);

/* Whether blk may hold a node or value (inside the data region). */
bool xblock_in_data(const struct nvfs *fs, uint64_t blk);

/*
 * The node in block blk if its header is sound, at `level` (any level
 * when level < 0); NULL otherwise.
 */
struct nvmpfs_xattr_node *xnode_get(const struct nvfs *fs, uint64_t blk,
				    int level);

/*
 * Whether a record's header fits the `room` bytes it may use: length,
 * alignment, name and payload sizes, kind of value.
 */
bool xrec_shape_ok(const struct nvmpfs_xattr_rec *rec, size_t room);

/* The record at *pos of a leaf (then *pos moves past it); NULL at the end. */
struct nvmpfs_xattr_rec *xleaf_next(const struct nvmpfs_xattr_node *leaf,
				    size_t *pos, bool *damaged);

static inline bool xrec_is(const struct nvmpfs_xattr_rec *rec, uint64_t hash,
			   const char *name, size_t len)
{
	return rec->hash == hash && rec->name_len == len &&
	       memcmp(rec->name, name, len) == 0;
}

/* The way from the root down to a leaf: step[level] for each level. */
struct xpath {
	unsigned height;         /* level of the root */
	struct {
		uint64_t blk;
		unsigned idx;    /* index nodes: the entry taken */
	} step[NVMPFS_XATTR_MAX_LEVEL + 1];
};

/*
 * Walks from the root to the leaf that holds (or would hold) hash.
 * Returns 0, -ENODATA when the inode has no attributes, -EIO on damage.
 */
int xtree_descend(struct nvfs *fs, const struct nvmpfs_inode *inode,
		  uint64_t hash, struct xpath *path);

/*
 * The record of a name: 0 and *rec (and *path, *off: its leaf and its
 * offset in the leaf's records), -ENODATA, or -EIO on damage.
 */
int xtree_find(struct nvfs *fs, const struct nvmpfs_inode *inode,
	       const char *name, struct nvmpfs_xattr_rec **rec,
	       struct xpath *path, size_t *off);

/* Copies a record's value (size at least value_len); -EIO on damage. */
int xrec_read_value(struct nvfs *fs, const struct nvmpfs_xattr_rec *rec,
		    void *buf);

/*
 * Calls visit for every record, in hash order; stops at the first that
 * returns non-zero and returns that.  -EIO on damage.
 */
typedef int (*xrec_visit_cb)(void *arg, const struct nvmpfs_xattr_rec *rec);
int xtree_each(struct nvfs *fs, const struct nvmpfs_inode *inode,
	       xrec_visit_cb visit, void *arg);

/* Logs that an inode's tree is damaged (what: where); returns -EIO. */
int xtree_damaged(struct nvfs *fs, const struct nvmpfs_inode *inode,
		  const char *what);

/* ---- xattr_update.c: changes, inside the caller's transaction ---- */

#define XOP_MAX_FREES 64

/*
 * One change of an inode's tree.  Blocks it drops are freed by
 * xop_finish, after every allocation of the change (see layout.h).
 */
struct xop {
	struct nvfs *fs;
	struct tx *tx;
	struct nvmpfs_inode *inode;   /* logged by xop_init */
	struct {
		uint64_t start, count;
	} frees[XOP_MAX_FREES];
	unsigned nfrees;
};

/* Logs the inode and makes the records so far durable (tx_ready). */
int xop_init(struct xop *op, struct tx *tx, struct nvmpfs_inode *inode);
int xop_finish(struct xop *op);

/* Adds an attribute the tree does not hold. */
int xtree_insert(struct xop *op, const char *name, const void *value,
		 size_t size);
/*
 * Removes an attribute.  With prune false a leaf left empty stays (for a
 * replace: the insert that follows fills it again).
 */
int xtree_remove(struct xop *op, const char *name, bool prune);

#endif
