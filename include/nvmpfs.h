/*
 * libnvmpfs: the PM-aware API of nvmpfs (SNIA NVM.PM.FILE actions).
 *
 * Files on an nvmpfs mount work with plain read/write/mmap; these calls
 * add what the NVM Programming Model gives a PM-aware program:
 *
 *   nvmpfs_optimized_flush          OPTIMIZED_FLUSH: many ranges, one drain
 *   nvmpfs_optimized_flush_and_verify   OPTIMIZED_FLUSH_AND_VERIFY
 *   nvmpfs_async_flush + nvmpfs_drain   ASYNC_FLUSH and DRAIN
 *   nvmpfs_get_attributes           the mode's attributes
 *   nvmpfs_bad_ranges               error ranges the file system knows of
 *
 * Ranges are byte ranges of the file (offset, length).  For a file mapped
 * with mmap(MAP_SHARED), nvmpfs_map() records the mapping so that the
 * *_addr variants take addresses inside it.
 *
 * A flush first pushes the ranges' dirty pages of the page cache to the
 * daemon (sync_file_range), then sends all ranges in one ioctl: the daemon
 * flushes them, stores their checksums and drains once.  Errors are
 * returned as -1 with errno set (EBADF, also for a flush on a descriptor
 * open read-only by anyone but root; EINVAL for a range past end of file
 * or too many ranges, ENOTTY for a file not on nvmpfs, EIO).
 */
#ifndef NVMPFS_H
#define NVMPFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nvmpfs_range {
	uint64_t off;
	uint64_t len;
};

/* The most ranges one call (one ioctl, one daemon round trip) carries. */
#define NVMPFS_MAX_RANGES 256

/* ---- the ioctl interface between libnvmpfs and the daemon ---- */

#define NVMPFS_IOC_MAGIC 'N'

#define NVMPFS_FLUSH_VERIFY 0x1u
/* Out (in flags): the mirror checked its copies of the ranges too. */
#define NVMPFS_FLUSH_MIRROR_CHECKED 0x80000000u

/*
 * In: flags, count, ranges.  Out: nfailed, ranges[0..nfailed) failed --
 * first those bad here (and not healed from the mirror), then the last
 * nfailed_mirror: blocks the mirror held wrong (they are resent to it).
 */
struct nvmpfs_ioc_flush {
	uint32_t flags;
	uint32_t count;
	uint32_t nfailed;
	uint32_t nfailed_mirror;
	struct nvmpfs_range ranges[NVMPFS_MAX_RANGES];
};

/* The NVM.PM.FILE attributes of a file's volume. */
struct nvmpfs_attributes {
	uint32_t optimized_flush_capable;        /* 1 */
	uint32_t flush_and_verify_capable;       /* 1 when checksums are on */
	uint32_t async_flush_capable;            /* 1 */
	uint32_t interrupted_store_atomicity;    /* bytes: 8 */
	uint32_t fundamental_error_range;        /* bytes: 4096 */
	uint32_t fundamental_error_range_offset; /* 0 */
	uint32_t max_ranges_per_flush;           /* NVMPFS_MAX_RANGES */
	uint32_t mirrored;                       /* 1 when a mirror is attached */
	uint64_t reserved[4];
};

/* Out: count known bad ranges (at most NVMPFS_MAX_RANGES copied), total. */
struct nvmpfs_ioc_bad {
	uint32_t count;
	uint32_t total;
	struct nvmpfs_range ranges[NVMPFS_MAX_RANGES];
};

/* In: block to start at, blocks to do.  Out: next block and counts. */
struct nvmpfs_ioc_scrub {
	uint64_t start_block;
	uint64_t max_blocks;
	uint64_t next_block;
	uint64_t blocks_checked;
	uint64_t blocks_unverified;
	uint64_t mismatches;
	uint32_t done;
	uint32_t healed;          /* of the mismatches, healed from the mirror */
};

/* File-system counters (ioctl on any file or directory of the mount). */
struct nvmpfs_ioc_stats {
	uint64_t drains;
	uint64_t commits;
	uint64_t writes;
	uint64_t bytes_written;
	uint64_t fsyncs;
	uint64_t sync_points;
	uint64_t sync_drains;
	uint64_t ranges_flushed;
	uint64_t bytes_flushed;
	uint64_t blocks_verified;
	uint64_t verify_failures;
	uint64_t sync_ns;         /* daemon time inside sync points */
	uint64_t syncs;           /* fdatasyncs of the pool file (msync mode) */
	uint64_t hot_extents;     /* extents marked in the write-intent map */
	uint32_t pool_mode;       /* NVMPFS_POOL_MODE_* */
	uint32_t persist_clients; /* connections to the persist socket open */
	uint64_t background_drains; /* drains of the daemon's own thread */
};

/* How a mounted pool persists (nvmpfs_ioc_stats.pool_mode). */
#define NVMPFS_POOL_MODE_PMEM 0        /* persistent memory, MAP_SYNC */
#define NVMPFS_POOL_MODE_PMEM_FORCED 1 /* PMEM_IS_PMEM_FORCE=1 */
#define NVMPFS_POOL_MODE_MSYNC 2       /* every drain an fdatasync */

/* The mirror's state (nvmpfsctl status; any file of the mount). */
#define NVMPFS_MIRROR_NONE 0
#define NVMPFS_MIRROR_CONNECTING 1
#define NVMPFS_MIRROR_SYNCING 2
#define NVMPFS_MIRROR_SYNCED 3
#define NVMPFS_MIRROR_DEGRADED 4

struct nvmpfs_ioc_mirror {
	uint32_t state;           /* NVMPFS_MIRROR_* */
	uint32_t sealed;          /* 1: messages sealed with AES-256-GCM */
	char peer[288];           /* HOST:PORT, NUL-terminated */
	uint64_t epoch;
	uint64_t resync_done;     /* blocks compared or resent so far */
	uint64_t resync_total;
	uint64_t resync_bytes_per_s;
	uint64_t out_of_sync;     /* blocks marked in the out-of-sync map */
	uint64_t last_rtt_us;     /* last acknowledgement round trip */
	uint64_t batches_sent;
	uint64_t batches_acked;
	uint64_t bytes_sent;
	uint64_t attaches;
	uint64_t losses;
	uint64_t acked_seq;       /* every batch up to it is on the mirror */
	uint64_t last_seq;        /* the newest batch */
	uint64_t heals;           /* bad blocks healed with the mirror's copy */
	uint64_t remote_bad;      /* blocks the mirror failed to verify */
	uint64_t resync_sent;     /* of resync_done, blocks resent */
	uint64_t sends;           /* times queued batches left together */
	uint64_t reserved[2];
};

/*
 * In: read_only 1 or 0.  Switches the mount read-only (the pool made
 * durable and marked clean) or back; used by "mount -o remount".  Only
 * root, and only on the mount's root directory.
 */
struct nvmpfs_ioc_remount {
	uint32_t read_only;
	uint32_t reserved[3];     /* 0 */
};

#define NVMPFS_IOC_FLUSH  _IOWR(NVMPFS_IOC_MAGIC, 1, struct nvmpfs_ioc_flush)
#define NVMPFS_IOC_ATTRS  _IOR(NVMPFS_IOC_MAGIC, 2, struct nvmpfs_attributes)
#define NVMPFS_IOC_BAD    _IOR(NVMPFS_IOC_MAGIC, 3, struct nvmpfs_ioc_bad)
#define NVMPFS_IOC_SCRUB  _IOWR(NVMPFS_IOC_MAGIC, 4, struct nvmpfs_ioc_scrub)
#define NVMPFS_IOC_STATS  _IOR(NVMPFS_IOC_MAGIC, 5, struct nvmpfs_ioc_stats)
#define NVMPFS_IOC_REMOUNT _IOW(NVMPFS_IOC_MAGIC, 6, struct nvmpfs_ioc_remount)
#define NVMPFS_IOC_MIRROR _IOR(NVMPFS_IOC_MAGIC, 7, struct nvmpfs_ioc_mirror)

/*
 * ---- direct mapping: leases of pool blocks (nvmpfs_map_direct) ----
 *
 * A lease is the daemon's promise about the pool blocks under a byte range
 * of a file while a program maps them: they stay where they are, are not
 * freed or given to another file (a truncate, punch or unlink that frees
 * them defers the free until the lease ends), and -- for a writable
 * lease -- their checksums are 0 (unverified) and their write-intent
 * extents stay marked, so that stores that bypass the daemon never meet a
 * stale checksum.  At the end of a lease the blocks still in the file get
 * their checksums again.  A lease belongs to the open file it was taken
 * through and ends with NVMPFS_IOC_UNLEASE or when that open file is
 * released (its last descriptor closed, the process dead).
 */

/* File bytes [file_off, file_off + len) live at pool bytes [pool_off, ...). */
struct nvmpfs_lease_extent {
	uint64_t file_off;        /* multiple of 4096 */
	uint64_t pool_off;        /* multiple of 4096 */
	uint64_t len;             /* multiple of 4096 */
};

#define NVMPFS_LEASE_EXTENTS 384    /* extents one reply carries */
#define NVMPFS_LEASE_PATH_MAX 4096

#define NVMPFS_LEASE_WRITABLE 0x1u            /* flags: stores allowed */
#define NVMPFS_LEASE_PERSIST_VIA_DAEMON 0x1u  /* persist_flags */
#define NVMPFS_LEASE_PERSIST_SOCKET 0x2u      /* persist_flags */
#define NVMPFS_PERSIST_SOCKET_MAX 96          /* name, with its NUL */
#define NVMPFS_PERSIST_TOKEN_SIZE 16

/*
 * NVMPFS_IOC_LEASE, a new lease (lease_id 0 in): [off, off + len) of the
 * file, off a multiple of 4096, off + len at most the file's size (EINVAL
 * otherwise); holes in it are allocated (zeroed).  The lease covers whole
 * blocks: [off, off + len rounded up to 4096).  NVMPFS_LEASE_WRITABLE
 * needs a descriptor open for writing (EBADF).  Out: lease_id, the pool
 * (absolute path, uuid, NVMPFS_POOL_MODE_*), persist_flags, and the
 * extents, in file order, contiguous, covering the lease:
 * extents[0 .. nextents) of total_extents.  When total_extents >
 * nextents, call again with lease_id set and first = the index of the
 * next extent wanted; nothing else is done then.  A lease id is valid
 * only through the open file that took it (EINVAL otherwise).
 *
 * When the daemon listens on its persist socket, persist_flags has
 * NVMPFS_LEASE_PERSIST_SOCKET and the fields after the extents say where
 * (an abstract Unix socket name, without its leading NUL), which process
 * must answer there (the daemon's pid and uid: the library checks its
 * peer) and the lease's token, the proof of holding it there.  Those
 * fields came later: the daemon still answers the ioctl sized without
 * them (no socket then).
 */
struct nvmpfs_ioc_lease {
	uint64_t off;               /* in */
	uint64_t len;               /* in */
	uint32_t flags;             /* in: NVMPFS_LEASE_WRITABLE */
	uint32_t first;             /* in: first extent wanted */
	uint64_t lease_id;          /* in: 0 = a new lease; out: the lease */
	uint32_t pool_mode;         /* out: NVMPFS_POOL_MODE_* */
	uint32_t persist_flags;     /* out: NVMPFS_LEASE_PERSIST_VIA_DAEMON */
	uint32_t nextents;          /* out: extents in this reply */
	uint32_t total_extents;     /* out: extents of the lease */
	uint8_t pool_uuid[16];      /* out: the superblock's uuid */
	char pool_path[NVMPFS_LEASE_PATH_MAX]; /* out: NUL-terminated */
	struct nvmpfs_lease_extent extents[NVMPFS_LEASE_EXTENTS];
	/* out, with NVMPFS_LEASE_PERSIST_SOCKET: */
	uint8_t persist_token[NVMPFS_PERSIST_TOKEN_SIZE];
	uint32_t daemon_pid;
	uint32_t daemon_uid;
	char persist_socket[NVMPFS_PERSIST_SOCKET_MAX]; /* NUL-terminated */
};

/* NVMPFS_IOC_UNLEASE: ends a lease of this open file. */
struct nvmpfs_ioc_unlease {
	uint64_t lease_id;
	uint64_t reserved;          /* 0 */
};

/*
 * NVMPFS_IOC_PERSIST: the daemon flushes the pool bytes under these file
 * ranges of a lease (each inside the lease, EINVAL otherwise) and drains
 * once -- the persist path of a direct mapping when the pool has a
 * mirror (persist_flags), or when NVMPFS_DIRECT_PERSIST=daemon.
 */
struct nvmpfs_ioc_persist {
	uint64_t lease_id;
	uint32_t count;             /* at most NVMPFS_MAX_RANGES */
	uint32_t reserved;          /* 0 */
	struct nvmpfs_range ranges[NVMPFS_MAX_RANGES];
};

/*
 * The persist socket (SOCK_SEQPACKET, abstract name from the lease
 * reply): the same persist as NVMPFS_IOC_PERSIST without going through
 * the kernel's FUSE queue.  One datagram per request: the header, then
 * count ranges (and nothing more); one reply each, in order.  The
 * request proves the lease with its token, and must come from the uid the
 * token was given to (the connection's SO_PEERCRED).  Reply rc: 0 once
 * the ranges are durable (on the mirror too), -EPERM (no such lease, a
 * wrong token or uid), -EINVAL (count over NVMPFS_MAX_RANGES, a range
 * outside the lease, reserved not 0), -EINTR (the daemon is stopping: the
 * persist did not happen or is not known to be on the mirror), another
 * -errno of the persist.  A datagram of the wrong size closes the
 * connection.
 */
struct nvmpfs_persist_request {
	uint64_t lease_id;
	uint8_t token[NVMPFS_PERSIST_TOKEN_SIZE];
	uint32_t count;             /* at most NVMPFS_MAX_RANGES */
	uint32_t reserved;          /* 0 */
	struct nvmpfs_range ranges[NVMPFS_MAX_RANGES]; /* count sent */
};
#define NVMPFS_PERSIST_REQUEST_SIZE(count) \
	(offsetof(struct nvmpfs_persist_request, ranges) + \
	 (count) * sizeof(struct nvmpfs_range))

struct nvmpfs_persist_reply {
	int32_t rc;                 /* 0 or -errno */
	uint32_t reserved;
};

/*
 * NVMPFS_IOC_ADOPT (nvmpfsctl scrub --adopt): up to max_blocks mapped
 * blocks of the file from start_block that have no checksum (0: left so
 * by a crash while they were written or mapped directly) get the
 * checksum of what they hold now, i.e. their contents are accepted as
 * correct.  Blocks under a writable lease are left alone (counted in
 * blocks_leased).  Needs a descriptor open for writing (or root).
 */
struct nvmpfs_ioc_adopt {
	uint64_t start_block;       /* in: file block */
	uint64_t max_blocks;        /* in: 0 = 1024 */
	uint64_t next_block;        /* out: where to go on */
	uint64_t blocks_adopted;    /* out */
	uint64_t blocks_leased;     /* out: without checksum, under a lease */
	uint32_t done;              /* out: reached the end of the file */
	uint32_t reserved;
};

#define NVMPFS_IOC_LEASE   _IOWR(NVMPFS_IOC_MAGIC, 8, struct nvmpfs_ioc_lease)
/* The same, sized without the persist-socket fields (older daemons). */
#define NVMPFS_IOC_LEASE_V1_SIZE offsetof(struct nvmpfs_ioc_lease, persist_token)
#define NVMPFS_IOC_LEASE_V1 _IOC(_IOC_READ | _IOC_WRITE, NVMPFS_IOC_MAGIC, 8, \
				 NVMPFS_IOC_LEASE_V1_SIZE)
#define NVMPFS_IOC_UNLEASE _IOW(NVMPFS_IOC_MAGIC, 9, struct nvmpfs_ioc_unlease)
#define NVMPFS_IOC_PERSIST _IOW(NVMPFS_IOC_MAGIC, 10, struct nvmpfs_ioc_persist)
#define NVMPFS_IOC_ADOPT   _IOWR(NVMPFS_IOC_MAGIC, 11, struct nvmpfs_ioc_adopt)

/* ---- the library ---- */

/* Maps len bytes of fd at offset off (shared, read-write) and records it. */
void *nvmpfs_map(int fd, size_t len, off_t off);
/* Unmaps a mapping of nvmpfs_map or (whole, at its start) nvmpfs_map_direct. */
int nvmpfs_unmap(void *addr, size_t len);

int nvmpfs_optimized_flush(int fd, const struct nvmpfs_range *ranges,
			   size_t count);
/*
 * Flush, then read back and check.  *nfailed gets the number of ranges
 * that failed (their offsets in failed[], up to max_failed); returns 0
 * even when some failed, -1 for errors of the call itself.
 */
int nvmpfs_optimized_flush_and_verify(int fd, const struct nvmpfs_range *ranges,
				      size_t count, struct nvmpfs_range *failed,
				      size_t max_failed, size_t *nfailed);
/*
 * The same, saying where ranges failed: failed[] lists first the ranges
 * bad on this host (a bad block with a good copy on the mirror is healed
 * and not listed), then the last res->nfailed_mirror: ranges the mirror
 * held wrong (the daemon resends them).  res->mirror_checked is 1 when a
 * mirror was attached and checked its copy.
 */
struct nvmpfs_verify_result {
	size_t nfailed;
	size_t nfailed_mirror;
	int mirror_checked;
};
int nvmpfs_optimized_flush_and_verify_mirror(int fd,
					     const struct nvmpfs_range *ranges,
					     size_t count,
					     struct nvmpfs_range *failed,
					     size_t max_failed,
					     struct nvmpfs_verify_result *res);
/* Starts the flush of ranges and returns; nvmpfs_drain finishes it. */
int nvmpfs_async_flush(int fd, const struct nvmpfs_range *ranges, size_t count);
/* Waits until every range async-flushed on fd before it is durable. */
int nvmpfs_drain(int fd);

/*
 * Address ranges inside mappings made with nvmpfs_map (all of one file)
 * or nvmpfs_map_direct (any): direct ranges are all flushed, then one
 * fence.
 */
struct nvmpfs_addr_range {
	const void *addr;
	size_t len;
};
int nvmpfs_optimized_flush_addr(const struct nvmpfs_addr_range *ranges,
				size_t count);

/*
 * Direct mapping (DAX-like): maps [off, off + len) of an open nvmpfs file
 * straight onto its pool blocks, PROT_READ | PROT_WRITE for a descriptor
 * open O_RDWR, PROT_READ for O_RDONLY.  off must be a multiple of 4096
 * and off + len at most the file's size; holes are allocated.  Stores are
 * made durable with nvmpfs_persist (cache-line flushes and one fence in
 * user space).  Returns NULL with errno: EPERM (the caller may not open
 * the pool file), EINVAL, EACCES (fd open write-only), EBADF, ENOTTY (not
 * on nvmpfs), EBUSY, ESTALE, EROFS, ENOSPC, EIO.  See libnvmpfs(3): trust
 * model, coherence with read/write and other mappings, leases.
 */
void *nvmpfs_map_direct(int fd, size_t len, off_t off);
/*
 * Makes stores in [addr, addr + len) durable: on a direct mapping with
 * flushes and one fence in user space (or one round trip to the daemon
 * when the pool has a mirror, or NVMPFS_DIRECT_PERSIST=daemon is set);
 * on a mapping made with nvmpfs_map as msync(MS_SYNC) does.  -1 with
 * EINVAL for a range inside neither kind of mapping.
 */
int nvmpfs_persist(const void *addr, size_t len);
/* 1 when addr lies in a direct mapping, else 0 (as libpmem's is_pmem). */
int nvmpfs_is_direct(const void *addr);

int nvmpfs_get_attributes(int fd, struct nvmpfs_attributes *attrs);
/* Copies up to max known bad ranges; returns how many there are, or -1. */
ssize_t nvmpfs_bad_ranges(int fd, struct nvmpfs_range *out, size_t max);

#ifdef __cplusplus
}
#endif
#endif
