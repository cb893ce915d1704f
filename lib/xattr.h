/* Extended attributes as the rest of the core needs them (for ACLs). */
#ifndef NVMPFS_XATTR_H
#define NVMPFS_XATTR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvmpfs/layout.h"

struct nvfs;
struct tx;

/* Copies an attribute's value; -ENODATA, -ERANGE. */
ssize_t xattr_find(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   const char *name, void *value, size_t size);
/*
 * The inherited ACLs of a new inode, in a block nobody sees yet, taken
 * inside tx; *blk = 0 when there is nothing to store.
 */
int xattr_prepare_acls(struct tx *tx, const void *access, size_t access_size,
		       const void *dflt, size_t dflt_size, uint64_t *blk);
/* After a chmod: the access ACL follows the mode (its own transaction). */
int xattr_acl_chmod(struct nvfs *fs, struct nvmpfs_inode *inode);

#endif
