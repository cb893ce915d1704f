/*
 * mount -o remount,ro and back: a mounted file system switched read-only
 * while it stays mounted, and the freeze that makes the switch safe.
 *
 * Every call that changes the pool runs between change_begin and
 * change_end, holding fs->freeze shared (outermost of all locks, see
 * fs.h); the switch takes it exclusively, so no change is half-way when
 * the pool is marked clean, and none starts after it (they fail with
 * -EROFS; access times and the freeing of unlinked files are skipped).
 * The pool is marked clean while read-only, exactly as after an unmount:
 * a crash while read-only needs no recovery.
 */
#include <errno.h>

#include "fs.h"
#include "reclaim.h"
#include "super.h"

int change_begin(struct nvfs *fs)
{
	if (pthread_rwlock_tryrdlock(&fs->freeze)) {
		nvfs_about_to_wait();   /* a freeze (remount) is on */
		pthread_rwlock_rdlock(&fs->freeze);
	}
	if (!fs->read_only)
		return 0;
	pthread_rwlock_unlock(&fs->freeze);
	return -EROFS;
}

void change_end(struct nvfs *fs)
{
	pthread_rwlock_unlock(&fs->freeze);
}

/* What a clean unmount writes: the allocator's map, the cleared marks. */
static int make_clean(struct nvfs *fs)
{
	alloc_store(fs);
	intent_clear_all(fs);
	int rc = pool_drain(fs->pool);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->super_lock);
	fs->sb.state = NVMPFS_STATE_CLEAN;
	super_store(fs->pool, &fs->sb);
	pthread_mutex_unlock(&fs->super_lock);
	return 0;
}

/*
 * Back to read-write: files closed while read-only after being unlinked
 * (their freeing was put off) are freed now -- those nothing holds.
 */
static void free_dead_files(struct nvfs *fs)
{
	for (uint64_t ino = NVMPFS_ROOT_INO + 1; ino < fs->sb.inode_count; ino++) {
		const struct nvmpfs_inode *inode = inode_get(fs, ino);
		if (__atomic_load_n(&inode->mode, __ATOMIC_RELAXED) &&
		    __atomic_load_n(&inode->nlink, __ATOMIC_RELAXED) == 0)
			reclaim_if_dead(fs, ino);
	}
}

int nvfs_set_read_only(struct nvfs *fs, bool ro)
{
	int rc = 0;
	nvfs_about_to_wait();   /* for the changes in flight */
	pthread_rwlock_wrlock(&fs->freeze);
	if (fs->pool->read_only) {
		/* Mounted ro: the pool is open read-only and mapped privately. */
		rc = ro ? 0 : -EROFS;
	} else if (ro && !fs->read_only && lease_any(fs)) {
		/* Programs store into the pool directly: it is not clean. */
		rc = -EBUSY;
	} else if (ro && !fs->read_only) {
		rc = make_clean(fs);
		if (rc == 0)
			__atomic_store_n(&fs->read_only, true, __ATOMIC_RELAXED);
	} else if (!ro && fs->read_only) {
		pthread_mutex_lock(&fs->super_lock);
		fs->sb.state = NVMPFS_STATE_MOUNTED;
		super_store(fs->pool, &fs->sb);
		pthread_mutex_unlock(&fs->super_lock);
		__atomic_store_n(&fs->read_only, false, __ATOMIC_RELAXED);
		rc = 1;
	}
	pthread_rwlock_unlock(&fs->freeze);
	if (rc == 1) {
		free_dead_files(fs);
		rc = 0;
	}
	return rc;
}
