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

#endif
