/*
 * Reading file data: the bytes are handed out as pointers into the pool
 * (and into a block of zeros for holes), checked against their checksums
 * first, while the inode is held shared -- so the FUSE layer replies
 * straight from pool memory with no copy, and a concurrent truncate cannot
 * free the blocks under the reply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "file.h"

/* Holes are read from here, in pieces of this size. */
#define ZERO_CHUNK (128u * 1024u)
static const uint8_t zeros[ZERO_CHUNK];

struct nvmpfs_inode *file_live(struct nvfs *fs, uint64_t ino, int *rc)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode) {
		*rc = -ENOENT;
		return NULL;
	}
	if (S_ISDIR(inode->mode)) {
		*rc = -EISDIR;
		return NULL;
	}
	if (!S_ISREG(inode->mode)) {
		*rc = -EINVAL;
		return NULL;
	}
	return inode;
}

void file_note_bad_block(struct nvfs *fs, struct icache_ent *ent,
			 uint64_t lblk, uint64_t pblk, const char *found_by)
{
	STAT_ADD(fs, verify_failures, 1);
	nvfs_log(fs, "%s: checksum mismatch: inode %llu, offset %llu, length %u "
		 "(pool block %llu): %s", found_by,
		 (unsigned long long)ent->ino, (unsigned long long)(lblk * BS),
		 BS, (unsigned long long)pblk,
		 heal_possible(fs) ? "healing it from the mirror"
				   : "reads of it fail with EIO");
	pthread_mutex_lock(&ent->list_mu);
	range_list_add(&ent->bad, lblk * BS, BS);
	pthread_mutex_unlock(&ent->list_mu);
}

void file_forget_healed(struct icache_ent *ent, uint64_t off, uint64_t len)
{
	uint64_t from = blocks_to_cover(off) * BS, to = (off + len) / BS * BS;
	pthread_mutex_lock(&ent->list_mu);
	if (ent->bad.n && from < to)
		range_list_subtract(&ent->bad, from, to - from);
	pthread_mutex_unlock(&ent->list_mu);
}

/* Whether no access time moves on this mount now. */
static bool atime_never(const struct nvfs *fs)
{
	return fs_is_read_only(fs) || fs->atime_mode == NVFS_ATIME_NOATIME;
}

/* relatime: update atime when it is older than mtime/ctime or a day old. */
bool file_atime_wanted(const struct nvfs *fs, const struct nvmpfs_inode *inode)
{
	if (atime_never(fs))
		return false;
	if (fs->atime_mode == NVFS_ATIME_STRICT)
		return true;
	struct nvmpfs_time now;
	inode_now(&now);
	const struct nvmpfs_time *a = &inode->atime;
	bool older_than_m = a->sec < inode->mtime.sec ||
			    (a->sec == inode->mtime.sec && a->nsec <= inode->mtime.nsec);
	bool older_than_c = a->sec < inode->ctime.sec ||
			    (a->sec == inode->ctime.sec && a->nsec <= inode->ctime.nsec);
	return older_than_m || older_than_c || now.sec - a->sec >= 24 * 3600;
}

/*
 * Access times are not worth a drain of their own (nor is a journal: two
 * 8-byte stores, each atomic): they become durable with this thread's
 * next drain, as lazytime would have it.
 */
void file_touch_atime(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	struct nvmpfs_time now;
	inode_now(&now);
	inode_store_time(fs, &inode->atime, &now);
}

/* ---- the read itself ---- */

static int add_iov(struct nvfs_read *r, const void *base, size_t len)
{
	if (r->niov > 0) {
		struct iovec *last = &r->iov[r->niov - 1];
		if ((const uint8_t *)last->iov_base + last->iov_len ==
		    (const uint8_t *)base && base != zeros) {
			last->iov_len += len;
			r->bytes += len;
			return 0;
		}
	}
	if (r->niov == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct iovec *iov = realloc(r->iov, cap * sizeof(*iov));
		if (!iov)
			return -ENOMEM;
		r->iov = iov;
		r->cap = cap;
	}
	r->iov[r->niov++] = (struct iovec){ (void *)base, len };
	r->bytes += len;
	return 0;
}

static int add_zeros(struct nvfs_read *r, size_t len)
{
	while (len) {
		size_t n = len < ZERO_CHUNK ? len : ZERO_CHUNK;
		int rc = add_iov(r, zeros, n);
		if (rc)
			return rc;
		len -= n;
	}
	return 0;
}

/*
 * Checks the blocks of a run a read touches; false at the first bad one
 * (its file block in *bad).
 */
static bool run_verifies(struct nvfs *fs, struct icache_ent *ent,
			 uint64_t lblk, uint64_t pblk, uint64_t n,
			 uint64_t *bad)
{
	if (!fs->verify_reads)
		return true;
	for (uint64_t i = 0; i < n; i++)
		if (csum_check_block(fs, pblk + i) < 0) {
			file_note_bad_block(fs, ent, lblk + i, pblk + i, "read");
			*bad = lblk + i;
			return false;
		}
	return true;
}

static int map_range(struct nvfs *fs, struct icache_ent *ent,
		     const struct nvmpfs_inode *inode, size_t size,
		     uint64_t off, struct nvfs_read *r, uint64_t *bad)
{
	size_t done = 0;
	while (done < size) {
		uint64_t pos = off + done;
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, block_of(pos), &run);
		uint64_t in_run = run * BS - pos % BS;
		size_t n = size - done < in_run ? size - done : (size_t)in_run;
		/*
		 * The whole request fails: a short read would tell the kernel
		 * the file ends there.  It then reads page by page, and only
		 * the bad block's page fails.
		 */
		if (pblk && !run_verifies(fs, ent, block_of(pos), pblk,
					  blocks_to_cover(pos % BS + n), bad))
			return -EIO;
		int rc = pblk ? add_iov(r, (uint8_t *)pool_block(fs->pool, pblk) +
					       pos % BS, n)
			      : add_zeros(r, n);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

/* Blocks one read may heal before it gives up with EIO. */
#define READ_HEALS 16

/* One try: the mapping of the request, with the file held shared. */
static int read_try(struct nvfs *fs, uint64_t ino, size_t size, uint64_t off,
		    struct nvfs_read *r, uint64_t *bad)
{
	memset(r, 0, sizeof(*r));
	struct icache_ent *ent = ilock(fs, ino, false);
	if (!ent)
		return -ENOMEM;
	int rc = 0;
	struct nvmpfs_inode *inode = file_live(fs, ino, &rc);
	if (inode && off < inode->size) {
		if (size > inode->size - off)
			size = (size_t)(inode->size - off);
		rc = map_range(fs, ent, inode, size, off, r, bad);
	}
	if (rc) {
		iunlock(fs, ent);
		free(r->iov);
		memset(r, 0, sizeof(*r));
		return rc;
	}
	r->ent = ent;
	r->touch_atime = file_atime_wanted(fs, inode);
	return 0;
}

/* Whether the file's access time is due (a shared look, before the change). */
static bool atime_due(struct nvfs *fs, uint64_t ino)
{
	if (atime_never(fs))
		return false;
	struct icache_ent *ent = ilock(fs, ino, false);
	if (!ent)
		return false;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	bool due = inode && file_atime_wanted(fs, inode);
	iunlock(fs, ent);
	return due;
}

/* Moves the access time of a file found due (checked again, held). */
static bool touch_now(struct nvfs *fs, uint64_t ino)
{
	if (change_begin(fs))
		return false;
	bool moved = false;
	struct icache_ent *ent = ilock(fs, ino, true);
	if (ent) {
		struct nvmpfs_inode *inode = inode_live(fs, ino);
		moved = inode && file_atime_wanted(fs, inode);
		if (moved)
			file_touch_atime(fs, inode);
		iunlock(fs, ent);
	}
	change_end(fs);
	return moved;
}

bool nvfs_touch_atime(struct nvfs *fs, uint64_t ino)
{
	return atime_due(fs, ino) && touch_now(fs, ino);
}

/* Lets go of the file and the vector (no access time). */
static void release_read(struct nvfs_read *r, struct nvfs *fs)
{
	if (r->ent)
		iunlock(fs, r->ent);
	free(r->iov);
	memset(r, 0, sizeof(*r));
}

/*
 * A block that fails its checksum is healed from the mirror when there is
 * one (the file held exclusively for that), and the read tried again.
 * The access time moves before the data is handed out, so that a stat
 * after the read returns sees it: when the mapping finds it due, the file
 * is let go, its access time moved, and the mapping made again.
 */
int nvfs_read_begin(struct nvfs *fs, uint64_t ino, size_t size, uint64_t off,
		    struct nvfs_read *r)
{
	bool touched = false;
	for (int heals = 0;;) {
		uint64_t bad = UINT64_MAX;
		int rc = read_try(fs, ino, size, off, r, &bad);
		if (rc == -EIO && bad != UINT64_MAX && heals < READ_HEALS &&
		    heal_possible(fs) && heal_block(fs, ino, bad) == 0) {
			heals++;
			continue;
		}
		if (rc || !r->touch_atime || touched) {
			r->touch_atime = false;
			return rc;
		}
		release_read(r, fs);
		touch_now(fs, ino);  /* found due under the lock just let go */
		touched = true;
	}
}

void nvfs_read_end(struct nvfs *fs, struct nvfs_read *r)
{
	release_read(r, fs);
}

ssize_t nvfs_read(struct nvfs *fs, uint64_t ino, void *buf, size_t size,
		  uint64_t off)
{
	struct nvfs_read r;
	int rc = nvfs_read_begin(fs, ino, size, off, &r);
	if (rc)
		return rc;
	size_t done = 0;
	for (size_t i = 0; i < r.niov; i++) {
		memcpy((uint8_t *)buf + done, r.iov[i].iov_base, r.iov[i].iov_len);
		done += r.iov[i].iov_len;
	}
	nvfs_read_end(fs, &r);
	return (ssize_t)done;
}
