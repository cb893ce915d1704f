/*
 * Freeing dead inodes (nlink 0, no kernel reference, not open), and the
 * background thread that does it for big ones and cools the write-intent
 * map.  A small file is freed at once by the call that let go of it; a big
 * one is queued, so that no call waits for gigabytes of blocks to be
 * freed.  A crash meanwhile leaves an orphan the next mount frees.
 */
#ifndef NVMPFS_RECLAIM_H
#define NVMPFS_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

struct nvfs;

int reclaim_start(struct nvfs *fs);
/* Stops the thread after it has freed every queued inode. */
void reclaim_stop(struct nvfs *fs);
/* Frees ino now or later if nothing holds it and it has no name. */
void reclaim_if_dead(struct nvfs *fs, uint64_t ino);
/* Waits until the queue is empty; false when there was nothing to wait for. */
bool reclaim_wait(struct nvfs *fs);

#endif
