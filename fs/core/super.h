/* Superblock: geometry, validation, and the two-copy update. */
#ifndef NVMPFS_SUPER_H
#define NVMPFS_SUPER_H

#include <stddef.h>
#include <stdint.h>

#include "nvmpfs/layout.h"
#include "pool.h"

struct mkfs_params {
	uint64_t inode_count;     /* 0: one inode per 16 KiB of pool */
	uint64_t journal_blocks;  /* 0: sized from the pool */
	uint32_t root_uid, root_gid;
	uint32_t root_mode;       /* permission bits of the root directory */
};

/* Fills the geometry of a pool of block_count blocks; -1 if too small. */
int super_geometry(struct nvmpfs_super *sb, uint64_t block_count,
		   const struct mkfs_params *params);

/* Checksum a superblock as stored. */
uint64_t super_checksum(const struct nvmpfs_super *sb);

/*
 * Reads the newest valid superblock copy into *out.  Returns 0, or -1 with a
 * message naming the pool and what is wrong (foreign file, other version,
 * both copies damaged, geometry that does not fit the file).
 */
int super_load(const struct pool *pool, struct nvmpfs_super *out,
	       char *err, size_t errlen);

/* Writes sb (checksummed, generation bumped) to copy A then copy B. */
void super_store(struct pool *pool, struct nvmpfs_super *sb);
/* A fresh random value for sb->repl_token (never 0). */
void super_new_repl_token(struct nvmpfs_super *sb);

/* Which copies are valid: bit 0 = A, bit 1 = B. */
int super_valid_copies(const struct pool *pool);

#endif
