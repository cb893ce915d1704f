/*
 * mkfs: lays out an empty file system.  The old superblocks are destroyed
 * first and the new ones written last, so an interrupted format leaves a
 * pool that is plainly "not an nvmpfs pool", never a half-made one that
 * looks valid.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "format.h"
#include "journal.h"

#define ZERO_STEP (4ull << 20)

static void zero_region(struct pool *pool, uint64_t from_blk, uint64_t to_blk,
			format_progress_cb progress, void *arg,
			uint64_t *done, uint64_t total)
{
	uint64_t off = from_blk * NVMPFS_BLOCK_SIZE;
	uint64_t end = to_blk * NVMPFS_BLOCK_SIZE;
	while (off < end) {
		uint64_t n = end - off < ZERO_STEP ? end - off : ZERO_STEP;
		pool_zero(pool, off, n);
		pool_drain(pool);
		off += n;
		*done += n;
		if (progress)
			progress(arg, *done, total);
	}
}

static void mark_metadata_used(struct pool *pool, const struct nvmpfs_super *sb)
{
	uint64_t *map = pool_block(pool, sb->bitmap_start);
	for (uint64_t b = 0; b < sb->data_start; b++)
		map[b / 64] |= 1ull << (b % 64);
	/* Bits past the last block stay set: they are never free. */
	uint64_t words = sb->bitmap_blocks * NVMPFS_BLOCK_SIZE / 8;
	for (uint64_t b = sb->block_count; b < words * 64; b++)
		map[b / 64] |= 1ull << (b % 64);
	pool_flush(pool, sb->bitmap_start * NVMPFS_BLOCK_SIZE,
		   sb->bitmap_blocks * NVMPFS_BLOCK_SIZE);
}

static void make_root(struct pool *pool, const struct nvmpfs_super *sb,
		      const struct mkfs_params *params)
{
	uint8_t *table = pool_block(pool, sb->inode_start);
	struct nvmpfs_inode *root =
		(void *)(table + NVMPFS_ROOT_INO * NVMPFS_INODE_SIZE);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(root, 0, sizeof(*root));
	root->mode = S_IFDIR | (params->root_mode ? params->root_mode : 0755);
	root->nlink = 2;
	root->uid = params->root_uid;
	root->gid = params->root_gid;
	root->atime.sec = root->mtime.sec = root->ctime.sec = root->btime.sec =
		ts.tv_sec;
	root->atime.nsec = root->mtime.nsec = root->ctime.nsec =
		root->btime.nsec = (uint32_t)ts.tv_nsec;
	root->generation = 1;
	root->parent = NVMPFS_ROOT_INO;
	pool_flush(pool, pool_off(pool, root), sizeof(*root));
}

int format_pool(struct pool *pool, const struct mkfs_params *params,
		format_progress_cb progress, void *arg, char *err,
		size_t errlen)
{
	struct nvmpfs_super sb;
	uint64_t blocks = pool->size / NVMPFS_BLOCK_SIZE;
	if (pool->size < NVMPFS_MIN_POOL_SIZE ||
	    super_geometry(&sb, blocks, params) < 0) {
		snprintf(err, errlen,
			 "%s: %llu bytes is too small for an nvmpfs pool with "
			 "these parameters (at least %llu MiB)", pool->path,
			 (unsigned long long)pool->size,
			 (unsigned long long)(NVMPFS_MIN_POOL_SIZE >> 20));
		return -1;
	}
	pool_zero(pool, 0, 2 * NVMPFS_BLOCK_SIZE);
	pool_drain(pool);

	uint64_t done = 0, total = (sb.data_start - 2) * NVMPFS_BLOCK_SIZE;
	zero_region(pool, 2, sb.data_start, progress, arg, &done, total);
	journal_format(pool, &sb);
	mark_metadata_used(pool, &sb);
	make_root(pool, &sb, params);
	pool_drain(pool);

	if (getrandom(&sb.epoch_tag, sizeof(sb.epoch_tag), 0) !=
	    (ssize_t)sizeof(sb.epoch_tag))
		sb.epoch_tag = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	if (getrandom(sb.uuid, sizeof(sb.uuid), 0) != (ssize_t)sizeof(sb.uuid))
		clock_gettime(CLOCK_REALTIME, (struct timespec *)sb.uuid);
	sb.mkfs_time = (uint64_t)time(NULL);
	sb.state = NVMPFS_STATE_CLEAN;
	super_store(pool, &sb);
	return 0;
}
