/*
 * A file's space: truncate, fallocate (allocate, punch, zero), SEEK_DATA
 * and SEEK_HOLE, and the repairs recovery makes past EOF.  Work over a
 * range costs what is mapped in it: holes are skipped whole (bmap_next),
 * so a call on a huge sparse file finishes as fast as on a small one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <unistd.h>

#include "file.h"

/* Next mapped byte of [from, to), or to when there is none. */
static uint64_t next_data(struct nvfs *fs, const struct nvmpfs_inode *inode,
			  uint64_t from, uint64_t to)
{
	uint64_t blk = bmap_next(fs, inode, block_of(from), true);
	if (blk == UINT64_MAX || blk >= blocks_to_cover(to))
		return to;
	return blk * BS > from ? blk * BS : from;
}

/* Zeroes file bytes [from, to) where blocks are mapped (holes read zero). */
static int zero_mapped(struct nvfs *fs, struct icache_ent *ent,
		       struct nvmpfs_inode *inode, uint64_t from, uint64_t to)
{
	while ((from = next_data(fs, inode, from, to)) < to) {
		uint64_t run;
		bmap_lookup(fs, inode, block_of(from), &run);
		uint64_t end = (block_of(from) + run) * BS;
		if (end > to)
			end = to;
		int64_t n = file_fill(fs, ent, inode, NULL, from, end - from,
				      FILL_ZEROS, false);
		if (n < 0)
			return (int)n;
		from += (uint64_t)n;
	}
	return 0;
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
 * the file and was cut short by a crash (or a transaction rolled back)
 * leaves its data there; the size went back, the bytes did not, and a
 * later extension would show them.  Recovery only: no one else holds the
 * inode.
 */
int file_zero_past_eof(struct nvfs *fs, uint64_t ino)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode || !S_ISREG(inode->mode))
		return 0;
	uint64_t pos = inode->size;
	for (;;) {
		uint64_t blk = bmap_next(fs, inode, block_of(pos), true);
		if (blk == UINT64_MAX)
			return 0;
		if (blk * BS > pos)
			pos = blk * BS;
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, block_of(pos), &run);
		uint64_t end = (block_of(pos) + run) * BS;
		if (pblk && !all_zero(pool_at(fs->pool, pblk * BS + pos % BS),
				      end - pos)) {
			pool_zero(fs->pool, pblk * BS + pos % BS, end - pos);
			for (uint64_t b = pblk; b < pblk + run; b++)
				if (*csum_word(fs, b))
					csum_store(fs, b, fs->csum_on ?
						   csum_of_block(fs, b) : 0);
			int rc = pool_drain(fs->pool);
			if (rc)
				return rc;
		}
		pos = end;
	}
}

/* ---- truncate ---- */

/* The tail of the last kept block must read zero from the new size on. */
static int log_tail(struct tx *tx, struct nvmpfs_inode *inode, uint64_t size,
		    uint8_t **tail, uint64_t *tail_len, uint64_t *pblk)
{
	struct nvfs *fs = tx->fs;
	uint64_t tail_end = blocks_to_cover(size) * BS;
	if (tail_end > inode->size)
		tail_end = inode->size;
	*tail = NULL;
	*tail_len = 0;
	*pblk = size % BS ? bmap_lookup(fs, inode, block_of(size), NULL) : 0;
	if (!*pblk || tail_end <= size)
		return 0;
	*tail = (uint8_t *)pool_block(fs->pool, *pblk) + size % BS;
	*tail_len = tail_end - size;
	int rc = tx_log(tx, *tail, *tail_len);
	return rc ? rc : tx_log(tx, csum_word(fs, *pblk), sizeof(uint64_t));
}

/*
 * Frees blocks [first, ...) of the inode in tx, in steps.  The first step
 * keeps what the caller logged; once its records are durable (bmap_punch
 * calls tx_ready) apply() makes the caller's changes, so that they and
 * the first step are one transaction.  Later steps are transactions of
 * their own, each with the inode logged again.
 */
static int punch_from(struct tx *tx, struct nvmpfs_inode *inode,
		      uint64_t first, void (*apply)(void *), void *arg)
{
	int rc = bmap_punch(tx, inode, first, UINT64_MAX);
	if (rc != 0 && rc != -EAGAIN)
		return rc;
	int ready = tx_ready(tx);
	if (ready)
		return ready;
	if (apply)
		apply(arg);
	while (rc == -EAGAIN) {
		if ((rc = tx_step(tx)) || (rc = inode_log(tx, inode)))
			return rc;
		rc = bmap_punch(tx, inode, first, UINT64_MAX);
	}
	if (rc == 0)
		rc = tx_ready(tx);
	if (rc == 0)
		inode->flags &= ~NVMPFS_IFLAG_TRUNCATING;
	return rc;
}

struct shrink {
	struct nvfs *fs;
	struct nvmpfs_inode *inode;
	uint64_t size;
	uint8_t *tail;
	uint64_t tail_len, pblk;
};

/* The new size and the zeroed tail; TRUNCATING while blocks remain. */
static void apply_shrink(void *arg)
{
	struct shrink *sh = arg;
	struct nvfs *fs = sh->fs;
	if (sh->tail) {
		memset(sh->tail, 0, sh->tail_len);
		pool_flush_ptr(fs->pool, sh->tail, sh->tail_len);
		csum_store(fs, sh->pblk,
			   fs->csum_on ? csum_of_block(fs, sh->pblk) : 0);
	}
	sh->inode->size = sh->size;
	sh->inode->flags |= NVMPFS_IFLAG_TRUNCATING;
	inode_touch(sh->inode, true, true);
}

/*
 * Shrinking: the new size, the zeroed tail and the TRUNCATING flag are one
 * transaction with the first step of freeing, so a crash never shows the
 * old size with blocks gone; the mount after a crash finishes what a
 * TRUNCATING inode started.  A truncate that fits one step is one
 * transaction: three drains.
 */
static int shrink(struct nvfs *fs, struct nvmpfs_inode *inode, uint64_t size)
{
	struct tx tx;
	tx_begin(fs, &tx);
	struct shrink sh = { fs, inode, size, NULL, 0, 0 };
	int rc = inode_log(&tx, inode);
	if (rc == 0)
		rc = log_tail(&tx, inode, size, &sh.tail, &sh.tail_len, &sh.pblk);
	if (rc == 0)
		rc = punch_from(&tx, inode, blocks_to_cover(size), apply_shrink, &sh);
	if (rc) {
		tx_abort(&tx);
		return rc;
	}
	return tx_commit(&tx);
}

/* Growing: bytes past the old size read zero already; one drain. */
static int grow_size(struct nvfs *fs, struct nvmpfs_inode *inode,
		     uint64_t size)
{
	inode_store64(fs, &inode->size, size);
	inode_touch_now(fs, inode, true, true);
	return pool_drain(fs->pool);
}

int file_truncate(struct nvfs *fs, struct icache_ent *ent, uint64_t size)
{
	(void)ent;
	struct nvmpfs_inode *inode = inode_live(fs, ent->ino);
	if (!inode)
		return -ENOENT;
	if (size > MAX_FILE_SIZE)
		return -EFBIG;
	if (size < inode->size)
		return shrink(fs, inode, size);
	return grow_size(fs, inode, size);
}

int file_finish_truncate(struct nvfs *fs, uint64_t ino)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode)
		return -ENOENT;
	struct tx tx;
	tx_begin(fs, &tx);
	int rc = inode_log(&tx, inode);
	if (rc == 0)
		rc = punch_from(&tx, inode, blocks_to_cover(inode->size), NULL, NULL);
	if (rc) {
		tx_abort(&tx);
		return rc;
	}
	return tx_commit(&tx);
}

/* ---- fallocate ---- */

/* Blocks of [first, last) not mapped yet (what an allocation needs). */
static uint64_t holes_in(struct nvfs *fs, const struct nvmpfs_inode *inode,
			 uint64_t first, uint64_t last)
{
	uint64_t holes = 0, b = first;
	while (b < last) {
		uint64_t data = bmap_next(fs, inode, b, true);
		if (data == UINT64_MAX || data >= last)
			return holes + (last - b);
		holes += data - b;
		uint64_t run;
		bmap_lookup(fs, inode, data, &run);
		b = data + run;
	}
	return holes;
}

/*
 * Whether the holes of [off, off + len), with the map nodes mapping them
 * may need, outnumber the free blocks.
 */
static bool too_many_holes(struct nvfs *fs, const struct nvmpfs_inode *inode,
			   uint64_t off, uint64_t len)
{
	uint64_t first = block_of(off), last = blocks_to_cover(off + len);
	uint64_t holes = holes_in(fs, inode, first, last);
	return holes && holes + nvfs_map_overhead(holes) > alloc_free_blocks(fs);
}

/*
 * fallocate 0 / KEEP_SIZE: map every block of the range, zeroing new
 * ones.  Refused at once with ENOSPC when the holes and the map nodes
 * mapping them may need outnumber the free blocks (a huge range must not
 * eat the pool first; statfs keeps the same nodes back from f_bavail).
 */
static int allocate_range(struct nvfs *fs, struct icache_ent *ent,
			  struct nvmpfs_inode *inode, uint64_t off,
			  uint64_t len, bool keep_size)
{
	if (too_many_holes(fs, inode, off, len))
		return -ENOSPC;
	int64_t n = file_fill(fs, ent, inode, NULL, off, len,
			      FILL_ALLOCATE_ONLY, !keep_size);
	if (n < 0)
		return (int)n;
	return (uint64_t)n < len ? -ENOSPC : 0;
}

/* Frees the whole blocks [first, last) in as many steps as it takes. */
static int free_blocks(struct nvfs *fs, struct nvmpfs_inode *inode,
		       uint64_t first, uint64_t last)
{
	struct tx tx;
	tx_begin(fs, &tx);
	int rc = inode_log(&tx, inode);
	while (rc == 0 &&
	       (rc = bmap_punch(&tx, inode, first, last - 1)) == -EAGAIN) {
		if ((rc = tx_step(&tx)) == 0)
			rc = inode_log(&tx, inode);
	}
	if (rc == 0 && (rc = tx_ready(&tx)) == 0)
		inode_touch(inode, true, true);
	if (rc) {
		tx_abort(&tx);
		return rc;
	}
	return tx_commit(&tx);
}

/* PUNCH_HOLE: zero partial blocks at the edges, free whole blocks. */
static int punch_range(struct nvfs *fs, struct icache_ent *ent,
		       struct nvmpfs_inode *inode, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t first_whole = blocks_to_cover(off), end_whole = block_of(end);
	int rc;
	if (first_whole >= end_whole) {
		rc = zero_mapped(fs, ent, inode, off, end);
	} else {
		rc = zero_mapped(fs, ent, inode, off, first_whole * BS);
		if (rc == 0)
			rc = zero_mapped(fs, ent, inode, end_whole * BS, end);
	}
	if (rc == 0 && first_whole < end_whole)
		return free_blocks(fs, inode, first_whole, end_whole);
	if (rc == 0) {
		inode_touch_now(fs, inode, true, true);
		rc = pool_drain(fs->pool);
	}
	return rc;
}

/*
 * ZERO_RANGE: zero what is mapped, allocate (zeroed) what is not.  A
 * range whose holes cannot be filled is refused before anything is
 * zeroed: a failed call leaves the data as it was.
 */
static int zero_range(struct nvfs *fs, struct icache_ent *ent,
		      struct nvmpfs_inode *inode, uint64_t off, uint64_t len,
		      bool keep_size)
{
	if (too_many_holes(fs, inode, off, len))
		return -ENOSPC;
	uint64_t end = off + len;
	uint64_t limit = end < inode->size ? end : inode->size;
	int rc = off < limit ? zero_mapped(fs, ent, inode, off, limit) : 0;
	if (rc == 0)
		rc = allocate_range(fs, ent, inode, off, len, keep_size);
	return rc;
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
	int rc = change_begin(fs);
	if (rc)
		return rc;
	struct icache_ent *ent = ilock(fs, ino, true);
	if (!ent) {
		change_end(fs);
		return -ENOMEM;
	}
	struct nvmpfs_inode *inode = file_live(fs, ino, &rc);
	if (inode && fs->read_only)
		rc = -EROFS;
	if (!inode || rc) {
		/* nothing to do */
	} else if (mode & FALLOC_FL_PUNCH_HOLE) {
		if (!keep || (mode & FALLOC_FL_ZERO_RANGE))
			rc = -EINVAL;
		else
			rc = punch_range(fs, ent, inode, off, len);
	} else if (mode & FALLOC_FL_ZERO_RANGE) {
		rc = zero_range(fs, ent, inode, off, len, keep);
	} else {
		rc = allocate_range(fs, ent, inode, off, len, keep);
	}
	iunlock(fs, ent);
	change_end(fs);
	return rc;
}

int64_t nvfs_lseek(struct nvfs *fs, uint64_t ino, int64_t off, int whence)
{
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	struct icache_ent *ent = ilock(fs, ino, false);
	if (!ent)
		return -ENOMEM;
	int rc = 0;
	int64_t result;
	struct nvmpfs_inode *inode = file_live(fs, ino, &rc);
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
	iunlock(fs, ent);
	return result;
}
