/*
 * What the mirror's pool is, as the mirror tells a primary: its identity
 * (superblock) and its state.
 *
 *   blank     made by mkfs.nvmpfs and never used: the superblock says
 *             clean, epoch 0, no role; no inode but the root directory is
 *             in use, the root is empty (size 0, no blocks, no xattrs) and
 *             no block of the data region is marked in use.  Nothing can
 *             be lost by overwriting it, so any primary of its size may
 *             take it.
 *   demoted   its superblock has NVMPFS_ROLE_DEMOTED (nvmpfsctl demote):
 *             its contents are to be thrown away; any primary of its size
 *             may take it.  DEMOTED wins over PROMOTED (demote comes after).
 *   promoted  NVMPFS_ROLE_PROMOTED without DEMOTED: it is a primary now;
 *             nvmpfs-mirror refuses to overwrite it.
 *   replica   anything else: a replica of the pool its superblock names.
 */
#ifndef NVMPFS_MIRROR_POOL_VIEW_H
#define NVMPFS_MIRROR_POOL_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "pool.h"
#include "proto.h"

struct mirror_pool_view {
	struct nvmpfs_super sb;
	enum nvmr_pool_state state;  /* as HELLO_REPLY says it */
	bool promoted;               /* state is REPLICA then */
};

/* Loads the superblock and decides the state; -1 with a message. */
int mirror_pool_view(const struct pool *pool, struct mirror_pool_view *v,
		     char *err, size_t errlen);
bool mirror_pool_is_blank(const struct pool *pool,
			  const struct nvmpfs_super *sb);
void mirror_pool_id(const struct pool *pool, const struct nvmpfs_super *sb,
		    struct nvmr_pool_id *id);
/* "blank", "replica", "demoted" or "promoted". */
const char *mirror_state_name(const struct mirror_pool_view *v);
/* A uuid as 8-4-4-4-12 hex digits (37 bytes with the NUL). */
void mirror_format_uuid(const uint8_t uuid[16], char out[37]);

#endif
