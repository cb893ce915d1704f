/* Superblock geometry, validation and the failure-safe two-copy update. */
#include <stdbool.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "journal.h"
#include "super.h"

#define BLOCKS_FOR(bytes) (((bytes) + NVMPFS_BLOCK_SIZE - 1) / NVMPFS_BLOCK_SIZE)

static uint64_t default_journal_blocks(uint64_t block_count)
{
	uint64_t j = block_count / 64;          /* 1/64 of the pool ... */
	if (j < 256)
		j = 256;                        /* ... at least 1 MiB ... */
	if (j > 4096)
		j = 4096;                       /* ... at most 16 MiB */
	return j;
}

int super_geometry(struct nvmpfs_super *sb, uint64_t block_count,
		   const struct mkfs_params *params)
{
	memset(sb, 0, sizeof(*sb));
	sb->magic = NVMPFS_MAGIC;
	sb->version = NVMPFS_LAYOUT_VERSION;
	sb->block_size = NVMPFS_BLOCK_SIZE;
	sb->block_count = block_count;
	sb->journal_start = 2;
	sb->journal_blocks = params->journal_blocks ? params->journal_blocks
				: default_journal_blocks(block_count);
	sb->journal_lanes = journal_lanes_for(sb->journal_blocks);
	sb->journal_blocks -= sb->journal_blocks % sb->journal_lanes;
	sb->inode_count = params->inode_count ? params->inode_count
				: block_count / 4;
	if (sb->inode_count < 64)
		sb->inode_count = 64;
	sb->inode_start = sb->journal_start + sb->journal_blocks;
	uint64_t inode_blocks = BLOCKS_FOR(sb->inode_count * NVMPFS_INODE_SIZE);
	sb->bitmap_start = sb->inode_start + inode_blocks;
	sb->bitmap_blocks = BLOCKS_FOR((block_count + 7) / 8);
	sb->csum_start = sb->bitmap_start + sb->bitmap_blocks;
	sb->csum_blocks = BLOCKS_FOR(block_count * 8);
	sb->sync_start = sb->csum_start + sb->csum_blocks;
	sb->sync_blocks = sb->bitmap_blocks;
	sb->intent_start = sb->sync_start + sb->sync_blocks;
	uint64_t extents = (block_count + NVMPFS_INTENT_BLOCKS - 1) /
			   NVMPFS_INTENT_BLOCKS;
	sb->intent_blocks = BLOCKS_FOR((extents + 7) / 8);
	sb->data_start = sb->intent_start + sb->intent_blocks;
	/* Room for at least 64 data blocks, or it is not a useful pool. */
	if (sb->data_start + 64 > block_count)
		return -1;
	return 0;
}

uint64_t super_checksum(const struct nvmpfs_super *sb)
{
	return XXH3_64bits(sb, offsetof(struct nvmpfs_super, checksum));
}

static const struct nvmpfs_super *copy_at(const struct pool *pool, int which)
{
	return pool_block(pool, (uint64_t)which);
}

static int copy_is_valid(const struct nvmpfs_super *sb)
{
	return sb->magic == NVMPFS_MAGIC &&
	       sb->version == NVMPFS_LAYOUT_VERSION &&
	       sb->checksum == super_checksum(sb);
}

int super_valid_copies(const struct pool *pool)
{
	return copy_is_valid(copy_at(pool, 0)) |
	       (copy_is_valid(copy_at(pool, 1)) << 1);
}

/* The fields mkfs derives from block_count, inode_count and journal_blocks. */
static const struct {
	const char *name;
	size_t off;
} derived_fields[] = {
#define FIELD(f) { #f, offsetof(struct nvmpfs_super, f) }
	FIELD(journal_start), FIELD(inode_start), FIELD(bitmap_start),
	FIELD(bitmap_blocks), FIELD(csum_start), FIELD(csum_blocks),
	FIELD(sync_start), FIELD(sync_blocks), FIELD(intent_start),
	FIELD(intent_blocks), FIELD(data_start), FIELD(journal_blocks),
#undef FIELD
};

static uint64_t field_at(const struct nvmpfs_super *sb, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)sb + off, sizeof(v));
	return v;
}

/*
 * Names the first field that differs from what mkfs computes for this
 * geometry; false when every field is as expected.
 */
static bool report_wrong_field(const struct pool *pool,
			       const struct nvmpfs_super *sb,
			       const struct nvmpfs_super *expect, char *err,
			       size_t errlen)
{
	for (size_t i = 0; i < sizeof(derived_fields) / sizeof(derived_fields[0]);
	     i++) {
		uint64_t have = field_at(sb, derived_fields[i].off);
		uint64_t want = field_at(expect, derived_fields[i].off);
		if (have != want) {
			snprintf(err, errlen, "%s: superblock field %s is %llu, "
				 "expected %llu for %llu blocks", pool->path,
				 derived_fields[i].name, (unsigned long long)have,
				 (unsigned long long)want,
				 (unsigned long long)sb->block_count);
			return true;
		}
	}
	return false;
}

/* The fields mkfs takes as given must be in range for the file. */
static bool report_bad_input(const struct pool *pool,
			     const struct nvmpfs_super *sb, char *err,
			     size_t errlen)
{
	uint64_t file_blocks = pool->size / NVMPFS_BLOCK_SIZE;
	const char *p = pool->path;
	unsigned long long bc = sb->block_count;
	if (sb->block_size != NVMPFS_BLOCK_SIZE)
		snprintf(err, errlen, "%s: superblock field block_size is %u, "
			 "expected %u", p, sb->block_size, NVMPFS_BLOCK_SIZE);
	else if (sb->block_count > file_blocks)
		snprintf(err, errlen, "%s: superblock field block_count is %llu, "
			 "but the file holds only %llu blocks", p, bc,
			 (unsigned long long)file_blocks);
	else if (sb->inode_count < 64 || sb->inode_count > sb->block_count * 64)
		snprintf(err, errlen, "%s: superblock field inode_count is %llu, "
			 "expected 64 to %llu for %llu blocks", p,
			 (unsigned long long)sb->inode_count, bc * 64, bc);
	else if (sb->journal_blocks < 1 || sb->journal_blocks > sb->block_count)
		snprintf(err, errlen, "%s: superblock field journal_blocks is "
			 "%llu, expected 1 to %llu", p,
			 (unsigned long long)sb->journal_blocks, bc);
	else
		return false;
	return true;
}

/*
 * The geometry must be exactly what mkfs computes for this block count,
 * inode count and journal size, and fit the file: a superblock with a
 * good checksum but forged fields must not send anyone outside a region.
 */
static int geometry_fits(const struct pool *pool, const struct nvmpfs_super *sb,
			 char *err, size_t errlen)
{
	struct nvmpfs_super expect;
	struct mkfs_params p = { .inode_count = sb->inode_count,
				 .journal_blocks = sb->journal_blocks };
	if (report_bad_input(pool, sb, err, errlen))
		return -1;
	if (super_geometry(&expect, sb->block_count, &p) < 0) {
		snprintf(err, errlen, "%s: superblock fields inode_count %llu and "
			 "journal_blocks %llu leave no room for data in %llu "
			 "blocks", pool->path,
			 (unsigned long long)sb->inode_count,
			 (unsigned long long)sb->journal_blocks,
			 (unsigned long long)sb->block_count);
		return -1;
	}
	if (report_wrong_field(pool, sb, &expect, err, errlen))
		return -1;
	if (sb->journal_lanes != expect.journal_lanes) {
		snprintf(err, errlen, "%s: superblock field journal_lanes is %u, "
			 "expected %u for %llu journal blocks", pool->path,
			 sb->journal_lanes, expect.journal_lanes,
			 (unsigned long long)sb->journal_blocks);
		return -1;
	}
	return 0;
}

static void other_version(const struct pool *pool, uint32_t version,
			  char *err, size_t errlen)
{
	if (version < NVMPFS_LAYOUT_VERSION)
		snprintf(err, errlen,
			 "%s: pool has layout version %u, made by an older "
			 "nvmpfs; this nvmpfs reads version %u only: mount it "
			 "with the nvmpfs that made it, copy the files off, and "
			 "make a new pool with mkfs.nvmpfs", pool->path, version,
			 NVMPFS_LAYOUT_VERSION);
	else
		snprintf(err, errlen,
			 "%s: pool has layout version %u, made by a newer "
			 "nvmpfs; this nvmpfs reads version %u only", pool->path,
			 version, NVMPFS_LAYOUT_VERSION);
}

int super_load(const struct pool *pool, struct nvmpfs_super *out, char *err,
	       size_t errlen)
{
	const struct nvmpfs_super *a = copy_at(pool, 0), *b = copy_at(pool, 1);
	int valid = super_valid_copies(pool);
	if (!valid) {
		if (a->magic != NVMPFS_MAGIC && b->magic != NVMPFS_MAGIC)
			snprintf(err, errlen,
				 "%s: not an nvmpfs pool (no nvmpfs magic number; "
				 "make one with mkfs.nvmpfs)", pool->path);
		else if (a->version != NVMPFS_LAYOUT_VERSION &&
			 b->version != NVMPFS_LAYOUT_VERSION)
			other_version(pool, a->magic == NVMPFS_MAGIC ? a->version
							      : b->version,
				      err, errlen);
		else
			snprintf(err, errlen,
				 "%s: both superblock copies are damaged "
				 "(checksum mismatch)", pool->path);
		return -1;
	}
	const struct nvmpfs_super *best = a;
	if (valid == 2 || (valid == 3 && b->generation > a->generation))
		best = b;
	memcpy(out, best, sizeof(*out));
	return geometry_fits(pool, out, err, errlen);
}

void super_store(struct pool *pool, struct nvmpfs_super *sb)
{
	sb->generation++;
	sb->checksum = super_checksum(sb);
	for (int which = 0; which < 2; which++) {
		uint64_t off = (uint64_t)which * NVMPFS_BLOCK_SIZE;
		pool_copy(pool, off, sb, sizeof(*sb));
		pool_drain(pool);
	}
}

void super_new_repl_token(struct nvmpfs_super *sb)
{
	uint64_t t = 0;
	if (getrandom(&t, sizeof(t), 0) != (ssize_t)sizeof(t))
		t = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^
		    (uint64_t)getpid() ^ sb->repl_token;
	sb->repl_token = t ? t : 1;
}
