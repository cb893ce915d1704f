/*
 * The core's calls for direct mappings (libnvmpfs nvmpfs_map_direct): a
 * program maps a file's pool blocks into its own memory and stores there,
 * bypassing the daemon, under a *lease* (fs/core/lease.c).  While a lease
 * lasts the daemon keeps the blocks in place (frees wait for the lease's
 * end), stores no checksum for the blocks of a writable lease (their
 * words are 0: unverified) and keeps their write-intent extents marked.
 * When it ends, the blocks still in the file get their checksums back and
 * everything is flushed and drained once more.
 *
 * A lease has an owner, a number chosen by the caller (the FUSE layer
 * passes the open file's handle): only the owner may list, persist or end
 * it, and nvfs_lease_end_owner ends all of an owner's leases at once
 * (the open file's release, the process's death).
 */
#ifndef NVMPFS_NVFS_DIRECT_H
#define NVMPFS_NVFS_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvfs.h"

/* File bytes [file_off, file_off + len) at pool bytes [pool_off, ...). */
struct nvfs_lease_extent {
	uint64_t file_off;
	uint64_t pool_off;
	uint64_t len;
};

/*
 * Leases [off, off + len) of regular file ino (whole blocks: the end is
 * rounded up to the block).  off must be block-aligned and off + len at
 * most the size (-EINVAL); holes are allocated (-ENOSPC).  A writable
 * lease first checks the blocks' checksums (-EIO for a bad block, which
 * is recorded as for a read).  -EROFS on a read-only mount.  *id gets the
 * lease's number (never 0).
 */
int nvfs_lease_begin(struct nvfs *fs, uint64_t ino, uint64_t owner,
		     uint64_t off, uint64_t len, bool writable, uint64_t *id);
/*
 * Copies the lease's extents [first, first + max) to out; returns how
 * many the lease has, or -EINVAL when owner has no lease id.
 */
ssize_t nvfs_lease_extents(struct nvfs *fs, uint64_t owner, uint64_t id,
			   size_t first, struct nvfs_lease_extent *out,
			   size_t max);
/* Ends a lease; *ino (may be NULL) gets its file.  -EINVAL: no such lease. */
int nvfs_lease_end(struct nvfs *fs, uint64_t owner, uint64_t id,
		   uint64_t *ino);
/* Ends every lease of owner; returns how many there were. */
int nvfs_lease_end_owner(struct nvfs *fs, uint64_t owner);
/*
 * Flushes the pool bytes under file ranges of a lease (each inside it,
 * else -EINVAL and nothing is done) and drains once: with a mirror, the
 * persist hook sees them.
 */
int nvfs_lease_persist(struct nvfs *fs, uint64_t owner, uint64_t id,
		       const struct nvfs_range *ranges, size_t count);
/*
 * A lease's token: 16 random bytes drawn at its start, which prove to the
 * daemon that a request comes from the lease's holder when it does not
 * come through the lease's open file (the persist socket).  The first
 * call (from the owner) binds the lease to uid, the user the token is
 * handed to; a later call for another uid gets -EPERM.  -EINVAL: owner
 * has no lease id.
 */
#define NVFS_LEASE_TOKEN_SIZE 16
int nvfs_lease_token(struct nvfs *fs, uint64_t owner, uint64_t id,
		     uint32_t uid, uint8_t token[NVFS_LEASE_TOKEN_SIZE]);
/*
 * nvfs_lease_persist for whoever shows the lease's token and is its
 * bound uid (compared in constant time): -EPERM for an unknown id, a
 * wrong token, a lease never bound, another uid; -EINVAL for a range
 * outside the lease.
 */
int nvfs_lease_persist_proven(struct nvfs *fs, uint64_t id,
			      const uint8_t token[NVFS_LEASE_TOKEN_SIZE],
			      uint32_t uid, const struct nvfs_range *ranges,
			      size_t count);
/* Whether some lease holds part of file ino. */
bool nvfs_file_leased(struct nvfs *fs, uint64_t ino);
/* Leases in force and blocks whose free waits for one (tests, stats). */
void nvfs_lease_counts(struct nvfs *fs, uint64_t *leases,
		       uint64_t *deferred_blocks);

/* The pool as a program opens it: absolute path (made at mount), uuid. */
const char *nvfs_pool_path(struct nvfs *fs);
void nvfs_pool_uuid(struct nvfs *fs, uint8_t uuid[16]);

/*
 * nvmpfsctl scrub --adopt: mapped blocks of ino from *lblk (up to
 * max_blocks of them) that have no checksum get the checksum of what they
 * hold -- their contents are accepted as correct.  Blocks under a
 * writable lease are left alone and counted.  -EOPNOTSUPP on a mount
 * without checksums, -EROFS when read-only.
 */
struct nvfs_adopt_result {
	uint64_t adopted;
	uint64_t leased;
	bool done;               /* reached the end of the file */
};
int nvfs_adopt(struct nvfs *fs, uint64_t ino, uint64_t *lblk,
	       uint64_t max_blocks, struct nvfs_adopt_result *res);

#endif
