/*
 * The extended-attribute store, as the rest of the core sees it (the
 * system calls are in nvfs.h; ACL helpers in fs.h).  Everything runs with
 * fs->lock held.
 */
#ifndef NVMPFS_XATTR_H
#define NVMPFS_XATTR_H

#include "fs.h"

/* Whether the inode has a security.capability attribute. */
bool xattr_has_capability(struct nvfs *fs, const struct nvmpfs_inode *inode);
/* Removes it, inside the caller's transaction. */
int xattr_remove_capability(struct nvfs *fs, struct nvmpfs_inode *inode);

/*
 * A dying inode's attributes, inside the caller's transaction: frees as
 * much as the transaction has room for; 0 when all are gone, -EAGAIN to
 * commit and call again.
 */
int xattr_release_some(struct nvfs *fs, struct nvmpfs_inode *inode);

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

#endif
