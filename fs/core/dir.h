/*
 * Directories: entries in 64-byte slots of the directory's blocks, and an
 * in-memory name index per directory (in its icache entry).  Every change
 * comes in two steps around tx_ready: dir_prepare_* finds the room, takes
 * blocks and logs what will change (it may fail); dir_apply_* changes it
 * (it may not).  The caller holds the directory's lock exclusively for
 * changes, at least shared for lookups.
 */
#ifndef NVMPFS_DIR_H
#define NVMPFS_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bmap.h"

struct nvfs;
struct tx;
struct icache_ent;
struct dir_index;

/* A name a directory entry may have (not ".", "..", no '/', no NUL). */
bool dir_valid_name(const char *name, size_t len);

struct dir_hit {
	uint64_t ino;
	unsigned type;
	uint64_t slot;
};
int dir_find(struct nvfs *fs, struct icache_ent *dent, const char *name,
	     size_t len, struct dir_hit *hit);

struct dir_add {
	uint64_t slot;
	unsigned nslots;
	bool new_block;          /* the entry goes in a block added at the end */
	uint64_t lblk;
	struct map_plan plan;
};
int dir_prepare_add(struct tx *tx, struct icache_ent *dent, size_t name_len,
		    struct dir_add *a);
void dir_apply_add(struct nvfs *fs, struct icache_ent *dent,
		   struct dir_add *a, const char *name, size_t len,
		   uint64_t ino, unsigned type);
/* After a prepare whose transaction is abandoned. */
void dir_cancel_add(struct dir_add *a);

/*
 * An entry published by one store, without a transaction (naming.h); the
 * caller holds the directory's lock exclusively throughout.
 * dir_find_room: free slots for the name in a block the directory has
 * (-ENOENT when it would have to grow: use a transaction then).
 * dir_write_body: the entry but its ino, flushed; nobody reads it yet.
 * dir_publish, after the body is durable: the ino in one 8-byte store and
 * the directory's times, flushed; the index learns the name.
 */
int dir_find_room(struct nvfs *fs, struct icache_ent *dent, size_t name_len,
		  uint64_t *slot);
void dir_write_body(struct nvfs *fs, struct icache_ent *dent, uint64_t slot,
		    const char *name, size_t len, unsigned type);
void dir_publish(struct nvfs *fs, struct icache_ent *dent, uint64_t slot,
		 const char *name, size_t len, uint64_t ino);
/*
 * Recovery of a create by one store (naming.h).  dir_slot_verdict: what
 * the entry in slot of directory dino says of a create of ino --
 * SLOT_NAMES: it names ino; SLOT_FREE: its ino is 0; SLOT_FOREIGN: no
 * block there, or another ino (no create left that: a damaged hint).
 * dir_clear_slot: zeroes the create's entry there and the stray bytes of
 * free slots in its block; true if anything changed.
 */
enum slot_verdict { SLOT_NAMES, SLOT_FREE, SLOT_FOREIGN };
enum slot_verdict dir_slot_verdict(struct nvfs *fs, uint64_t dino,
				   uint64_t slot, uint64_t ino);
bool dir_clear_slot(struct nvfs *fs, uint64_t dino, uint64_t slot);

int dir_prepare_remove(struct tx *tx, struct icache_ent *dent, uint64_t slot);
void dir_apply_remove(struct nvfs *fs, struct icache_ent *dent, uint64_t slot);
int dir_prepare_retarget(struct tx *tx, struct icache_ent *dent,
			 uint64_t slot);
void dir_apply_retarget(struct nvfs *fs, struct icache_ent *dent,
			uint64_t slot, uint64_t ino, unsigned type);

bool dir_is_empty(struct nvfs *fs, struct icache_ent *dent);
void dir_index_free(struct dir_index *idx);

typedef int (*dir_visit_cb)(void *arg, const struct nvmpfs_dirent *d,
			    uint64_t slot);
int dir_walk(struct nvfs *fs, const struct nvmpfs_inode *dir,
	     uint64_t from_slot, dir_visit_cb cb, void *arg);

#endif
