/*
 * The extended-attribute store, as the rest of the core sees it (the
 * system calls are in nvfs.h).  The caller holds the inode's lock.
 */
#ifndef NVMPFS_XATTR_H
#define NVMPFS_XATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvmpfs/layout.h"

struct nvfs;
struct tx;

/* Whether the inode has a security.capability attribute. */
bool xattr_has_capability(struct nvfs *fs, const struct nvmpfs_inode *inode);
/* Removes it, inside the caller's transaction. */
int xattr_remove_capability(struct tx *tx, struct nvmpfs_inode *inode);

/* Copies an attribute's value; -ENODATA, -ERANGE. */
ssize_t xattr_find(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   const char *name, void *value, size_t size);
/*
 * The inherited ACLs of a new inode, inside the caller's transaction,
 * after tx_ready (the inode is initialised and logged).
 */
int xattr_init_acls(struct tx *tx, struct nvmpfs_inode *inode,
		    const void *access, size_t access_size, const void *dflt,
		    size_t dflt_size);
/* After a chmod: the access ACL follows the mode (its own transaction). */
int xattr_acl_chmod(struct nvfs *fs, struct nvmpfs_inode *inode);

/* ---- fsck (xattr_check.c) ---- */

/* The checker's side of an inode's xattr check. */
struct xattr_checker {
	struct nvfs *fs;
	bool repair;
	/* Claims a block for the inode; false (reported) if it may not. */
	bool (*claim)(void *arg, uint64_t blk, const char *what);
	/* Gives back a claimed block that the repair dropped. */
	void (*unclaim)(void *arg, uint64_t blk);
	/* A problem (about this inode), fixed or not. */
	void (*problem)(void *arg, bool fixed, const char *msg);
	/* Pool bytes a repair changed. */
	void (*fixed)(void *arg, const void *p, size_t len);
	void *arg;
};

/* Checks an inode's xattr tree and, with repair, mends it. */
void xattr_check(const struct xattr_checker *xc, struct nvmpfs_inode *inode);

/*
 * Calls visit for every block of an inode's xattr tree, nodes and value
 * blocks; when visit returns false for a node, what it holds is skipped.
 */
void xattr_walk_blocks(struct nvfs *fs, const struct nvmpfs_inode *inode,
		       bool (*visit)(void *arg, uint64_t blk), void *arg);
/*
 * The same, each node visited after what it holds (its return value then
 * skips nothing): for a visit that frees blocks (bmap_walk_nodes_last).
 */
void xattr_walk_blocks_nodes_last(struct nvfs *fs,
				  const struct nvmpfs_inode *inode,
				  bool (*visit)(void *arg, uint64_t blk),
				  void *arg);

#endif
