/*
 * Direct-mapping leases inside the core (the calls are in nvfs_direct.h):
 * the table every mount keeps, and the two hooks the rest of the core
 * goes through -- freeing blocks, and storing checksums.
 */
#ifndef NVMPFS_LEASE_H
#define NVMPFS_LEASE_H

#include <stdbool.h>
#include <stdint.h>

struct nvfs;

/* The mount's (empty) table; the pool's absolute path.  -ENOMEM. */
int lease_init(struct nvfs *fs, const char *pool_path);
/*
 * At unmount (no request runs any more): every lease is dropped and the
 * blocks whose free waited for one are freed, in memory, before the
 * allocator is written back.  Checksums stay 0: a program may still be
 * storing into the blocks, and the next mount waits for it to be gone
 * (pool.c refuses while a program maps the pool).
 */
void lease_shutdown(struct nvfs *fs);
void lease_fini(struct nvfs *fs);

/*
 * Gives freed blocks back to the allocator -- except those a lease holds:
 * they stay allocated until the last lease holding them ends (a program
 * may still be storing into them).  Use it wherever a file's blocks are
 * freed for good.
 */
void lease_release_blocks(struct nvfs *fs, uint64_t start, uint64_t count);
/*
 * Whether a program may store into pblk behind the daemon's back (a
 * writable lease holds it): its checksum word must then stay 0.
 */
bool lease_stores_direct(struct nvfs *fs, uint64_t pblk);
/* Whether any lease is in force (a read-only remount must wait). */
bool lease_any(struct nvfs *fs);

#endif
