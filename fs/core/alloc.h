/*
 * The block allocator.  The pool's bitmap is exact only while the pool is
 * clean (see layout.h): while mounted, the allocator works on a copy in
 * memory, loaded from the pool's bitmap at a clean mount or rebuilt from
 * the block maps after a crash, and written back at a clean unmount.  So
 * no transaction logs a bitmap word, and two transactions never share one.
 */
#ifndef NVMPFS_ALLOC_H
#define NVMPFS_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

struct nvfs;

/* The in-memory map as the pool's bitmap says (clean pools). */
int alloc_load(struct nvfs *fs);
/* An empty map (metadata regions in use), for alloc_mark to fill. */
int alloc_start_rebuild(struct nvfs *fs);
/* Marks blocks in use while rebuilding; false if one was already. */
bool alloc_mark(struct nvfs *fs, uint64_t start, uint64_t count);
/* Recounts the free blocks after a rebuild. */
void alloc_finish_rebuild(struct nvfs *fs);
void alloc_fini(struct nvfs *fs);

/*
 * A goal for alloc_run: where the allocator's own hint points.  The hint
 * changes under alloc.mu, so callers pass this instead of reading
 * fs->alloc.hint without the lock (a data race ThreadSanitizer reports).
 */
#define ALLOC_AT_HINT 0

/* Takes up to want blocks in one run, at goal if it is free. */
int alloc_run(struct nvfs *fs, uint64_t goal, uint64_t want,
	      uint64_t *start, uint64_t *got);
/* Gives blocks back (their free must already be durable). */
void alloc_release(struct nvfs *fs, uint64_t start, uint64_t count);
bool alloc_is_used(struct nvfs *fs, uint64_t blk);
uint64_t alloc_free_blocks(struct nvfs *fs);
/* The pool's bitmap region. */
uint64_t *alloc_bitmap(const struct nvfs *fs);
/* Writes the in-memory map into the pool's bitmap (flushed, no drain). */
void alloc_store(struct nvfs *fs);

#endif
