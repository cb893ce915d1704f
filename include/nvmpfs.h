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
	uint32_t reserved0;
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
	uint64_t reserved[4];
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

/* ---- the library ---- */

/* Maps len bytes of fd at offset off (shared, read-write) and records it. */
void *nvmpfs_map(int fd, size_t len, off_t off);
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

/* Address ranges inside mappings made with nvmpfs_map. */
struct nvmpfs_addr_range {
	const void *addr;
	size_t len;
};
int nvmpfs_optimized_flush_addr(const struct nvmpfs_addr_range *ranges,
				size_t count);

int nvmpfs_get_attributes(int fd, struct nvmpfs_attributes *attrs);
/* Copies up to max known bad ranges; returns how many there are, or -1. */
ssize_t nvmpfs_bad_ranges(int fd, struct nvmpfs_range *out, size_t max);

#ifdef __cplusplus
}
#endif
#endif
