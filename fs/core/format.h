/* Making a new pool (mkfs.nvmpfs, and nvmpfs on first use). */
#ifndef NVMPFS_FORMAT_H
#define NVMPFS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "super.h"

/* Called now and then with the bytes done of the bytes to do. */
typedef void (*format_progress_cb)(void *arg, uint64_t done, uint64_t total);

/*
 * Writes an empty file system over the whole pool: superblocks, journal,
 * inode table with the root directory, bitmap and the other tables.
 * Returns 0, or -1 with a message (pool too small for its regions).
 */
int format_pool(struct pool *pool, const struct mkfs_params *params,
		format_progress_cb progress, void *arg, char *err,
		size_t errlen);

#endif
