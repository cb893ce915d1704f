/*
 * Sync points: OptimizedFlush, FlushAndVerify, fsync, syncfs, scrub, and
 * the bad-range list.
 *
 * Every WRITE is durable, with its checksums, when it is answered (see
 * docs/DESIGN.md, "Durability points", and write.c), so a sync point finds
 * nothing left to drain of its own: it drains what its thread may still
 * hold (lazy access times), verifies when asked, and -- with a mirror --
 * waits for the mirror.  Verification and scrub walk only what is mapped
 * (holes are skipped whole), hold the file shared (other readers go on),
 * let go of it every VERIFY_STEP blocks, and stop when the caller asks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "file.h"

/* Blocks verified between two looks at the cancel callback and lock. */
#define VERIFY_STEP 4096u

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool cancelled(const struct nvfs_cancel *c)
{
	return c && c->stop && c->stop(c->arg);
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

/* A sync point's own drain: whatever this thread still holds. */
static int sync_drain(struct nvfs *fs)
{
	STAT_ADD(fs, sync_points, 1);
	if (!pool_pending(fs->pool))
		return 0;
	STAT_ADD(fs, sync_drains, 1);
	return pool_drain(fs->pool);
}

struct verify {
	struct nvfs *fs;
	struct icache_ent *ent;
	const struct nvfs_cancel *cancel;
	struct range_list *failed;
	uint64_t budget;         /* blocks until the next pause */
};

/*
 * Checks the mapped blocks of [lblk, end) while the file is held; stops
 * early (returning the block to go on from) when the step's budget runs
 * out, so the caller can let go of the lock.
 */
static uint64_t verify_some(struct verify *v, const struct nvmpfs_inode *inode,
			    uint64_t lblk, uint64_t end)
{
	struct nvfs *fs = v->fs;
	while (lblk < end && v->budget) {
		uint64_t data = bmap_next(fs, inode, lblk, true);
		if (data == UINT64_MAX || data >= end)
			return end;
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, data, &run);
		if (run > end - data)
			run = end - data;
		if (run > v->budget)
			run = v->budget;
		for (uint64_t i = 0; pblk && i < run; i++) {
			STAT_ADD(fs, blocks_verified, 1);
			if (csum_check_block(fs, pblk + i) >= 0)
				continue;
			range_list_add(v->failed, (data + i) * BS, BS);
			file_note_bad_block(fs, v->ent, data + i, pblk + i, "verify");
		}
		v->budget -= run;
		lblk = data + run;
	}
	return lblk;
}

/* Verifies [off, end) of a file in steps, letting go of it in between. */
static int verify_range(struct verify *v, uint64_t off, uint64_t end)
{
	uint64_t lblk = block_of(off), last = blocks_to_cover(end);
	while (lblk < last) {
		if (cancelled(v->cancel))
			return -EINTR;
		pthread_rwlock_rdlock(&v->ent->lock);
		int rc = 0;
		struct nvmpfs_inode *inode = file_live(v->fs, v->ent->ino, &rc);
		if (inode) {
			uint64_t stop = blocks_to_cover(inode->size);
			v->budget = VERIFY_STEP;
			lblk = verify_some(v, inode, lblk, last < stop ? last : stop);
			if (lblk >= stop)
				lblk = last;
		}
		pthread_rwlock_unlock(&v->ent->lock);
		if (rc)
			return rc;
	}
	return 0;
}

static int verify_all(struct nvfs *fs, struct icache_ent *ent,
		      const struct nvfs_range *ranges, size_t count,
		      const struct nvfs_cancel *cancel, struct range_list *failed)
{
	struct verify v = { fs, ent, cancel, failed, 0 };
	for (size_t i = 0; i < count; i++) {
		int rc = verify_range(&v, ranges[i].off,
				      ranges[i].off + ranges[i].len);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Heals what verify found bad, where the mirror has a good copy; what is
 * healed leaves the list.  Each block is taken with the file held
 * exclusively, one at a time.
 */
static void heal_failed(struct nvfs *fs, uint64_t ino, struct range_list *bad)
{
	if (!heal_possible(fs) || !bad->n)
		return;
	struct range_list still = { 0 };
	for (size_t i = 0; i < bad->n; i++)
		for (uint64_t b = bad->r[i].off / BS;
		     b < (bad->r[i].off + bad->r[i].len) / BS; b++)
			if (heal_block(fs, ino, b) != 0)
				range_list_add(&still, b * BS, BS);
	range_list_free(bad);
	*bad = still;
}

/* Checks the call and counts the ranges; the file is held shared. */
static int start_flush(struct nvfs *fs, struct icache_ent *ent,
		       const struct nvfs_range *ranges, size_t count,
		       unsigned flags)
{
	pthread_rwlock_rdlock(&ent->lock);
	int rc = 0;
	struct nvmpfs_inode *inode = file_live(fs, ent->ino, &rc);
	if (inode && (flags & NVFS_FLUSH_VERIFY) && !fs->csum_on)
		rc = -EOPNOTSUPP;
	if (inode && rc == 0)
		rc = check_ranges(inode, ranges, count, flags);
	for (size_t i = 0; inode && rc == 0 && i < count; i++) {
		uint64_t end = ranges[i].off + ranges[i].len;
		if (end > inode->size)
			end = inode->size;
		if (ranges[i].off >= end)
			continue;
		STAT_ADD(fs, ranges_flushed, 1);
		STAT_ADD(fs, bytes_flushed, end - ranges[i].off);
	}
	pthread_rwlock_unlock(&ent->lock);
	return rc;
}

int nvfs_flush(struct nvfs *fs, uint64_t ino, const struct nvfs_range *ranges,
	       size_t count, unsigned flags, struct nvfs_range *failed,
	       size_t max_failed, size_t *nfailed,
	       const struct nvfs_cancel *cancel)
{
	struct range_list bad = { 0 };
	uint64_t t0 = now_ns();
	struct icache_ent *ent = icache_pin(fs, ino);
	if (!ent)
		return -ENOMEM;
	int rc = start_flush(fs, ent, ranges, count, flags);
	if (rc == 0)
		rc = sync_drain(fs);
	if (rc == 0 && (flags & NVFS_FLUSH_VERIFY))
		rc = verify_all(fs, ent, ranges, count, cancel, &bad);
	icache_unpin(fs, ent);
	if (rc == 0)
		heal_failed(fs, ino, &bad);
	STAT_ADD(fs, sync_ns, now_ns() - t0);
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
	uint64_t t0 = now_ns();
	STAT_ADD(fs, fsyncs, 1);
	struct icache_ent *ent = ilock(fs, ino, false);
	if (!ent)
		return -ENOMEM;
	int rc = inode_live(fs, ino) ? 0 : -ENOENT;
	iunlock(fs, ent);
	if (rc == 0)
		rc = sync_drain(fs);
	STAT_ADD(fs, sync_ns, now_ns() - t0);
	return rc;
}

int nvfs_syncfs(struct nvfs *fs)
{
	return sync_drain(fs);
}

/*
 * Checks the mapped blocks of a run; bad ones are noted and listed in
 * bad (file offsets) for healing.
 */
struct scrub_walk {
	struct nvfs *fs;
	struct icache_ent *ent;
	struct nvfs_scrub_result *res;
	struct range_list *bad;
};

static void scrub_run(void *arg, uint64_t lblk, uint64_t pblk, uint64_t run)
{
	struct scrub_walk *w = arg;
	struct nvfs *fs = w->fs;
	struct nvfs_scrub_result *res = w->res;
	for (uint64_t i = 0; i < run; i++) {
		int ok = csum_check_block(fs, pblk + i);
		if (ok == 1) {
			res->blocks_unverified++;
			continue;
		}
		res->blocks_checked++;
		STAT_ADD(fs, blocks_verified, 1);
		if (ok < 0) {
			res->mismatches++;
			file_note_bad_block(fs, w->ent, lblk + i, pblk + i,
					    "scrub");
			range_list_add(w->bad, (lblk + i) * BS, BS);
		}
	}
}

/* Verifies up to max_blocks mapped blocks from *lblk; moves *lblk on. */
int nvfs_scrub(struct nvfs *fs, uint64_t ino, uint64_t *lblk,
	       uint64_t max_blocks, struct nvfs_scrub_result *res)
{
	memset(res, 0, sizeof(*res));
	struct range_list bad = { 0 };
	struct icache_ent *ent = ilock(fs, ino, false);
	if (!ent)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = !inode ? -ENOENT : !S_ISREG(inode->mode) ? -EINVAL : 0;
	if (rc == 0) {
		uint64_t nblocks = blocks_to_cover(inode->size);
		struct scrub_walk w = { fs, ent, res, &bad };
		bmap_for_runs(fs, inode, lblk, nblocks, max_blocks, scrub_run,
			      &w);
		res->done = *lblk >= nblocks;
	}
	iunlock(fs, ent);
	uint64_t found = 0;
	for (size_t i = 0; i < bad.n; i++)
		found += bad.r[i].len / BS;
	heal_failed(fs, ino, &bad);
	uint64_t left = 0;
	for (size_t i = 0; i < bad.n; i++)
		left += bad.r[i].len / BS;
	res->healed = found - left;
	range_list_free(&bad);
	return rc;
}

/* The (pool block, checksum) pairs of a run of mapped blocks. */
static int add_sums(struct nvfs *fs, uint64_t lblk, uint64_t pblk,
		    uint64_t run, struct nvfs_block_sum **out, size_t *n,
		    size_t *cap)
{
	for (uint64_t i = 0; i < run; i++) {
		uint64_t sum = __atomic_load_n(csum_word(fs, pblk + i),
					       __ATOMIC_RELAXED);
		if (!sum)
			continue;
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 256;
			struct nvfs_block_sum *p = realloc(*out, c * sizeof(*p));
			if (!p)
				return -ENOMEM;
			*out = p;
			*cap = c;
		}
		(*out)[(*n)++] = (struct nvfs_block_sum){ (lblk + i) * BS,
							 pblk + i, sum };
	}
	return 0;
}

static int sums_of_range(struct nvfs *fs, const struct nvmpfs_inode *inode,
			 const struct nvfs_range *r,
			 struct nvfs_block_sum **out, size_t *n, size_t *cap)
{
	uint64_t end = r->off + r->len < inode->size ? r->off + r->len
						      : inode->size;
	uint64_t b = block_of(r->off), last = blocks_to_cover(end);
	while (r->off < end && b < last) {
		uint64_t data = bmap_next(fs, inode, b, true);
		if (data == UINT64_MAX || data >= last)
			break;
		uint64_t run;
		uint64_t pblk = bmap_lookup(fs, inode, data, &run);
		if (run > last - data)
			run = last - data;
		int rc = pblk ? add_sums(fs, data, pblk, run, out, n, cap) : 0;
		if (rc)
			return rc;
		b = data + run;
	}
	return 0;
}

int nvfs_block_sums(struct nvfs *fs, uint64_t ino,
		    const struct nvfs_range *ranges, size_t count,
		    struct nvfs_block_sum **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	struct icache_ent *ent = ilock(fs, ino, false);
	if (!ent)
		return -ENOMEM;
	int rc = 0;
	struct nvmpfs_inode *inode = file_live(fs, ino, &rc);
	for (size_t i = 0; inode && rc == 0 && i < count; i++)
		rc = sums_of_range(fs, inode, &ranges[i], out, n, &cap);
	iunlock(fs, ent);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

ssize_t nvfs_bad_ranges(struct nvfs *fs, uint64_t ino, struct nvfs_range *out,
			size_t max)
{
	struct icache_ent *ent = ilock(fs, ino, false);
	if (!ent)
		return -ENOMEM;
	ssize_t n = inode_live(fs, ino) ? 0 : -ENOENT;
	pthread_mutex_lock(&ent->list_mu);
	for (size_t i = 0; n >= 0 && i < ent->bad.n && i < max; i++)
		out[i] = (struct nvfs_range){ ent->bad.r[i].off,
					      ent->bad.r[i].len };
	if (n == 0)
		n = (ssize_t)ent->bad.n;
	pthread_mutex_unlock(&ent->list_mu);
	iunlock(fs, ent);
	return n;
}
