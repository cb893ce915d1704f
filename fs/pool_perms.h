/* The daemon's check that no one but the pool's owner can read or write it. */
#ifndef NVMPFS_POOL_PERMS_H
#define NVMPFS_POOL_PERMS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Returns 0 when the pool at path (file or device) is closed to its group
 * and to others, does not exist yet (it is made with mode 0600), or
 * allow_open is set (-o unsafe_pool_perms); else -1 with a message that
 * names the pool, its mode, the risk and the fix.
 */
int pool_perms_check(const char *path, bool allow_open, char *err,
		     size_t errlen);

#endif
