/*
 * The nvmpfs file-system core: the operations the FUSE layer (and the unit
 * tests) call.  It knows nothing of FUSE.  Calls may come from many
 * threads at once: each locks the inodes it works on (see fs.h), so calls
 * on different files run in parallel.  Every call that changes the file
 * system has made its change durable when it returns.  Errors are returned
 * as negative errno values.  Attributes use struct stat; inode numbers are
 * the pool's (1 is the root).
 */
#ifndef NVMPFS_NVFS_H
#define NVMPFS_NVFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

struct nvfs;
struct icache_ent;
struct iovec;

/*
 * Who asks: the credentials of the calling process.  uid and gid are the
 * file-system ids.  The two callbacks are optional and consulted only when
 * a set-ID decision needs them (they may be slow): whether the caller is
 * in a group (supplementary groups included; NULL: only gid counts) and
 * whether it holds CAP_FSETID (NULL: only uid 0 does).  caller is theirs.
 */
struct nvfs_ctx {
	uid_t uid;
	gid_t gid;
	mode_t umask;
	bool (*in_group)(const struct nvfs_ctx *ctx, gid_t gid);
	bool (*has_fsetid)(const struct nvfs_ctx *ctx);
	void *caller;
};

struct nvfs_mount_opts {
	bool read_only;
	bool no_csum;           /* do not checksum written blocks */
	bool no_verify;         /* do not check checksums on read */
	bool no_acl;            /* refuse POSIX ACLs (mount -o noacl) */
	bool create;            /* create and format the pool if missing */
	uint64_t create_size;   /* size of a pool made here */
	int atime_mode;         /* NVFS_ATIME_* */
	bool no_diratime;       /* directory listings leave access times */
	bool mirrored;          /* a mirror is configured: every change is
				   replicated or marked out of sync */
};

enum { NVFS_ATIME_RELATIME = 0, NVFS_ATIME_NOATIME, NVFS_ATIME_STRICT };

/* What a mount found and did; filled by nvfs_mount. */
struct nvfs_mount_report {
	bool created;           /* the pool was made by this call */
	bool was_clean;         /* the last unmount was tidy */
	int undone_records;     /* journal records rolled back */
	uint64_t orphans_freed; /* unlinked inodes reclaimed */
	uint64_t truncates_finished;
	bool allocator_rebuilt; /* from the block maps, after a crash */
	uint64_t blocks_recounted; /* inodes whose block count was off */
	uint64_t torn_blocks;   /* blocks a crash cut in the middle of a
				   write: left unverified */
	uint64_t creates_settled; /* creates a crash cut short, undone
				     (naming.h) */
};

/* Errors: -EBUSY when another process holds the pool, else -EIO/-ENOMEM. */
int nvfs_mount(const char *pool_path, const struct nvfs_mount_opts *opts,
	       struct nvfs **out, struct nvfs_mount_report *report,
	       char *err, size_t errlen);
/* Flushes everything, marks the pool clean, closes it. */
void nvfs_unmount(struct nvfs *fs);
/*
 * What nvfs_unmount writes, now (nothing may change the pool after it):
 * for a daemon whose mirror must see the pool clean before it goes.
 */
void nvfs_make_clean(struct nvfs *fs);
/*
 * Starts serving: maps the whole pool now (see pool_populate) and starts
 * the background thread (freeing big dead files, cooling the write-intent
 * map).  Call it in the process that serves, after daemonizing: threads
 * do not survive fork.
 */
void nvfs_start(struct nvfs *fs);
/*
 * mount -o remount,ro / rw: read-only, every change fails with -EROFS and
 * the pool is made durable and marked clean; back to read-write it is
 * marked mounted again.  -EROFS for rw when the pool was mounted
 * read-only (opened read-only, mapped privately).
 */
int nvfs_set_read_only(struct nvfs *fs, bool ro);
/* Forgets the pool without marking it clean (tests: simulate a kill). */
void nvfs_abandon(struct nvfs *fs);

/* Names and lookups.  Calls that return an inode take a lookup reference. */
int nvfs_lookup(struct nvfs *fs, uint64_t parent, const char *name,
		struct stat *st);
void nvfs_forget(struct nvfs *fs, uint64_t ino, uint64_t nlookup);
int nvfs_getattr(struct nvfs *fs, uint64_t ino, struct stat *st);
/* Generation of an inode number (for file handles and NFS export). */
uint64_t nvfs_generation(struct nvfs *fs, uint64_t ino);

/* What setattr changes. */
#define NVFS_SET_MODE  (1 << 0)
#define NVFS_SET_UID   (1 << 1)
#define NVFS_SET_GID   (1 << 2)
#define NVFS_SET_SIZE  (1 << 3)
#define NVFS_SET_ATIME (1 << 4)
#define NVFS_SET_MTIME (1 << 5)
#define NVFS_SET_ATIME_NOW (1 << 7)
#define NVFS_SET_MTIME_NOW (1 << 8)
#define NVFS_SET_CTIME (1 << 10)
int nvfs_setattr(struct nvfs *fs, uint64_t ino, const struct stat *attr,
		 int to_set, struct stat *st);

int nvfs_mknod(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
	       const char *name, mode_t mode, dev_t rdev, struct stat *st);
int nvfs_mkdir(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
	       const char *name, mode_t mode, struct stat *st);
int nvfs_symlink(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
		 const char *name, const char *target, struct stat *st);
int nvfs_link(struct nvfs *fs, uint64_t ino, uint64_t newparent,
	      const char *newname, struct stat *st);
int nvfs_unlink(struct nvfs *fs, uint64_t parent, const char *name);
int nvfs_rmdir(struct nvfs *fs, uint64_t parent, const char *name);
#define NVFS_RENAME_NOREPLACE (1 << 0)
#define NVFS_RENAME_EXCHANGE  (1 << 1)
int nvfs_rename(struct nvfs *fs, uint64_t parent, const char *name,
		uint64_t newparent, const char *newname, unsigned flags);
/* Copies the target (NUL-terminated) into buf; returns its length. */
int nvfs_readlink(struct nvfs *fs, uint64_t ino, char *buf, size_t size);

/* Open files: an inode stays while it is open, even once unlinked. */
int nvfs_open(struct nvfs *fs, uint64_t ino, int flags);
/*
 * Moves a file's access time to now when the mount's rule (relatime,
 * strictatime, noatime) says a read now would; true when it moved.  The
 * FUSE layer calls it when a file is opened read-only: reads served from
 * the kernel's page cache never reach the daemon.
 */
bool nvfs_touch_atime(struct nvfs *fs, uint64_t ino);
int nvfs_release(struct nvfs *fs, uint64_t ino);
ssize_t nvfs_read(struct nvfs *fs, uint64_t ino, void *buf, size_t size,
		  uint64_t off);
/*
 * A read without a copy: iov[0..niov) are the file's bytes, pointers into
 * the pool (already checked against their checksums) and into a block of
 * zeros for holes.  They stay valid, and the file's blocks in place, until
 * nvfs_read_end: reply with them in between.
 */
struct nvfs_read {
	struct icache_ent *ent;  /* the file, held shared */
	struct iovec *iov;
	size_t niov, cap;
	size_t bytes;
	bool touch_atime;
};
int nvfs_read_begin(struct nvfs *fs, uint64_t ino, size_t size, uint64_t off,
		    struct nvfs_read *r);
void nvfs_read_end(struct nvfs *fs, struct nvfs_read *r);
ssize_t nvfs_write(struct nvfs *fs, uint64_t ino, const void *buf,
		   size_t size, uint64_t off);
/* What a change that may cost a file its set-ID bits is (fs/core/setid.c). */
enum nvfs_change {
	NVFS_CHANGE_DATA,   /* write, truncate, fallocate, open with O_TRUNC */
	NVFS_CHANGE_OWNER,  /* chown or chgrp */
	NVFS_CHANGE_ACL,    /* setting or removing an access ACL */
};
/*
 * Before a change of data or owner by ctx: drops the set-user-ID and
 * set-group-ID bits Linux drops for it (fs/core/setid.c), and
 * security.capability, in one transaction.  *dropped (may be NULL) gets
 * the mode bits taken away.  (ACL changes apply the rule themselves.)
 */
int nvfs_kill_priv(struct nvfs *fs, uint64_t ino, const struct nvfs_ctx *ctx,
		   enum nvfs_change why, uint32_t *dropped);
/* Makes the file's data (and, unless datasync, its metadata) durable. */
int nvfs_fsync(struct nvfs *fs, uint64_t ino, bool datasync);
int nvfs_fallocate(struct nvfs *fs, uint64_t ino, int mode, uint64_t off,
		   uint64_t len);
/* SEEK_DATA / SEEK_HOLE; returns the offset or a negative errno. */
int64_t nvfs_lseek(struct nvfs *fs, uint64_t ino, int64_t off, int whence);

/*
 * Directory listing from cookie `off` (0 for the start).  The callback gets
 * each entry and the cookie of the entry after it; it returns non-zero to
 * stop (the entry it was given is then not consumed).
 */
typedef int (*nvfs_dirent_cb)(void *arg, const char *name, size_t name_len,
			      uint64_t ino, unsigned type, uint64_t next_off);
int nvfs_opendir(struct nvfs *fs, uint64_t ino);
int nvfs_readdir(struct nvfs *fs, uint64_t ino, uint64_t off,
		 nvfs_dirent_cb cb, void *arg);

/*
 * Extended attributes.  Values up to NVFS_XATTR_SIZE_MAX bytes, names up
 * to 255; ctx is who asks (an access ACL set or removed by a caller
 * outside the file's group clears set-group-ID, see fs/core/setid.c).
 */
#define NVFS_XATTR_SIZE_MAX 65536u
int nvfs_setxattr(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t ino,
		  const char *name, const void *value, size_t size, int flags);
/* Returns the value size; copies it when size is large enough (else -ERANGE). */
ssize_t nvfs_getxattr(struct nvfs *fs, uint64_t ino, const char *name,
		      void *value, size_t size);
ssize_t nvfs_listxattr(struct nvfs *fs, uint64_t ino, char *list, size_t size);
int nvfs_removexattr(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t ino,
		     const char *name);

int nvfs_statfs(struct nvfs *fs, struct statvfs *st);
/* Makes everything durable (syncfs). */
int nvfs_syncfs(struct nvfs *fs);

/* Counters for nvmpfsctl and tests. */
struct nvfs_stats {
	uint64_t drains;          /* persist points that persisted something */
	uint64_t background_drains; /* of them, the background thread's */
	uint64_t syncs;           /* fdatasyncs of the pool file (msync mode) */
	uint64_t hot_extents;     /* write-intent extents marked now */
	uint64_t commits;         /* metadata transactions */
	uint64_t writes;
	uint64_t bytes_written;
	uint64_t fsyncs;
	uint64_t sync_points;     /* fsync, library flushes, syncfs */
	uint64_t sync_drains;     /* drains issued by sync points */
	uint64_t ranges_flushed;  /* by sync points */
	uint64_t bytes_flushed;
	uint64_t blocks_verified;
	uint64_t verify_failures;
	uint64_t blocks_healed;   /* bad blocks rewritten from the mirror */
	uint64_t sync_ns;         /* time spent inside sync points */
};

/* A byte range of a file. */
struct nvfs_range {
	uint64_t off;
	uint64_t len;
};

#define NVFS_FLUSH_VERIFY (1u << 0) /* read back and check after the drain */
#define NVFS_FLUSH_CLAMP  (1u << 1) /* cut ranges at EOF instead of failing */

/* Long calls ask stop(arg) now and then and give up with -EINTR. */
struct nvfs_cancel {
	bool (*stop)(void *arg);
	void *arg;
};

/*
 * OptimizedFlush of ranges of a file: every range flushed, their pending
 * checksums stored, one drain.  With NVFS_FLUSH_VERIFY the blocks are then
 * read back and checked; ranges that fail are written to failed (at most
 * max_failed, merged) and *nfailed says how many there were.  Errors:
 * -EINVAL for a range past EOF (unless NVFS_FLUSH_CLAMP) or overflowing,
 * -EISDIR/-EINVAL for what is not a regular file, -EOPNOTSUPP for verify
 * on a mount without checksums.
 */
int nvfs_flush(struct nvfs *fs, uint64_t ino, const struct nvfs_range *ranges,
	       size_t count, unsigned flags, struct nvfs_range *failed,
	       size_t max_failed, size_t *nfailed,
	       const struct nvfs_cancel *cancel);

/*
 * Verifies up to max_blocks mapped blocks of a file from *lblk (holes are
 * skipped and cost nothing); moves *lblk on.
 */
struct nvfs_scrub_result {
	uint64_t blocks_checked;
	uint64_t blocks_unverified;  /* no checksum recorded */
	uint64_t mismatches;
	uint64_t healed;             /* of the mismatches, healed */
	bool done;                   /* reached the end of the file */
};
int nvfs_scrub(struct nvfs *fs, uint64_t ino, uint64_t *lblk,
	       uint64_t max_blocks, struct nvfs_scrub_result *res);

/* Known bad ranges of a file: copies up to max, returns how many there are. */
ssize_t nvfs_bad_ranges(struct nvfs *fs, uint64_t ino, struct nvfs_range *out,
			size_t max);
/*
 * Waits until the background thread has freed every dead file queued to
 * it; false when nothing was queued (for a call that ran out of space).
 */
bool nvfs_wait_reclaim(struct nvfs *fs);
void nvfs_get_stats(struct nvfs *fs, struct nvfs_stats *st);
/*
 * Turns on POSIX ACLs: system.posix_acl_* attributes are kept, new inodes
 * inherit default ACLs, and the caller's umask (nvfs_ctx) is applied here
 * (the FUSE layer calls it when the kernel agrees to FUSE_CAP_POSIX_ACL
 * and FUSE_CAP_DONT_MASK).
 */
void nvfs_enable_acls(struct nvfs *fs);
bool nvfs_acls_disabled(struct nvfs *fs);
/* The mount's NVFS_ATIME_* mode. */
int nvfs_atime_mode(struct nvfs *fs);
/* Whether written blocks get checksums (FlushAndVerify possible). */
bool nvfs_checksums_on(struct nvfs *fs);
/* How the pool persists: "pmem", "pmem-forced" or "msync". */
const char *nvfs_pool_mode(struct nvfs *fs);
/* Where problems found while serving are reported (default: stderr). */
void nvfs_set_log(struct nvfs *fs, void (*log)(const char *msg));
/* Reports a line there. */
void nvfs_say(struct nvfs *fs, const char *msg);

/* ---- for the mirror (mirror/sender.c) ---- */
struct pool;
struct pool_range;
/* See pool_persist_hook in fs/core/pool.h: called with every drain's ranges. */
void nvfs_set_persist_hook(struct nvfs *fs,
			   int (*hook)(void *arg, struct pool *pool,
				       const struct pool_range *ranges,
				       size_t count, uint64_t *seq),
			   void *arg);
/*
 * Self-heal: fetch(arg, pblk, buf) copies the other copy of pool block
 * pblk (4096 bytes) into buf, or fails (negative errno).  A block that
 * fails its checksum on read, verify or scrub is then fetched, and
 * written back in place when the copy has the recorded checksum.  fetch
 * is called with the file held exclusively: it must not call back in.
 */
/*
 * hook() is called by a thread of the core (or of the mirror) about to
 * wait for something other than its own work: an fdatasync shared with
 * other callers, a freeze, the reclaim thread, the mirror's answer.  The
 * FUSE layer then lets another thread read requests (fs/workers.h).
 * Process-wide; NULL (the default) calls nothing.
 */
void nvfs_set_wait_hook(void (*hook)(void));
void nvfs_about_to_wait(void);

void nvfs_set_healer(struct nvfs *fs,
		     int (*fetch)(void *arg, uint64_t pblk, void *buf),
		     void *arg);
/*
 * The pool blocks of ranges of a file with their recorded checksums, for
 * a check of another copy (mirror verify): *out gets a malloc'd array of
 * *n (pool block, checksum) pairs; blocks without a checksum are left
 * out.  Ranges are cut at EOF.
 */
struct nvfs_block_sum {
	uint64_t off;            /* file offset of the block */
	uint64_t pblk;
	uint64_t sum;
};
int nvfs_block_sums(struct nvfs *fs, uint64_t ino,
		    const struct nvfs_range *ranges, size_t count,
		    struct nvfs_block_sum **out, size_t *n);
/* Who the pool is: what a mirror's handshake compares. */
struct nvfs_identity {
	uint8_t uuid[16];
	uint64_t block_count;
	uint64_t pool_size;
	uint64_t epoch;
	uint64_t generation;
	uint64_t epoch_tag;
	uint64_t repl_token;
	uint64_t oos_start, oos_blocks;  /* the out-of-sync map: never sent */
};
void nvfs_identity(struct nvfs *fs, struct nvfs_identity *id);
/* The pool's bytes (read-only use: copying blocks to the mirror). */
const uint8_t *nvfs_pool_bytes(struct nvfs *fs);
/* The newest batch's sequence number (what a sync point waits for). */
uint64_t nvfs_last_seq(struct nvfs *fs);
/* This thread's newest batch (what mirror_sync=all waits for). */
uint64_t nvfs_thread_seq(void);
/*
 * The out-of-sync map (fs/core/oos.c): blocks whose last change may not be on
 * the mirror.  Marking is durable when the call returns.
 */
int nvfs_oos_mark(struct nvfs *fs, const struct pool_range *ranges,
		  size_t count);
void nvfs_oos_clear(struct nvfs *fs, uint64_t blk, uint64_t count);
bool nvfs_oos_next(struct nvfs *fs, uint64_t from, uint64_t *blk);
uint64_t nvfs_oos_count(struct nvfs *fs);
/*
 * The file nvmpfs-mirror keeps beside a pool while a resync runs (the
 * pool is then no consistent image of its primary): POOL.resyncing.
 * nvmpfs refuses to mount such a pool read-write, promote refuses it.
 */
void nvfs_resync_marker(const char *pool_path, char *out, size_t outlen);
/* Marks every block of the pool (a full resync begins), durably. */
int nvfs_oos_mark_all(struct nvfs *fs);
/* The checksum recorded for pool block pblk (0: none). */
uint64_t nvfs_block_csum(struct nvfs *fs, uint64_t pblk);
/* Whether block blk is marked out of sync. */
bool nvfs_oos_test(struct nvfs *fs, uint64_t blk);

#endif
