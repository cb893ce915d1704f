/*
 * Pool blocks held by direct-mapping leases (lease.c): for each such
 * block, how many leases hold it, how many of them may store into it, and
 * whether the file system has freed it meanwhile (the free then waits for
 * the last lease).  Two leases may hold the same block.  An
 * open-addressing hash table keyed by block number; the caller holds the
 * lease table's lock.
 */
#ifndef NVMPFS_HELD_H
#define NVMPFS_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct held {
	uint64_t pblk;           /* 0: an empty slot (block 0 holds no data) */
	uint32_t refs;           /* leases holding the block */
	uint32_t writers;        /* of them, writable ones */
	bool freed;              /* freed by the file system: released when
				    refs drops to 0 */
};

struct held_map {
	struct held *slots;
	size_t cap;              /* a power of two, or 0 */
	size_t used;
};

/* The entry of pblk, or NULL. */
struct held *held_find(const struct held_map *m, uint64_t pblk);
/*
 * The entry of pblk, made (all counts 0) if there is none; NULL when out
 * of memory.  Invalidates pointers to other entries.
 */
struct held *held_get(struct held_map *m, uint64_t pblk);
/* Drops an entry found or made above.  Invalidates pointers to others. */
void held_remove(struct held_map *m, struct held *h);
void held_free(struct held_map *m);

#endif
