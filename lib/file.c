/*
 * File data: read, write, truncate, fallocate, SEEK_DATA/SEEK_HOLE.
 *
 * Data is copied into the pool in place with libpmem's non-temporal copy;
 * the block-map and size changes of the same call go in one transaction, so
 * a write's one drain (at commit) makes both durable.  Blocks given to a
 * file are zeroed where the write does not cover them, and every byte at or
 * past a file's size reads as zero (truncate and punch keep it so), which
 * is what makes extending a file by changing its size alone correct.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define BS NVMPFS_BLOCK_SIZE
/* Largest file: what a tree of the greatest height maps. */
#define MAX_FILE_SIZE ((1ull << (NVMPFS_MAP_SHIFT * NVMPFS_MAP_MAX_HEIGHT)) * BS)
/* Commit a long operation before the journal has less room than this. */
#define STEP_ROOM (64u * 1024u)

static uint64_t block_of(uint64_t off) { return off / BS; }
static uint64_t blocks_to_cover(uint64_t bytes) { return (bytes + BS - 1) / BS; }

void file_note_dirty(struct nvfs *fs, uint64_t ino, uint64_t off, uint64_t len)
{
	struct icache_ent *ent = icache_get(fs, ino, true);
	/* Without memory the ranges are lost, not the data (already durable);
	 * their checksums then wait for syncfs or unmount. */
	if (ent)
		range_list_add(&ent->dirty, off, len);
}

static struct nvmpfs_inode *live_file(struct nvfs *fs, uint64_t ino, int *rc)
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

/* relatime: update atime when it is older than mtime/ctime or a day old. */
static bool atime_wanted(const struct nvfs *fs, const struct nvmpfs_inode *inode)
{
	if (fs->read_only || fs->atime_mode == NVFS_ATIME_NOATIME)
		return false;
	if (fs->no_diratime && S_ISDIR(inode->mode))
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

void file_update_atime(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	if (!atime_wanted(fs, inode))
		return;
	tx_begin(&fs->j);
	if (inode_log(fs, inode)) {
		fs_abort(fs);
		return;
	}
	inode_now(&inode->atime);
	tx_commit(&fs->j);
}

void file_note_bad_block(struct nvfs *fs, uint64_t ino, uint64_t lblk,
			 uint64_t pblk, const char *found_by)
{
	struct icache_ent *ent = icache_get(fs, ino, true);
	fs->stats.verify_failures++;
	nvfs_log(fs, "%s: checksum mismatch: inode %llu, offset %llu, length %u "
		 "(pool block %llu): reads of it fail with EIO", found_by,
		 (unsigned long long)ino, (unsigned long long)(lblk * BS), BS,
		 (unsigned long long)pblk);
	if (ent)
		range_list_add(&ent->bad, lblk * BS, BS);
}

/* Checks the blocks of a run a read touches; the first bad one, or -1. */
static int64_t first_bad_block(struct nvfs *fs, uint64_t ino, uint64_t lblk,
			       uint64_t pblk, uint64_t n)
{
	if (!fs->verify_reads)
		return -1;
	for (uint64_t i = 0; i < n; i++)
		if (csum_check_block(fs, pblk + i) < 0) {
			file_note_bad_block(fs, ino, lblk + i, pblk + i, "read");
			return (int64_t)i;
		}
	return -1;
}

static ssize_t read_locked(struct nvfs *fs, uint64_t ino,
			   struct nvmpfs_inode *inode, uint8_t *buf,
			   size_t size, uint64_t off)
{
	if (off >= inode->size)
		return 0;
	if (size > inode->size - off)
		size = (size_t)(inode->size - off);
	size_t done = 0;
	while (done < size) {
		uint64_t pos = off + done;
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, block_of(pos), &run);
		uint64_t in_run = run * BS - pos % BS;
		size_t n = size - done < in_run ? size - done : (size_t)in_run;
		int64_t bad = pblk ? first_bad_block(fs, ino, block_of(pos), pblk,
						     blocks_to_cover(pos % BS + n))
				   : -1;
		/*
		 * The whole request fails: a short read would tell the kernel
		 * the file ends there.  It then reads page by page, and only
		 * the bad block's page fails.
		 */
		if (bad >= 0)
			return -EIO;
		if (pblk)
			memcpy(buf + done,
			       (uint8_t *)pool_block(fs->pool, pblk) + pos % BS, n);
		else
			memset(buf + done, 0, n);
		done += n;
	}
	return (ssize_t)done;
}

ssize_t nvfs_read(struct nvfs *fs, uint64_t ino, void *buf, size_t size,
		  uint64_t off)
{
	int rc = 0;
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = live_file(fs, ino, &rc);
	ssize_t n = inode ? read_locked(fs, ino, inode, buf, size, off) : rc;
	if (inode)
		file_update_atime(fs, inode);
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/*
 * Around an in-place change of n blocks at pblk: the stored checksums are
 * cleared (and that made durable) before, pending ones computed after.
 */
static void change_begin(struct nvfs *fs, uint64_t pblk, uint64_t n)
{
	if (csum_begin_change(fs, pblk, n))
		pool_drain(fs->pool);
}

static void change_end(struct nvfs *fs, uint64_t pblk, uint64_t n)
{
	csum_note_changed(fs, pblk, n);
}

/* Zeroes the parts of fresh blocks [pblk, pblk+n) outside [from, to). */
static void zero_uncovered(struct nvfs *fs, uint64_t pblk, uint64_t lblk,
			   uint64_t n, uint64_t from, uint64_t to)
{
	uint64_t start = lblk * BS, end = (lblk + n) * BS;
	uint64_t base = pblk * BS;
	if (from > start)
		pool_zero(fs->pool, base, from - start);
	if (to < end)
		pool_zero(fs->pool, base + (to - start), end - to);
}

/*
 * Checksums of the blocks a copy touched.  Whole blocks are hashed from
 * the caller's buffer, still in the CPU cache, rather than read back from
 * the pool just written with non-temporal stores; partly written blocks
 * are hashed from the pool.
 */
static void note_sums(struct nvfs *fs, uint64_t pblk, uint64_t nblocks,
		      uint64_t pos, uint64_t n, const uint8_t *src)
{
	static uint64_t zero_sum;
	if (!fs->csum_on)
		return;
	uint64_t base = pos / BS * BS; /* file offset of block pblk */
	for (uint64_t i = 0; i < nblocks; i++) {
		uint64_t start = base + i * BS;
		bool whole = start >= pos && start + BS <= pos + n;
		if (!whole) {
			csum_note_changed(fs, pblk + i, 1);
		} else if (src) {
			csum_note_sum(fs, pblk + i, csum_of_buffer(src + (start - pos)));
		} else {
			if (!zero_sum) {
				static const uint8_t zeros[BS];
				zero_sum = csum_of_buffer(zeros);
			}
			csum_note_sum(fs, pblk + i, zero_sum);
		}
	}
}

/*
 * A write that keeps part of a block must not fold damaged bytes into the
 * block's new checksum: such a block is checked first (whole-block writes
 * need no check, they replace everything and so heal a bad block).
 */
static bool kept_part_is_bad(struct nvfs *fs, uint64_t pblk, uint64_t pos,
			     uint64_t n)
{
	if (!fs->csum_on)
		return false;
	uint64_t first = pos % BS, last_end = (pos % BS + n) % BS;
	uint64_t nblocks = blocks_to_cover(pos % BS + n);
	if (first && csum_check_block(fs, pblk) < 0)
		return true;
	if (last_end && (nblocks > 1 || !first) &&
	    csum_check_block(fs, pblk + nblocks - 1) < 0)
		return true;
	return false;
}

/*
 * Maps and fills [off, off+len) from buf (or with zeros when buf is NULL).
 * Returns bytes done (maybe short at ENOSPC) or a negative errno if none.
 */
static ssize_t fill_range(struct nvfs *fs, struct nvmpfs_inode *inode,
			  const uint8_t *buf, uint64_t off, uint64_t len)
{
	uint64_t done = 0;
	while (done < len) {
		if (tx_room(&fs->j) < STEP_ROOM) {
			/* A long write commits in steps; the size follows. */
			if (off + done > inode->size)
				inode->size = off + done;
			tx_commit(&fs->j);
			tx_begin(&fs->j);
			int rc = inode_log(fs, inode);
			if (rc)
				return done ? (ssize_t)done : rc;
		}
		uint64_t pos = off + done;
		uint64_t lblk = block_of(pos);
		uint64_t want = blocks_to_cover(pos % BS + (len - done));
		uint64_t pblk, got;
		bool fresh;
		int rc = bmap_map(fs, inode, lblk, want, &pblk, &got, &fresh);
		if (rc)
			return done ? (ssize_t)done : rc;
		uint64_t in_run = got * BS - pos % BS;
		uint64_t n = len - done < in_run ? len - done : in_run;
		if (fresh)
			zero_uncovered(fs, pblk, lblk, got, pos, pos + n);
		uint64_t at = pblk * BS + pos % BS;
		uint64_t touched = blocks_to_cover(pos % BS + n);
		if (!fresh && kept_part_is_bad(fs, pblk, pos, n))
			return done ? (ssize_t)done : -EIO;
		if (!fresh)
			change_begin(fs, pblk, touched);
		if (buf)
			pool_copy(fs->pool, at, buf + done, n);
		else
			pool_zero(fs->pool, at, n);
		note_sums(fs, pblk, touched, pos, n, buf ? buf + done : NULL);
		done += n;
	}
	return (ssize_t)done;
}

/* Whole blocks just rewritten are bad no more. */
static void forget_healed(struct nvfs *fs, uint64_t ino, uint64_t off,
			  uint64_t len)
{
	struct icache_ent *ent = icache_get(fs, ino, false);
	uint64_t from = blocks_to_cover(off) * BS, to = (off + len) / BS * BS;
	if (ent && ent->bad.n && from < to)
		range_list_subtract(&ent->bad, from, to - from);
}

ssize_t nvfs_write(struct nvfs *fs, uint64_t ino, const void *buf,
		   size_t size, uint64_t off)
{
	int rc = 0;
	if (off >= MAX_FILE_SIZE || size > MAX_FILE_SIZE - off)
		return -EFBIG;
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = live_file(fs, ino, &rc);
	if (!inode)
		goto out;
	if (fs->read_only) {
		rc = -EROFS;
		goto out;
	}
	tx_begin(&fs->j);
	if ((rc = inode_log(fs, inode))) {
		fs_abort(fs);
		goto out;
	}
	ssize_t n = fill_range(fs, inode, buf, off, size);
	if (n <= 0 && size > 0) {
		fs_abort(fs);
		file_zero_past_eof(fs, ino);
		rc = (int)n;
		goto out;
	}
	if (off + (uint64_t)n > inode->size)
		inode->size = off + (uint64_t)n;
	inode_touch(inode, true, true);
	tx_commit(&fs->j); /* one drain: data, map and size together */
	csum_persist_all(fs);
	file_note_dirty(fs, ino, off, (uint64_t)n);
	forget_healed(fs, ino, off, (uint64_t)n);
	fs->stats.writes++;
	fs->stats.bytes_written += (uint64_t)n;
	rc = (int)n;
	pthread_mutex_unlock(&fs->lock);
	return n;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/* Zeroes file bytes [from, to) where blocks are mapped (holes read zero). */
static void zero_mapped(struct nvfs *fs, const struct nvmpfs_inode *inode,
			uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, block_of(from), &run);
		uint64_t in_run = run * BS - from % BS;
		uint64_t n = to - from < in_run ? to - from : in_run;
		if (pblk) {
			uint64_t touched = blocks_to_cover(from % BS + n);
			change_begin(fs, pblk, touched);
			pool_zero(fs->pool, pblk * BS + from % BS, n);
			change_end(fs, pblk, touched);
		}
		from += n;
	}
}

static bool all_zero(const uint8_t *p, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Zeroes whatever mapped bytes lie at or past EOF.  A write that extended
 * the file and was rolled back (a crash, a failed transaction) leaves its
 * data there; the size went back, the bytes did not, and a later
 * extension would show them.
 */
void file_zero_past_eof(struct nvfs *fs, uint64_t ino)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode || !S_ISREG(inode->mode))
		return;
	bool zeroed = false;
	uint64_t pos = inode->size;
	for (;;) {
		uint64_t blk = bmap_next(fs, inode, block_of(pos), true);
		if (blk == UINT64_MAX)
			break;
		if (blk * BS > pos)
			pos = blk * BS;
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, block_of(pos), &run);
		uint64_t end = (block_of(pos) + run) * BS;
		if (pblk) {
			const uint8_t *p = pool_at(fs->pool, pblk * BS + pos % BS);
			if (!all_zero(p, end - pos)) {
				zero_mapped(fs, inode, pos, end);
				zeroed = true;
			}
		}
		pos = end;
	}
	if (zeroed) {
		pool_drain(fs->pool);
		csum_persist_all(fs);
	}
}

/* Frees blocks [first, last] in as many transactions as it takes. */
static int punch_blocks(struct nvfs *fs, struct nvmpfs_inode *inode,
			uint64_t first, uint64_t last)
{
	int rc;
	do {
		tx_begin(&fs->j);
		rc = bmap_punch(fs, inode, first, last);
		if (rc == 0 || rc == -EAGAIN) {
			tx_commit(&fs->j);
		} else {
			fs_abort(fs);
			return rc;
		}
	} while (rc == -EAGAIN);
	return 0;
}

int file_finish_truncate(struct nvfs *fs, uint64_t ino)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode)
		return -ENOENT;
	int rc = punch_blocks(fs, inode, blocks_to_cover(inode->size), UINT64_MAX);
	if (rc)
		return rc;
	tx_begin(&fs->j);
	if ((rc = inode_log(fs, inode))) {
		fs_abort(fs);
		return rc;
	}
	inode->flags &= ~NVMPFS_IFLAG_TRUNCATING;
	tx_commit(&fs->j);
	return 0;
}

/*
 * Changes a file's size.  Shrinking first records the new size and the
 * TRUNCATING flag (one transaction, so a crash never shows the old size
 * with blocks gone), then frees the blocks in steps; the mount after a
 * crash finishes what a TRUNCATING inode started.
 */
int file_truncate(struct nvfs *fs, uint64_t ino, uint64_t size)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode)
		return -ENOENT;
	if (size > MAX_FILE_SIZE)
		return -EFBIG;
	tx_begin(&fs->j);
	int rc = inode_log(fs, inode);
	if (rc) {
		fs_abort(fs);
		return rc;
	}
	bool shrink = size < inode->size;
	if (shrink) {
		/* The tail of the last kept block must read zero from now on. */
		uint64_t tail_end = blocks_to_cover(size) * BS;
		if (tail_end > inode->size)
			tail_end = inode->size;
		uint64_t run;
		uint64_t pblk = size % BS ? bmap_lookup(fs, inode, block_of(size), &run)
					  : 0;
		if (pblk && tail_end > size) {
			uint8_t *p = (uint8_t *)pool_block(fs->pool, pblk) + size % BS;
			if ((rc = tx_log(&fs->j, p, tail_end - size))) {
				fs_abort(fs);
				return rc;
			}
			change_begin(fs, pblk, 1);
			memset(p, 0, tail_end - size);
			change_end(fs, pblk, 1);
		}
		inode->flags |= NVMPFS_IFLAG_TRUNCATING;
	}
	inode->size = size;
	inode_touch(inode, true, true);
	tx_commit(&fs->j);
	csum_persist_all(fs);
	if (!shrink)
		return 0;
	return file_finish_truncate(fs, ino);
}

/* fallocate 0 / KEEP_SIZE: map every block of the range, zeroing new ones. */
static int allocate_range(struct nvfs *fs, struct nvmpfs_inode *inode,
			  uint64_t off, uint64_t len, bool keep_size)
{
	uint64_t end = off + len;
	uint64_t lblk = block_of(off), last = blocks_to_cover(end);
	tx_begin(&fs->j);
	int rc = inode_log(fs, inode);
	while (rc == 0 && lblk < last) {
		if (tx_room(&fs->j) < STEP_ROOM) {
			tx_commit(&fs->j);
			tx_begin(&fs->j);
			if ((rc = inode_log(fs, inode)))
				break;
		}
		uint64_t pblk, got;
		bool fresh;
		rc = bmap_map(fs, inode, lblk, last - lblk, &pblk, &got, &fresh);
		if (rc)
			break;
		if (fresh)
			pool_zero(fs->pool, pblk * BS, got * BS);
		lblk += got;
	}
	if (rc) {
		/* Blocks already committed stay (as in ext4); the size does not move. */
		fs_abort(fs);
		return rc;
	}
	if (!keep_size && end > inode->size)
		inode->size = end;
	inode_touch(inode, false, true);
	tx_commit(&fs->j);
	return 0;
}

/* PUNCH_HOLE: zero partial blocks at the edges, free whole blocks. */
static int punch_range(struct nvfs *fs, struct nvmpfs_inode *inode,
		       uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t first_whole = blocks_to_cover(off), end_whole = block_of(end);
	if (first_whole >= end_whole) {
		zero_mapped(fs, inode, off, end);
	} else {
		zero_mapped(fs, inode, off, first_whole * BS);
		zero_mapped(fs, inode, end_whole * BS, end);
	}
	pool_drain(fs->pool);
	if (first_whole < end_whole) {
		int rc = punch_blocks(fs, inode, first_whole, end_whole - 1);
		if (rc)
			return rc;
	}
	tx_begin(&fs->j);
	int rc = inode_log(fs, inode);
	if (rc) {
		fs_abort(fs);
		return rc;
	}
	inode_touch(inode, true, true);
	tx_commit(&fs->j);
	return 0;
}

/* ZERO_RANGE: zero what is mapped, allocate (zeroed) what is not. */
static int zero_range(struct nvfs *fs, struct nvmpfs_inode *inode,
		      uint64_t off, uint64_t len, bool keep_size)
{
	uint64_t end = off + len;
	uint64_t limit = end < inode->size ? end : inode->size;
	if (off < limit)
		zero_mapped(fs, inode, off, limit);
	int rc = allocate_range(fs, inode, off, len, keep_size);
	if (rc)
		return rc;
	tx_begin(&fs->j);
	if ((rc = inode_log(fs, inode))) {
		fs_abort(fs);
		return rc;
	}
	inode_touch(inode, true, true);
	tx_commit(&fs->j);
	return 0;
}

int nvfs_fallocate(struct nvfs *fs, uint64_t ino, int mode, uint64_t off,
		   uint64_t len)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
			  FALLOC_FL_ZERO_RANGE;
	if (mode & ~known)
		return -EOPNOTSUPP;
	if (len == 0)
		return -EINVAL;
	if (off >= MAX_FILE_SIZE || len > MAX_FILE_SIZE - off)
		return -EFBIG;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	int rc = 0;
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = live_file(fs, ino, &rc);
	if (!inode)
		goto out;
	if (fs->read_only) {
		rc = -EROFS;
		goto out;
	}
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		if (!keep || (mode & FALLOC_FL_ZERO_RANGE))
			rc = -EINVAL;
		else
			rc = punch_range(fs, inode, off, len);
	} else if (mode & FALLOC_FL_ZERO_RANGE) {
		rc = zero_range(fs, inode, off, len, keep);
	} else {
		rc = allocate_range(fs, inode, off, len, keep);
	}
	if (rc == 0)
		file_note_dirty(fs, ino, off, len);
	csum_persist_all(fs); /* every path above ended with a drain */
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int64_t nvfs_lseek(struct nvfs *fs, uint64_t ino, int64_t off, int whence)
{
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	int rc = 0;
	int64_t result;
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = live_file(fs, ino, &rc);
	if (!inode) {
		result = rc;
	} else if ((uint64_t)off >= inode->size) {
		result = -ENXIO;
	} else {
		uint64_t blk = bmap_next(fs, inode, block_of((uint64_t)off),
					 whence == SEEK_DATA);
		uint64_t pos = blk == UINT64_MAX ? UINT64_MAX : blk * BS;
		if (pos < (uint64_t)off)
			pos = (uint64_t)off;
		if (whence == SEEK_DATA)
			result = pos >= inode->size ? -ENXIO : (int64_t)pos;
		else
			result = pos > inode->size ? (int64_t)inode->size
						   : (int64_t)pos;
	}
	pthread_mutex_unlock(&fs->lock);
	return result;
}
