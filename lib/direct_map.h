/*
 * libnvmpfs's direct mappings (direct_map.c), as the rest of the library
 * (libnvmpfs.c) dispatches to them.
 */
#ifndef NVMPFS_DIRECT_MAP_H
#define NVMPFS_DIRECT_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "nvmpfs.h"

/*
 * If [addr, addr + len) lies in a direct mapping: persists it, *rc gets
 * 0 or -1 (errno set), and returns true.  Otherwise returns false.
 */
bool direct_persist(const void *addr, size_t len, int *rc);
/*
 * If addr is (or lies in) a direct mapping: unmaps it (the whole mapping,
 * addr its start, len its length; else *rc = -1, EINVAL), ends its lease,
 * returns true.  Otherwise returns false.
 */
bool direct_unmap(void *addr, size_t len, int *rc);
/* Whether [addr, addr + len) lies in a direct mapping. */
bool direct_holds(const void *addr, size_t len);
/*
 * Flushes the ranges marked in direct[] (each inside a direct mapping),
 * then one fence.  0, or -1 with errno.
 */
int direct_flush(const struct nvmpfs_addr_range *ranges, size_t count,
		 const bool *direct);

#endif
