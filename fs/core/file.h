/*
 * File data shared between read.c, write.c and space.c: checks, block
 * arithmetic, bad ranges and access times.
 */
#ifndef NVMPFS_FILE_H
#define NVMPFS_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"

#define BS NVMPFS_BLOCK_SIZE
/* Largest file: what a tree of the greatest height maps. */
#define MAX_FILE_SIZE ((1ull << (NVMPFS_MAP_SHIFT * NVMPFS_MAP_MAX_HEIGHT)) * BS)

static inline uint64_t block_of(uint64_t off) { return off / BS; }
static inline uint64_t blocks_to_cover(uint64_t bytes) { return (bytes + BS - 1) / BS; }

/* A regular file's inode, or NULL with *rc = -ENOENT/-EISDIR/-EINVAL. */
struct nvmpfs_inode *file_live(struct nvfs *fs, uint64_t ino, int *rc);

/* Records a block that failed its checksum: counted, logged, listed. */
void file_note_bad_block(struct nvfs *fs, struct icache_ent *ent,
			 uint64_t lblk, uint64_t pblk, const char *found_by);
/* Whole blocks just rewritten are bad no more. */
void file_forget_healed(struct icache_ent *ent, uint64_t off, uint64_t len);

/* Whether a read should move atime (relatime by default). */
bool file_atime_wanted(const struct nvfs *fs, const struct nvmpfs_inode *inode);
/* Sets atime to now, lazily (flushed, durable at a later drain). */
void file_touch_atime(struct nvfs *fs, struct nvmpfs_inode *inode);

/*
 * Fills [off, off+len) of a file (held exclusively) and makes it durable:
 * with buf's bytes, or zeros when buf is NULL; with ALLOCATE_ONLY only the
 * holes are filled (with zeros) and mapped blocks are left alone.  With
 * grow_size the size follows the end of what is filled.  ctime (and mtime
 * but for ALLOCATE_ONLY) move.  Returns bytes done (maybe short at ENOSPC)
 * or a negative errno if none.
 */
enum fill_mode { FILL_DATA, FILL_ZEROS, FILL_ALLOCATE_ONLY };
int64_t file_fill(struct nvfs *fs, struct icache_ent *ent,
		  struct nvmpfs_inode *inode, const uint8_t *buf,
		  uint64_t off, uint64_t len, enum fill_mode mode,
		  bool grow_size);

/* Zeroes mapped bytes at or past EOF (recovery, after a rollback). */
int file_zero_past_eof(struct nvfs *fs, uint64_t ino);
/* Finishes an interrupted truncate (recovery; the inode is not shared). */
int file_finish_truncate(struct nvfs *fs, uint64_t ino);
/* Changes the size of a file held exclusively. */
int file_truncate(struct nvfs *fs, struct icache_ent *ent, uint64_t size);

#endif
