/* Whole-file-system answers: statfs, counters, the mount's settings. */
#include <string.h>

#include "fs.h"

/*
 * Map nodes that mapping n data blocks may need: a leaf per 512, a node
 * per 512 leaves, and so on up, plus a root.  statfs leaves them out of
 * the available space (f_bavail, what df shows), so that what it calls
 * available can really be allocated as file data; f_bfree is every free
 * block.
 */
uint64_t nvfs_map_overhead(uint64_t n)
{
	uint64_t nodes = 0;
	for (uint64_t level = (n + 511) / 512; level > 1; level = (level + 511) / 512)
		nodes += level;
	return nodes + 2;
}

int nvfs_statfs(struct nvfs *fs, struct statvfs *st)
{
	memset(st, 0, sizeof(*st));
	uint64_t free_blocks = alloc_free_blocks(fs);
	uint64_t overhead = nvfs_map_overhead(free_blocks);
	uint64_t usable = free_blocks > overhead ? free_blocks - overhead : 0;
	uint64_t free_inodes = ialloc_free_count(fs);
	st->f_bsize = NVMPFS_BLOCK_SIZE;
	st->f_frsize = NVMPFS_BLOCK_SIZE;
	st->f_blocks = fs->sb.block_count - fs->sb.data_start;
	st->f_bfree = free_blocks;
	st->f_bavail = usable;
	st->f_files = fs->sb.inode_count - 1;
	st->f_ffree = free_inodes;
	st->f_favail = free_inodes;
	memcpy(&st->f_fsid, fs->sb.uuid, sizeof(st->f_fsid));
	st->f_namemax = NVMPFS_MAX_NAME;
	if (fs_is_read_only(fs))
		st->f_flag |= ST_RDONLY;
	return 0;
}

int nvfs_atime_mode(struct nvfs *fs)
{
	return fs->atime_mode;
}

bool nvfs_acls_disabled(struct nvfs *fs)
{
	return fs->acl_disabled;
}

void nvfs_enable_acls(struct nvfs *fs)
{
	fs->acl_on = true;
}

bool nvfs_checksums_on(struct nvfs *fs)
{
	return fs->csum_on;
}

void nvfs_set_log(struct nvfs *fs, void (*log)(const char *msg))
{
	fs->log = log;
}

void nvfs_say(struct nvfs *fs, const char *msg)
{
	nvfs_log(fs, "%s", msg);
}

void nvfs_identity(struct nvfs *fs, struct nvfs_identity *id)
{
	pthread_mutex_lock(&fs->super_lock);
	memcpy(id->uuid, fs->sb.uuid, sizeof(id->uuid));
	id->block_count = fs->sb.block_count;
	id->pool_size = fs->pool->size;
	id->epoch = fs->sb.mirror_epoch;
	id->generation = fs->sb.generation;
	id->epoch_tag = fs->sb.epoch_tag;
	id->repl_token = fs->sb.repl_token;
	id->oos_start = fs->sb.sync_start;
	id->oos_blocks = fs->sb.sync_blocks;
	pthread_mutex_unlock(&fs->super_lock);
}

const uint8_t *nvfs_pool_bytes(struct nvfs *fs)
{
	return fs->pool->base;
}

uint64_t nvfs_last_seq(struct nvfs *fs)
{
	return pool_last_seq(fs->pool);
}

uint64_t nvfs_thread_seq(void)
{
	return pool_thread_seq();
}

const char *nvfs_pool_mode(struct nvfs *fs)
{
	return pool_mode_name(fs->pool);
}

void nvfs_get_stats(struct nvfs *fs, struct nvfs_stats *st)
{
	const struct nvfs_stats *s = &fs->stats;
#define LOAD(f) st->f = __atomic_load_n(&s->f, __ATOMIC_RELAXED)
	LOAD(background_drains);
	LOAD(writes);
	LOAD(bytes_written);
	LOAD(fsyncs);
	LOAD(sync_points);
	LOAD(sync_drains);
	LOAD(ranges_flushed);
	LOAD(bytes_flushed);
	LOAD(blocks_verified);
	LOAD(verify_failures);
	LOAD(blocks_healed);
	LOAD(sync_ns);
#undef LOAD
	st->drains = __atomic_load_n(&fs->pool->drains, __ATOMIC_RELAXED);
	st->commits = __atomic_load_n(&fs->j.commits, __ATOMIC_RELAXED);
	pthread_mutex_lock(&fs->pool->sync_mu);
	st->syncs = fs->pool->syncs;
	pthread_mutex_unlock(&fs->pool->sync_mu);
	st->hot_extents = intent_hot_extents(fs);
}
