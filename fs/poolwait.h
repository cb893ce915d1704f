/* Waiting for the nvmpfs that is letting go of a pool (see poolwait.c). */
#ifndef NVMPFS_POOLWAIT_H
#define NVMPFS_POOLWAIT_H

#include <stdbool.h>

/*
 * Whether the pool, which is locked, is held by an nvmpfs daemon that is
 * exiting: a process named nvmpfs has it open, and no nvmpfs mount of it
 * is left in the mount table.
 */
bool pool_held_by_exiting_daemon(const char *pool);

/* How long a mount waits for that daemon. */
#define POOL_WAIT_SECONDS 10

#endif
