/*
 * The pool: a mapped file of 4 KiB blocks and the one path by which stores
 * to it become durable.
 *
 * Writers store into the mapping (directly or with pool_copy/pool_zero),
 * name each changed range with pool_flush (pool_copy and pool_zero do it
 * themselves), and then call pool_drain once: that is the persist point.
 *
 * The ranges flushed and not yet drained are kept per thread, because the
 * hardware's persist point is per thread too: sfence orders the calling
 * thread's cache-line flushes and non-temporal stores, nobody else's.  A
 * drain therefore makes durable exactly what its own thread flushed, and
 * hands exactly those ranges, numbered, to the persist hook (the mirror
 * attaches there).  No thread ever publishes another thread's half-made
 * ranges.
 *
 * How a drain persists depends on the mapping (pool_mode):
 *   POOL_PMEM         persistent memory mapped with MAP_SYNC (or devdax):
 *                     cache-line flushes at pool_flush, one sfence at drain
 *   POOL_PMEM_FORCED  PMEM_IS_PMEM_FORCE=1 (tests, /dev/shm): the same
 *   POOL_MSYNC        any other file: a drain is an fdatasync of the pool
 *                     file, shared by every thread that drains meanwhile
 *                     (group commit), so concurrent operations pay one
 *                     device flush between them
 *
 * Crash simulation (tests only, built with --enable-crash-sim): with
 * NVMPFS_CRASH_AT=N in the environment, the pool keeps a shadow image of
 * what the media holds, updated at each drain with the draining thread's
 * ranges.  At the Nth drain it writes into the pool file what a power
 * failure at that instant could leave -- the shadow plus, per 8-byte word,
 * either the new or the old value of each store not yet drained
 * (NVMPFS_CRASH_MODE=tear, the default) or only old values (drop) -- and
 * kills the process.  NVMPFS_CRASH_SEED seeds the choice;
 * NVMPFS_CRASH_GRAIN=1, 2 or 4 tears pieces that small instead of words.
 */
#ifndef NVMPFS_POOL_H
#define NVMPFS_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "nvmpfs/layout.h"

struct pool;

struct pool_range {
	uint64_t off;
	uint64_t len;
};

/*
 * Called at each drain with the draining thread's ranges -- after they
 * are durable locally on persistent memory; just before the fdatasync
 * where a drain is one (so that the mirror's flush overlaps it) --, before
 * anyone else may change them (the caller still holds its locks): the
 * mirror copies their bytes here.  It gives the
 * batch its sequence number (*seq, increasing in the order of the calls,
 * which the hook serialises) and returns 0 or a negative errno, which
 * pool_drain passes on.
 */
typedef int (*pool_persist_hook)(void *arg, struct pool *pool,
				 const struct pool_range *ranges, size_t count,
				 uint64_t *seq);

enum pool_mode { POOL_PMEM, POOL_PMEM_FORCED, POOL_MSYNC };

struct pool {
	char *path;
	int fd;                 /* holds the lock */
	uint8_t *base;
	uint64_t size;
	enum pool_mode mode;
	bool is_pmem;           /* flush with CPU instructions */
	bool map_sync;          /* mapped with MAP_SYNC (real DAX) */
	bool read_only;
	bool private_map;
	bool created;           /* pool_open made the file */
	bool in_memory;         /* on tmpfs: PM emulation */
	/* Group commit of the msync path (see pool_drain). */
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	uint64_t sync_requested, sync_done;
	bool sync_running;
	int sync_error;         /* sticky: a failed fdatasync fails every drain */
	uint64_t syncs;         /* fdatasync calls */
	pool_persist_hook hook;
	void *hook_arg;
	uint64_t drains;        /* drains that persisted something */
	uint64_t seq;           /* last batch sequence number */
	struct crash_sim *sim;  /* NULL unless simulating crashes */
	pthread_mutex_t sim_mu;
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
 * NULL and writes a message naming the file into err; errno is then
 * EBUSY when another process holds the pool.
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

/* Marks [off, off+len) as changed; durable at this thread's next drain. */
void pool_flush(struct pool *pool, uint64_t off, uint64_t len);
/* Same, for a pointer into the mapping. */
void pool_flush_ptr(struct pool *pool, const void *p, uint64_t len);
/* Copies into the pool; durable at this thread's next pool_drain. */
void pool_copy(struct pool *pool, uint64_t off, const void *src, uint64_t len);
/* Zeroes pool bytes; durable at this thread's next pool_drain. */
void pool_zero(struct pool *pool, uint64_t off, uint64_t len);
/*
 * Fills bytes that no durable structure points at yet (a block just taken
 * for a file, a new map node or directory block) with src, or zeros when
 * src is NULL; durable at this thread's next pool_drain.  Nothing may
 * read them, nor rely on their 8-byte words being whole, before a later
 * store publishes them.  In mode msync this spares the disk read that a
 * first store into an uncached page of the mapping costs.
 */
void pool_fill_fresh(struct pool *pool, uint64_t off, const void *src,
		     uint64_t len);
/* Stores one aligned 8-byte word in one store (never torn) and flushes it. */
void pool_store64(struct pool *pool, uint64_t *word, uint64_t value);
/*
 * The persist point: everything this thread flushed before it is durable
 * after it.  Returns 0, or -EIO when the pool file could not be synced
 * (every later drain fails too: the page cache may have dropped the
 * failed pages), or the hook's error.
 */
int pool_drain(struct pool *pool);
/* Flush + drain of one range. */
int pool_persist(struct pool *pool, uint64_t off, uint64_t len);
/*
 * Flush + drain of one range that bypasses the persist hook: for what the
 * hook itself must make durable (the mirror's out-of-sync map).
 */
int pool_persist_quiet(struct pool *pool, uint64_t off, uint64_t len);
/* The sequence number of the newest batch of any thread. */
uint64_t pool_last_seq(struct pool *pool);
/* For a hook: the sequence number it gave the newest batch. */
static inline void pool_publish_seq(struct pool *pool, uint64_t seq)
{
	__atomic_store_n(&pool->seq, seq, __ATOMIC_RELEASE);
}
/* Whether this thread has flushed ranges waiting for a drain. */
bool pool_pending(struct pool *pool);
/* Sequence number of this thread's last batch (0: none yet). */
uint64_t pool_thread_seq(void);

/* "pmem", "pmem-forced" or "msync". */
const char *pool_mode_name(const struct pool *pool);

/*
 * Maps every page of an in-memory pool now, as PM would be mapped, so no
 * write pays a page fault.  Page tables of shared mappings are not copied
 * by fork: call it in the process that serves requests.
 */
int pool_populate(struct pool *pool);

void pool_set_hook(struct pool *pool, pool_persist_hook hook, void *arg);

/* Crash simulation, see above; called by pool_open and pool_drain. */
int crash_sim_init(struct pool *pool, char *err, size_t errlen);
void crash_sim_drain(struct pool *pool, const struct pool_range *ranges,
		     size_t count);
void crash_sim_free(struct pool *pool);

#endif
