/* The mirror's pool: identity and state (see pool_view.h). */
#include <stdio.h>
#include <string.h>

#include "pool_view.h"
#include "super.h"

static const struct nvmpfs_inode *inode_at(const struct pool *pool,
					   const struct nvmpfs_super *sb,
					   uint64_t ino)
{
	const uint8_t *table = pool_block(pool, sb->inode_start);
	return (const void *)(table + ino * NVMPFS_INODE_SIZE);
}

static bool root_is_empty(const struct pool *pool,
			  const struct nvmpfs_super *sb)
{
	const struct nvmpfs_inode *root = inode_at(pool, sb, NVMPFS_ROOT_INO);
	return !root->size && !root->map && !root->xattr_block && !root->blocks;
}

static bool only_root_in_use(const struct pool *pool,
			     const struct nvmpfs_super *sb)
{
	for (uint64_t ino = 0; ino < sb->inode_count; ino++)
		if (ino != NVMPFS_ROOT_INO && inode_at(pool, sb, ino)->mode)
			return false;
	return true;
}

static bool no_data_block_used(const struct pool *pool,
			       const struct nvmpfs_super *sb)
{
	const uint64_t *map = pool_block(pool, sb->bitmap_start);
	for (uint64_t b = sb->data_start; b < sb->block_count; b++) {
		if (b % 64 == 0 && b + 64 <= sb->block_count) {
			if (map[b / 64])
				return false;
			b += 63;
			continue;
		}
		if (map[b / 64] & (1ull << (b % 64)))
			return false;
	}
	return true;
}

bool mirror_pool_is_blank(const struct pool *pool,
			  const struct nvmpfs_super *sb)
{
	/* Cheapest first: the inode table of a big pool is big. */
	return sb->state == NVMPFS_STATE_CLEAN && sb->mirror_epoch == 0 &&
	       sb->role_flags == 0 && root_is_empty(pool, sb) &&
	       no_data_block_used(pool, sb) && only_root_in_use(pool, sb);
}

int mirror_pool_view(const struct pool *pool, struct mirror_pool_view *v,
		     char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	if (super_load(pool, &v->sb, err, errlen) < 0)
		return -1;
	if (v->sb.role_flags & NVMPFS_ROLE_DEMOTED)
		v->state = NVMR_POOL_DEMOTED;
	else if (mirror_pool_is_blank(pool, &v->sb))
		v->state = NVMR_POOL_BLANK;
	else
		v->state = NVMR_POOL_REPLICA;
	v->promoted = v->state == NVMR_POOL_REPLICA &&
		      (v->sb.role_flags & NVMPFS_ROLE_PROMOTED);
	return 0;
}

void mirror_pool_id(const struct pool *pool, const struct nvmpfs_super *sb,
		    struct nvmr_pool_id *id)
{
	memcpy(id->uuid, sb->uuid, sizeof(id->uuid));
	id->block_count = sb->block_count;
	id->pool_size = pool->size;
	id->epoch = sb->mirror_epoch;
	id->generation = sb->generation;
	id->epoch_tag = sb->epoch_tag;
	id->repl_token = sb->repl_token;
}

const char *mirror_state_name(const struct mirror_pool_view *v)
{
	if (v->promoted)
		return "promoted";
	switch (v->state) {
	case NVMR_POOL_BLANK: return "blank";
	case NVMR_POOL_DEMOTED: return "demoted";
	case NVMR_POOL_REPLICA: break;
	}
	return "replica";
}

void mirror_format_uuid(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
		 u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
}
