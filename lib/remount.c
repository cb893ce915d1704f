/*
 * mount -o remount,ro and back: a mounted file system switched read-only
 * while it stays mounted.
 *
 * Read-only here means no store reaches the pool.  That relies on the
 * rest of the core as it is: every call that changes the file system
 * checks fs->read_only under fs->lock and fails with -EROFS (access times
 * and the reclaim of unlinked files are skipped instead), and the sync
 * points (fsync, syncfs, flush, scrub) store nothing but pending checksums,
 * of which there are none once this call has stored them all.  The pool
 * is marked clean while read-only, as after an unmount: a crash while
 * read-only needs no recovery.
 */
#include <errno.h>

#include "fs.h"
#include "super.h"

static void make_clean(struct nvfs *fs)
{
	csum_persist_all(fs);
	pool_drain(fs->pool);
	icache_clear_dirty(fs); /* a whole-pool sync point, like syncfs */
	fs->sb.state = NVMPFS_STATE_CLEAN;
	super_store(fs->pool, &fs->sb);
}

int nvfs_set_read_only(struct nvfs *fs, bool ro)
{
	int rc = 0;
	pthread_mutex_lock(&fs->lock);
	if (fs->pool->read_only) {
		/* Mounted ro: the pool is open read-only and mapped privately. */
		rc = ro ? 0 : -EROFS;
	} else if (ro && !fs->read_only) {
		make_clean(fs);
		fs->read_only = true;
	} else if (!ro && fs->read_only) {
		fs->sb.state = NVMPFS_STATE_MOUNTED;
		super_store(fs->pool, &fs->sb);
		fs->read_only = false;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
