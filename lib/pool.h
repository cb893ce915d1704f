/*
 * The pool: a mapped file of 4 KiB blocks and the one path by which stores
 * to it become durable.
 *
 * Writers store into the mapping (directly or with pool_copy/pool_zero),
 * name each changed range with pool_flush (pool_copy and pool_zero do it
 * themselves), and then call pool_drain once: that is the persist point.
 * Every range flushed since the last drain is handed to the persist hook
 * (the mirror attaches there) before pool_drain returns.
 *
 * Crash simulation (tests only): with NVMPFS_CRASH_AT=N in the environment,
 * the pool keeps a shadow image of what the media holds, updated at each
 * drain.  At the Nth drain it writes into the pool file what a power failure
 * at that instant could leave -- the shadow plus, per 8-byte word, either
 * the new or the old value of each store not yet drained
 * (NVMPFS_CRASH_MODE=tear, the default) or only old values (drop) -- and
 * kills the process.  NVMPFS_CRASH_SEED seeds the choice.
 */
#ifndef NVMPFS_POOL_H
#define NVMPFS_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "nvmpfs/layout.h"

struct pool_range {
	uint64_t off;
	uint64_t len;
};

typedef void (*pool_persist_hook)(void *arg, const struct pool_range *ranges,
				  size_t count);

struct pool {
	char *path;
	int fd;                 /* holds the exclusive lock */
	uint8_t *base;
	uint64_t size;
	bool is_pmem;
	bool read_only;
	bool private_map;
	bool created;           /* pool_open made the file */
	bool in_memory;         /* on tmpfs: PM emulation */
	/* Ranges flushed since the last drain (for msync and the hook). */
	struct pool_range *pending;
	size_t npending, cap_pending;
	pool_persist_hook hook;
	void *hook_arg;
	uint64_t drains;
	struct crash_sim *sim;  /* NULL unless simulating crashes */
};

/* Options for pool_open. */
struct pool_open_opts {
	bool create;            /* create the file when it does not exist */
	uint64_t create_size;   /* size of a new file */
	bool read_only;         /* map read-only; no drain hook, no crash sim */
	/*
	 * With read_only: map the pool copy-on-write, so that recovery and
	 * checks may change the mapping while the file stays untouched
	 * (fsck -n).
	 */
	bool private_map;
};

/*
 * Opens and maps POOL, taking an exclusive lock on it.  On failure returns
 * NULL and writes a message naming the file into err; errno is EBUSY when
 * another process holds the lock.
 */
struct pool *pool_open(const char *path, const struct pool_open_opts *opts,
		       char *err, size_t errlen);
void pool_close(struct pool *pool);

static inline void *pool_at(const struct pool *pool, uint64_t off)
{
	return pool->base + off;
}

static inline void *pool_block(const struct pool *pool, uint64_t blk)
{
	return pool->base + (blk << NVMPFS_BLOCK_SHIFT);
}

static inline uint64_t pool_off(const struct pool *pool, const void *p)
{
	return (uint64_t)((const uint8_t *)p - pool->base);
}

/* Marks [off, off+len) as changed; durable at the next pool_drain. */
void pool_flush(struct pool *pool, uint64_t off, uint64_t len);
/* Same, for a pointer into the mapping. */
void pool_flush_ptr(struct pool *pool, const void *p, uint64_t len);
/* Copies into the pool; durable at the next pool_drain. */
void pool_copy(struct pool *pool, uint64_t off, const void *src, uint64_t len);
/* Zeroes pool bytes; durable at the next pool_drain. */
void pool_zero(struct pool *pool, uint64_t off, uint64_t len);
/* The persist point: everything flushed before it is durable after it. */
void pool_drain(struct pool *pool);
/* Flush + drain of one range. */
void pool_persist(struct pool *pool, uint64_t off, uint64_t len);

/*
 * Maps every page of an in-memory pool now, as PM would be mapped, so no
 * write pays a page fault.  Page tables of shared mappings are not copied
 * by fork: call it in the process that serves requests.
 */
int pool_populate(struct pool *pool);

void pool_set_hook(struct pool *pool, pool_persist_hook hook, void *arg);

/* Crash simulation, see above; called by pool_open. */
int crash_sim_init(struct pool *pool, char *err, size_t errlen);
void crash_sim_drain(struct pool *pool);
void crash_sim_free(struct pool *pool);

#endif
