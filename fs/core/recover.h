/*
 * What the mount does after an unclean shutdown, once the journal is
 * rolled back: the allocators and block counts rebuilt from the block
 * maps, checksum words of free blocks cleared, torn writes in marked
 * extents made unverified, bytes past EOF zeroed, interrupted truncates
 * finished, orphans freed.
 */
#ifndef NVMPFS_RECOVER_H
#define NVMPFS_RECOVER_H

#include <stdbool.h>

struct nvfs;
struct nvfs_mount_report;

/* Rebuilds the block allocator from the maps (any mount may call it). */
int recover_allocator(struct nvfs *fs, struct nvfs_mount_report *report);
/* The rest, on a writable mount after an unclean shutdown. */
int recover_after_crash(struct nvfs *fs, struct nvfs_mount_report *report);
/*
 * A read-only mount after an unclean shutdown, in its private mapping:
 * what readers would otherwise see of work the crash cut short (a name
 * of a create naming a free inode, a size whose map word was lost, torn
 * writes failing their checksums) is settled in memory, as the next
 * writable mount settles it on the pool.
 */
int recover_view_after_crash(struct nvfs *fs, struct nvfs_mount_report *report);
/* Frees inodes with no name left (clean unmount, or after a crash). */
int recover_orphans(struct nvfs *fs, struct nvfs_mount_report *report);

#endif
