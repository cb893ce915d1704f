/*
 * Tracking changes for a mirror.  A mount that has a mirror installs this
 * trampoline as the pool's persist hook before it changes anything: each
 * drain goes to the mirror's sender once it has hooked in
 * (nvfs_set_persist_hook), and is marked in the out-of-sync map while it
 * has not (mount-time work, the background thread starting before the
 * sender, the last drains after it stopped).  So every change of a
 * mirrored mount either reaches the mirror or is marked, and the
 * superblock's replication token may stay the same: the next attach then
 * resyncs only what is marked.
 */
#include <errno.h>

#include "fs.h"

static int track_hook(void *arg, struct pool *pool,
		      const struct pool_range *ranges, size_t count,
		      uint64_t *seq)
{
	struct nvfs *fs = arg;
	pthread_rwlock_rdlock(&fs->track_lock);
	int rc;
	if (fs->track_hook) {
		rc = fs->track_hook(fs->track_arg, pool, ranges, count, seq);
	} else {
		rc = nvfs_oos_mark(fs, ranges, count);
		*seq = 0;
	}
	pthread_rwlock_unlock(&fs->track_lock);
	return rc;
}

void track_start(struct nvfs *fs)
{
	fs->tracking = true;
	pool_set_hook(fs->pool, track_hook, fs);
}

void nvfs_set_persist_hook(struct nvfs *fs,
			   int (*hook)(void *arg, struct pool *pool,
				       const struct pool_range *ranges,
				       size_t count, uint64_t *seq),
			   void *arg)
{
	if (!fs->tracking) {
		pool_set_hook(fs->pool, hook, arg);
		return;
	}
	/* Drains in flight finish with the hook they started with. */
	pthread_rwlock_wrlock(&fs->track_lock);
	fs->track_hook = hook;
	fs->track_arg = arg;
	pthread_rwlock_unlock(&fs->track_lock);
}
