/*
 * The roles of a pool in a mirrored pair, changed offline (nvmpfsctl):
 * promote turns a mirror's pool into a primary's (after a failover),
 * demote turns an old primary's pool into a mirror's (to rejoin).
 */
#ifndef NVMPFS_ROLE_H
#define NVMPFS_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Checks the pool (as fsck -n does: its metadata must be consistent) and
 * that no resync was under way on it (unless force), bumps its mirror
 * epoch, draws a new epoch tag and marks it promoted.  Returns 0 with the
 * epochs before and after and the number of data blocks failing their
 * checksums (they stay so: reads of them fail with EIO), or -1 with a
 * message naming the pool.
 */
int role_promote(const char *path, bool force, uint64_t *old_epoch,
		 uint64_t *new_epoch, uint64_t *data_bad, char *err,
		 size_t errlen);
/*
 * The file nvmpfs-mirror keeps beside a pool while a resync runs (the
 * pool is then no consistent image of its primary): POOL.resyncing.
 */
void role_resync_marker(const char *pool_path, char *out, size_t outlen);
/* Marks the pool demoted (it mounts no more; nvmpfs-mirror takes it). */
int role_demote(const char *path, uint64_t *epoch, char *err, size_t errlen);

#endif
