/*
 * Sync points: OptimizedFlush (many ranges, one drain), FlushAndVerify,
 * scrub, and the bad-range list.
 *
 * Every WRITE is already flushed and drained when it is answered (see
 * DESIGN.md, "Durability points"), so the data of a sync point's ranges is
 * durable before it starts; what the sync point adds is the batch: the
 * blocks' pending checksums stored, one drain for all of them, then the
 * verify.  (Stores that reach the pool without a WRITE -- a future direct
 * mapping -- would be flushed here as well.)
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fs.h"

#define BS NVMPFS_BLOCK_SIZE

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int check_ranges(const struct nvmpfs_inode *inode,
			const struct nvfs_range *ranges, size_t count,
			unsigned flags)
{
	for (size_t i = 0; i < count; i++) {
		const struct nvfs_range *r = &ranges[i];
		if (r->off + r->len < r->off)
			return -EINVAL;
		if (!(flags & NVFS_FLUSH_CLAMP) && r->off + r->len > inode->size)
			return -EINVAL;
	}
	return 0;
}

/* Stores the checksums of one file range's blocks (flushed, no drain). */
static void flush_range(struct nvfs *fs, const struct nvmpfs_inode *inode,
			uint64_t off, uint64_t end)
{
	uint64_t lblk = off / BS, last = (end + BS - 1) / BS;
	while (lblk < last) {
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, lblk, &run);
		if (run > last - lblk)
			run = last - lblk;
		if (pblk)
			for (uint64_t i = 0; i < run; i++)
				csum_persist_block(fs, pblk + i);
		lblk += run;
	}
}

/* Reads the range's blocks back and collects those that do not match. */
static void verify_range(struct nvfs *fs, uint64_t ino,
			 const struct nvmpfs_inode *inode, uint64_t off,
			 uint64_t end, struct range_list *failed)
{
	for (uint64_t lblk = off / BS; lblk * BS < end; lblk++) {
		uint64_t pblk = bmap_lookup(fs, inode, lblk, NULL);
		if (!pblk)
			continue;
		fs->stats.blocks_verified++;
		if (csum_check_block(fs, pblk) >= 0)
			continue;
		range_list_add(failed, lblk * BS, BS);
		file_note_bad_block(fs, ino, lblk, pblk, "verify");
	}
}

static int flush_locked(struct nvfs *fs, uint64_t ino,
			const struct nvfs_range *ranges, size_t count,
			unsigned flags, struct range_list *failed)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode)
		return -ENOENT;
	if (S_ISDIR(inode->mode))
		return -EISDIR;
	if (!S_ISREG(inode->mode))
		return -EINVAL;
	if ((flags & NVFS_FLUSH_VERIFY) && !fs->csum_on)
		return -EOPNOTSUPP;
	int rc = check_ranges(inode, ranges, count, flags);
	if (rc)
		return rc;
	for (size_t i = 0; i < count; i++) {
		uint64_t end = ranges[i].off + ranges[i].len;
		if (end > inode->size)
			end = inode->size;
		if (ranges[i].off >= end)
			continue;
		/* Normally nothing is pending here (calls settle their own). */
		if (fs->pending.count)
			flush_range(fs, inode, ranges[i].off, end);
		fs->stats.ranges_flushed++;
		fs->stats.bytes_flushed += end - ranges[i].off;
	}
	pool_drain(fs->pool); /* the one drain of this sync point */
	fs->stats.sync_points++;
	fs->stats.sync_drains++;
	if (flags & NVFS_FLUSH_VERIFY)
		for (size_t i = 0; i < count; i++) {
			uint64_t end = ranges[i].off + ranges[i].len;
			verify_range(fs, ino, inode, ranges[i].off,
				     end < inode->size ? end : inode->size, failed);
		}
	return 0;
}

int nvfs_flush(struct nvfs *fs, uint64_t ino, const struct nvfs_range *ranges,
	       size_t count, unsigned flags, struct nvfs_range *failed,
	       size_t max_failed, size_t *nfailed)
{
	struct range_list bad = { 0 };
	pthread_mutex_lock(&fs->lock);
	uint64_t t0 = now_ns();
	int rc = flush_locked(fs, ino, ranges, count, flags, &bad);
	fs->stats.sync_ns += now_ns() - t0;
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0) {
		/* The ranges are synced: they are dirty no more. */
		pthread_mutex_lock(&fs->lock);
		struct icache_ent *ent = icache_get(fs, ino, false);
		for (size_t i = 0; ent && i < count; i++)
			range_list_subtract(&ent->dirty, ranges[i].off, ranges[i].len);
		pthread_mutex_unlock(&fs->lock);
	}
	if (nfailed)
		*nfailed = bad.n;
	for (size_t i = 0; i < bad.n && i < max_failed; i++)
		failed[i] = (struct nvfs_range){ bad.r[i].off, bad.r[i].len };
	range_list_free(&bad);
	return rc;
}

int nvfs_fsync(struct nvfs *fs, uint64_t ino, bool datasync)
{
	/* Metadata is durable when its call returns: fsync and fdatasync
	 * differ in nothing but the counter. */
	(void)datasync;
	pthread_mutex_lock(&fs->lock);
	uint64_t t0 = now_ns();
	fs->stats.fsyncs++;
	struct icache_ent *ent = icache_get(fs, ino, false);
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = inode ? 0 : -ENOENT;
	if (inode && S_ISREG(inode->mode) && ent && ent->dirty.n) {
		/* FSYNC names no range: it covers all of the file's. */
		struct range_list done = { 0 };
		rc = flush_locked(fs, ino, (const struct nvfs_range *)ent->dirty.r,
				  ent->dirty.n, NVFS_FLUSH_CLAMP, &done);
		range_list_free(&done);
		ent->dirty.n = 0;
	} else if (rc == 0) {
		pool_drain(fs->pool);
		fs->stats.sync_points++;
		fs->stats.sync_drains++;
	}
	fs->stats.sync_ns += now_ns() - t0;
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nvfs_syncfs(struct nvfs *fs)
{
	pthread_mutex_lock(&fs->lock);
	csum_persist_all(fs);
	pool_drain(fs->pool);
	fs->stats.sync_points++;
	fs->stats.sync_drains++;
	icache_clear_dirty(fs);
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

int nvfs_scrub(struct nvfs *fs, uint64_t ino, uint64_t *lblk,
	       uint64_t max_blocks, struct nvfs_scrub_result *res)
{
	memset(res, 0, sizeof(*res));
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = !inode ? -ENOENT : !S_ISREG(inode->mode) ? -EINVAL : 0;
	if (rc == 0) {
		uint64_t nblocks = (inode->size + BS - 1) / BS;
		uint64_t end = *lblk + max_blocks < nblocks ? *lblk + max_blocks
							    : nblocks;
		for (uint64_t b = *lblk; b < end; b++) {
			uint64_t pblk = bmap_lookup(fs, inode, b, NULL);
			if (!pblk)
				continue;
			int ok = csum_check_block(fs, pblk);
			if (ok == 1) {
				res->blocks_unverified++;
				continue;
			}
			res->blocks_checked++;
			fs->stats.blocks_verified++;
			if (ok < 0) {
				res->mismatches++;
				file_note_bad_block(fs, ino, b, pblk, "scrub");
			}
		}
		*lblk = end;
		res->done = end >= nblocks;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

ssize_t nvfs_bad_ranges(struct nvfs *fs, uint64_t ino, struct nvfs_range *out,
			size_t max)
{
	pthread_mutex_lock(&fs->lock);
	ssize_t n = inode_live(fs, ino) ? 0 : -ENOENT;
	struct icache_ent *ent = icache_get(fs, ino, false);
	if (n == 0 && ent) {
		for (size_t i = 0; i < ent->bad.n && i < max; i++)
			out[i] = (struct nvfs_range){ ent->bad.r[i].off,
						      ent->bad.r[i].len };
		n = (ssize_t)ent->bad.n;
	}
	pthread_mutex_unlock(&fs->lock);
	return n;
}
