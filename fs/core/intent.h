/*
 * The write-intent map (layout.h): before data of a block changes in
 * place, the bit of its extent (NVMPFS_INTENT_BLOCKS blocks) is set and
 * durable.  The first write into a cold extent pays one drain for it;
 * writes into a hot extent pay nothing, which is what lets an overwrite
 * store its data and its checksum in one drain.  Extents that nobody has
 * written for a while are cooled (bit cleared, lazily) by the background
 * thread, so the set stays small and recovery after a crash reads little.
 */
#ifndef NVMPFS_INTENT_H
#define NVMPFS_INTENT_H

#include <stdint.h>

struct nvfs;

int intent_init(struct nvfs *fs);
void intent_fini(struct nvfs *fs);
/*
 * Blocks [pblk, pblk+n) are about to change in place: their extents are
 * made hot (durable) and held until intent_end.  Returns 0 or a drain's
 * error.
 */
int intent_begin(struct nvfs *fs, uint64_t pblk, uint64_t n);
void intent_end(struct nvfs *fs, uint64_t pblk, uint64_t n);
/* Cools extents idle since the last call but one (background thread). */
void intent_cool(struct nvfs *fs);
/* Number of extents whose bit is set (tests, statistics). */
uint64_t intent_hot_extents(struct nvfs *fs);
/*
 * After an unclean shutdown: every block in a marked extent whose data no
 * longer matches its checksum was being written, not damaged: its word
 * becomes 0.  Then every bit is cleared.  *unverified gets the count.
 */
int intent_recover(struct nvfs *fs, uint64_t *unverified);
/* At a clean unmount: every bit cleared (flushed). */
void intent_clear_all(struct nvfs *fs);

#endif
