/* The set-ID rules of Linux (fs/core/setid.c). */
#ifndef NVMPFS_SETID_H
#define NVMPFS_SETID_H

#include "fs.h"

/* The S_ISUID / S_ISGID bits of inode that a change by ctx takes away. */
uint32_t setid_to_drop(const struct nvmpfs_inode *inode,
		       const struct nvfs_ctx *ctx, enum nvfs_change why);

#endif
