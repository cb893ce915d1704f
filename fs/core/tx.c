/* Transactions of the file system: a lane and the allocators' part. */
#include <errno.h>
#include <string.h>

#include "fs.h"

void tx_begin(struct nvfs *fs, struct tx *tx)
{
	memset(tx, 0, sizeof(*tx));
	tx->fs = fs;
	tx->lane = lane_get(&fs->j);
}

int tx_log(struct tx *tx, const void *p, size_t len)
{
	return lane_log(tx->lane, p, len);
}

void tx_fresh(struct tx *tx, const void *p, size_t len)
{
	lane_fresh(tx->lane, p, len);
}

int tx_ready(struct tx *tx)
{
	return lane_ready(tx->lane);
}

uint64_t tx_room(const struct tx *tx)
{
	return lane_room(tx->lane);
}

int tx_take_blocks(struct tx *tx, uint64_t goal, uint64_t want,
		   uint64_t *start, uint64_t *got)
{
	int rc = alloc_run(tx->fs, goal, want, start, got);
	if (rc)
		return rc;
	if (range_list_add(&tx->taken, *start, *got)) {
		alloc_release(tx->fs, *start, *got);
		return -ENOMEM;
	}
	return 0;
}

int tx_free_blocks(struct tx *tx, uint64_t start, uint64_t count)
{
	struct nvfs *fs = tx->fs;
	if (start < fs->sb.data_start || start + count > fs->sb.block_count ||
	    start + count < start)
		return -EIO;
	if (range_list_add(&tx->freed, start, count))
		return -ENOMEM;
	/*
	 * A free block's checksum word is 0.  Cleared now, durable with the
	 * commit; should the transaction roll back, the blocks are merely
	 * unverified.
	 */
	csum_clear(fs, start, count);
	return 0;
}

/* What the allocators learn once the transaction's outcome is known. */
static void settle(struct tx *tx, bool committed)
{
	struct nvfs *fs = tx->fs;
	struct range_list *back = committed ? &tx->freed : &tx->taken;
	for (size_t i = 0; i < back->n; i++)
		lease_release_blocks(fs, back->r[i].off, back->r[i].len);
	const uint64_t *slots = committed ? tx->inode_freed : tx->inode_taken;
	unsigned nslots = committed ? tx->ninodes_freed : tx->ninodes_taken;
	for (unsigned i = 0; i < nslots; i++)
		ialloc_release(fs, slots[i]);
	tx->taken.n = tx->freed.n = 0;
	tx->ninodes_taken = tx->ninodes_freed = 0;
}

/*
 * Set without the freeze (the caller holds it shared): changes under
 * way finish or fail on the pool's sticky error; new ones see the flag.
 */
void fs_fail_read_only(struct nvfs *fs, int rc)
{
	if (__atomic_exchange_n(&fs->read_only, true, __ATOMIC_SEQ_CST))
		return;
	nvfs_log(fs, "%s: a change could not be made durable (%s): the file "
		 "system is now read-only; unmount and run fsck.nvmpfs",
		 fs->pool->path, strerror(-rc));
}

int tx_commit(struct tx *tx)
{
	int rc = lane_commit(tx->lane);
	if (rc) {
		fs_fail_read_only(tx->fs, rc);
		tx->taken.n = tx->freed.n = 0;  /* keep everything: safe */
		tx->ninodes_taken = tx->ninodes_freed = 0;
	} else {
		settle(tx, true);
	}
	lane_put(tx->lane);
	range_list_free(&tx->taken);
	range_list_free(&tx->freed);
	tx->lane = NULL;
	return rc;
}

int tx_step(struct tx *tx)
{
	int rc = lane_step(tx->lane);
	if (rc) {
		fs_fail_read_only(tx->fs, rc);
		return rc;
	}
	settle(tx, true);
	return 0;
}

void tx_abort(struct tx *tx)
{
	int rc = lane_abort(tx->lane);
	if (rc)
		fs_fail_read_only(tx->fs, rc);
	settle(tx, false);
	lane_put(tx->lane);
	range_list_free(&tx->taken);
	range_list_free(&tx->freed);
	tx->lane = NULL;
}
