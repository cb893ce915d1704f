/*
 * Mount and unmount: opening the pool, recovery after a crash, the
 * clean/mounted state, and the background thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "fs.h"
#include "reclaim.h"
#include "recover.h"
#include "super.h"

static struct pool *open_pool(const char *path, const struct nvfs_mount_opts *o,
			      bool *created, char *err, size_t errlen)
{
	struct pool_open_opts po = {
		.create = o->create,
		.create_size = o->create_size ? o->create_size : (1ull << 30),
		.read_only = o->read_only,
		.private_map = o->read_only,
	};
	struct pool *pool = pool_open(path, &po, err, errlen);
	if (!pool)
		return NULL;
	*created = pool->created;
	if (pool->created) {
		struct mkfs_params params = { .root_uid = getuid(),
					      .root_gid = getgid() };
		if (format_pool(pool, &params, NULL, NULL, err, errlen) < 0) {
			pool_close(pool);
			unlink(path);
			return NULL;
		}
	}
	return pool;
}

static struct nvfs *new_fs(const struct nvfs_mount_opts *opts)
{
	struct nvfs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	pthread_rwlock_init(&fs->freeze, NULL);
	pthread_rwlock_init(&fs->track_lock, NULL);
	pthread_mutex_init(&fs->rename_lock, NULL);
	pthread_mutex_init(&fs->super_lock, NULL);
	fs->read_only = opts->read_only;
	fs->no_diratime = opts->no_diratime;
	fs->atime_mode = opts->atime_mode;
	fs->csum_on = !opts->no_csum;
	fs->acl_disabled = opts->no_acl;
	fs->verify_reads = !opts->no_csum && !opts->no_verify;
	return fs;
}

static void release_fs(struct nvfs *fs)
{
	reclaim_stop(fs);
	lease_fini(fs);
	intent_fini(fs);
	ialloc_fini(fs);
	alloc_fini(fs);
	journal_fini(&fs->j);
	icache_fini(fs);
	pool_close(fs->pool);
	pthread_rwlock_destroy(&fs->freeze);
	pthread_rwlock_destroy(&fs->track_lock);
	pthread_mutex_destroy(&fs->rename_lock);
	pthread_mutex_destroy(&fs->super_lock);
	free(fs);
}

/* The in-memory state of a pool whose superblock and journal are sane. */
static int load_state(struct nvfs *fs, const char *path, char *err,
		      size_t errlen)
{
	oos_init(fs);
	if (journal_init(&fs->j, fs->pool, &fs->sb) || icache_init(fs) ||
	    ialloc_init(fs) || intent_init(fs) || lease_init(fs, path)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	struct nvmpfs_inode *root = inode_live(fs, NVMPFS_ROOT_INO);
	if (!root || !S_ISDIR(root->mode)) {
		snprintf(err, errlen, "%s: root directory is damaged; run "
			 "fsck.nvmpfs", path);
		return -EIO;
	}
	return 0;
}

static int recover(struct nvfs *fs, struct nvfs_mount_report *report,
		   const char *path, char *err, size_t errlen)
{
	bool crashed = !report->was_clean || report->undone_records > 0;
	int rc = crashed ? recover_allocator(fs, report) : alloc_load(fs);
	report->allocator_rebuilt = crashed;
	if (rc == 0 && crashed && !fs->read_only)
		rc = recover_after_crash(fs, report);
	else if (rc == 0 && crashed)
		rc = recover_view_after_crash(fs, report);
	else if (rc == 0 && !fs->read_only)
		/* Unlinked while read-only (remount), or left by a tool. */
		rc = recover_orphans(fs, report);
	if (rc)
		snprintf(err, errlen, "%s: recovery after an unclean shutdown "
			 "failed (%s); run fsck.nvmpfs", path, strerror(-rc));
	return rc;
}

/*
 * A mirror's replica caught in the middle of a resync may be torn
 * anywhere: it is used only once promoted, knowingly (--force).
 */
static bool caught_mid_resync(const char *pool_path, char *err, size_t errlen)
{
	char marker[4200];
	nvfs_resync_marker(pool_path, marker, sizeof(marker));
	if (access(marker, F_OK) != 0)
		return false;
	snprintf(err, errlen, "%s: a mirror's replica caught in the middle of "
		 "a resync (%s exists): it may mix old and new blocks; mount it "
		 "read-only to look at it, or promote it first (nvmpfsctl "
		 "promote --force) if no better copy exists", pool_path, marker);
	return true;
}

int nvfs_mount(const char *pool_path, const struct nvfs_mount_opts *opts,
	       struct nvfs **out, struct nvfs_mount_report *report,
	       char *err, size_t errlen)
{
	struct nvfs_mount_report scratch;
	if (!report)
		report = &scratch;
	memset(report, 0, sizeof(*report));
	struct nvfs *fs = new_fs(opts);
	if (!fs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = -EIO;
	fs->pool = open_pool(pool_path, opts, &report->created, err, errlen);
	if (!fs->pool) {
		rc = errno == EBUSY ? -EBUSY : -EIO;
		goto fail;
	}
	if (super_load(fs->pool, &fs->sb, err, errlen) < 0)
		goto fail;
	if (fs->sb.role_flags & NVMPFS_ROLE_DEMOTED) {
		snprintf(err, errlen, "%s: the pool was demoted (its host was a "
			 "primary that another pool replaced): serve it with "
			 "nvmpfs-mirror to rejoin as a mirror, or promote it with "
			 "nvmpfsctl promote to mount it again", pool_path);
		goto fail;
	}
	if (!fs->read_only && caught_mid_resync(pool_path, err, errlen))
		goto fail;
	report->was_clean = fs->sb.state == NVMPFS_STATE_CLEAN;
	int undone = journal_recover(fs->pool, &fs->sb, err, errlen);
	if (undone < 0)
		goto fail;
	report->undone_records = undone;
	if ((rc = load_state(fs, pool_path, err, errlen)))
		goto fail;
	if (opts->mirrored && !fs->read_only)
		track_start(fs);
	if ((rc = recover(fs, report, pool_path, err, errlen)))
		goto fail;
	if (!fs->read_only) {
		fs->sb.state = NVMPFS_STATE_MOUNTED;
		/* Changes a mirror may miss without the map saying so: a
		 * mount without a mirror, or a crash (the batches in flight
		 * then, and recovery's own work, reached no map). */
		if (!opts->mirrored || !report->was_clean ||
		    report->undone_records || !fs->sb.repl_token)
			super_new_repl_token(&fs->sb);
		/* Served as a primary now: the raised epoch alone fences the
		 * old primary, and the flag must not reach this pool's own
		 * mirror (a replica is byte for byte), where nvmpfs-mirror
		 * would take it for a promoted pool and refuse it. */
		fs->sb.role_flags &= ~NVMPFS_ROLE_PROMOTED;
		super_store(fs->pool, &fs->sb);
	}
	*out = fs;
	return 0;
fail:
	release_fs(fs);
	return rc;
}

void nvfs_make_clean(struct nvfs *fs)
{
	reclaim_stop(fs);
	if (fs->read_only || fs->made_clean)
		return;
	/* Leases left (their programs were never released): end them. */
	lease_shutdown(fs);
	/* Nobody holds unlinked files any more: free them now. */
	struct nvfs_mount_report ignored = { 0 };
	recover_orphans(fs, &ignored);
	alloc_store(fs);
	intent_clear_all(fs);
	if (pool_drain(fs->pool) == 0) {
		pthread_mutex_lock(&fs->super_lock);
		fs->sb.state = NVMPFS_STATE_CLEAN;
		super_store(fs->pool, &fs->sb);
		pthread_mutex_unlock(&fs->super_lock);
	}
	fs->made_clean = true;
}

void nvfs_unmount(struct nvfs *fs)
{
	nvfs_make_clean(fs);
	release_fs(fs);
}

void nvfs_start(struct nvfs *fs)
{
	pool_populate(fs->pool);
	if (!fs->read_only && reclaim_start(fs))
		nvfs_log(fs, "cannot start the background thread: big dead "
			 "files are freed in the foreground");
}

void nvfs_abandon(struct nvfs *fs)
{
	release_fs(fs);
}
