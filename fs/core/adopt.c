/*
 * Adopting unverified blocks (nvmpfsctl scrub --adopt, nvfs_direct.h).
 *
 * A block has no checksum (word 0) when a crash cut a write to it short,
 * or when a program stored into it through a direct mapping and the
 * daemon died before the mapping's end.  Its data is kept, but nothing
 * checks it any more.  Adopting accepts what the block holds now as its
 * correct contents and stores that checksum: an explicit decision of the
 * administrator, never taken by a plain scrub.  Blocks a program may
 * still store into (a writable lease) are left alone.
 */
#include <errno.h>

#include "file.h"
#include "lease.h"
#include "nvfs_direct.h"

struct adopt_walk {
	struct nvfs *fs;
	struct nvfs_adopt_result *res;
};

/* Adopts the run [pblk, pblk+n); counts into res. */
static void adopt_run(void *arg, uint64_t lblk, uint64_t pblk, uint64_t n)
{
	(void)lblk;
	struct nvfs *fs = ((struct adopt_walk *)arg)->fs;
	struct nvfs_adopt_result *res = ((struct adopt_walk *)arg)->res;
	for (uint64_t b = pblk; b < pblk + n; b++) {
		if (__atomic_load_n(csum_word(fs, b), __ATOMIC_RELAXED))
			continue;
		if (lease_stores_direct(fs, b)) {
			res->leased++;
			continue;
		}
		csum_store(fs, b, csum_of_block(fs, b));
		res->adopted++;
	}
}

static int adopt_locked(struct nvfs *fs, const struct nvmpfs_inode *inode,
			uint64_t *lblk, uint64_t max_blocks,
			struct nvfs_adopt_result *res)
{
	uint64_t nblocks = blocks_to_cover(inode->size);
	struct adopt_walk w = { fs, res };
	bmap_for_runs(fs, inode, lblk, nblocks, max_blocks, adopt_run, &w);
	res->done = *lblk >= nblocks;
	return res->adopted ? pool_drain(fs->pool) : 0;
}

int nvfs_adopt(struct nvfs *fs, uint64_t ino, uint64_t *lblk,
	       uint64_t max_blocks, struct nvfs_adopt_result *res)
{
	*res = (struct nvfs_adopt_result){ 0 };
	if (!fs->csum_on)
		return -EOPNOTSUPP;
	int rc = change_begin(fs);
	if (rc)
		return rc;
	/* Exclusive: no write may change a block while it is hashed. */
	struct icache_ent *ent = ilock(fs, ino, true);
	if (!ent) {
		change_end(fs);
		return -ENOMEM;
	}
	struct nvmpfs_inode *inode = file_live(fs, ino, &rc);
	if (inode)
		rc = adopt_locked(fs, inode, lblk, max_blocks, res);
	iunlock(fs, ent);
	change_end(fs);
	return rc;
}
