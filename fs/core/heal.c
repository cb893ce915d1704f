/*
 * Self-heal: a data block that fails its checksum is fetched from another
 * copy (the mirror) and written back in place, when that copy has the
 * checksum the pool recorded for the block.  The checksum decides: a copy
 * that does not match it (older, newer or damaged) is never written.
 *
 * Writing in place needs no write-intent: the recorded checksum is already
 * the one the healed bytes have, so a heal torn by a crash leaves a block
 * that fails its checksum, as it did before.
 */
#include <errno.h>
#include <stdlib.h>

#include "file.h"

void nvfs_set_healer(struct nvfs *fs,
		     int (*fetch)(void *arg, uint64_t pblk, void *buf),
		     void *arg)
{
	__atomic_store_n(&fs->heal_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&fs->heal_fetch, fetch, __ATOMIC_RELEASE);
}

bool heal_possible(const struct nvfs *fs)
{
	return __atomic_load_n(&fs->heal_fetch, __ATOMIC_ACQUIRE) &&
	       fs->csum_on && !fs_is_read_only(fs);
}

/* Fetches pblk's other copy into buf; 0 when it has the recorded sum. */
static int fetch_good_copy(struct nvfs *fs, uint64_t pblk, uint64_t want,
			   uint8_t *buf)
{
	int (*fetch)(void *, uint64_t, void *) =
		__atomic_load_n(&fs->heal_fetch, __ATOMIC_ACQUIRE);
	if (!fetch)
		return -EIO;
	int rc = fetch(fs->heal_arg, pblk, buf);
	if (rc)
		return rc;
	return csum_of_buffer(buf) == want ? 0 : -EIO;
}

/* The block at lblk of a file held exclusively: healed, or why not. */
static int heal_locked(struct nvfs *fs, struct icache_ent *ent, uint64_t lblk)
{
	int rc = 0;
	struct nvmpfs_inode *inode = file_live(fs, ent->ino, &rc);
	if (!inode)
		return rc;
	uint64_t run;
	uint64_t pblk = bmap_lookup(fs, inode, lblk, &run);
	if (!pblk || csum_check_block(fs, pblk) >= 0)
		return 0;     /* rewritten, truncated or healed meanwhile */
	uint64_t want = *csum_word(fs, pblk);
	uint8_t *buf = aligned_alloc(BS, BS);
	if (!buf)
		return -ENOMEM;
	rc = fetch_good_copy(fs, pblk, want, buf);
	if (rc == 0) {
		pool_copy(fs->pool, pblk * BS, buf, BS);
		rc = pool_drain(fs->pool);
	}
	free(buf);
	if (rc == 0) {
		STAT_ADD(fs, blocks_healed, 1);
		file_forget_healed(ent, lblk * BS, BS);
		nvfs_log(fs, "healed inode %llu, offset %llu (pool block %llu) "
			 "from the mirror", (unsigned long long)ent->ino,
			 (unsigned long long)(lblk * BS),
			 (unsigned long long)pblk);
	} else if (rc == -EIO && fs->pool->sync_error) {
		fs_fail_read_only(fs, rc);
	}
	return rc;
}

int heal_block(struct nvfs *fs, uint64_t ino, uint64_t lblk)
{
	if (!heal_possible(fs))
		return -EIO;
	int rc = change_begin(fs);
	if (rc)
		return -EIO;
	struct icache_ent *ent = ilock(fs, ino, true);
	if (!ent) {
		change_end(fs);
		return -ENOMEM;
	}
	rc = heal_locked(fs, ent, lblk);
	iunlock(fs, ent);
	change_end(fs);
	return rc;
}
