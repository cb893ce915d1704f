/*
 * Mount and unmount: opening the pool, recovery after a crash (journal
 * rollback, orphan reclaim, interrupted truncates), the clean/mounted
 * state, and the whole-file-system calls (statfs, syncfs, stats).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "fs.h"

bool fs_valid_name(const char *name, size_t len)
{
	if (len == 0 || len > NVMPFS_MAX_NAME)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

void nvfs_log(struct nvfs *fs, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fs->log)
		fs->log(msg);
	else
		fprintf(stderr, "nvmpfs: %s\n", msg);
}

void fs_abort(struct nvfs *fs)
{
	tx_abort(&fs->j);
	/* In-memory views of what was undone are rebuilt from the pool. */
	icache_drop_dir_indexes(fs);
	alloc_init(fs);
	inode_count_free(fs);
}

/* Finishes what a crash interrupted: truncates, then orphan reclaim. */
static void recover_inodes(struct nvfs *fs, struct nvfs_mount_report *report,
			   bool after_crash)
{
	for (uint64_t ino = NVMPFS_ROOT_INO; ino < fs->sb.inode_count; ino++) {
		struct nvmpfs_inode *inode = inode_get(fs, ino);
		if (!inode->mode)
			continue;
		/* A rolled-back extending write may have left bytes past EOF. */
		if (after_crash && S_ISREG(inode->mode) && inode->nlink)
			file_zero_past_eof(fs, ino);
		if (inode->flags & NVMPFS_IFLAG_TRUNCATING &&
		    file_finish_truncate(fs, ino) == 0)
			report->truncates_finished++;
		if (inode->nlink == 0 && ino != NVMPFS_ROOT_INO &&
		    inode_reclaim(fs, ino) == 0)
			report->orphans_freed++;
	}
}

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

int nvfs_mount(const char *pool_path, const struct nvfs_mount_opts *opts,
	       struct nvfs **out, struct nvfs_mount_report *report,
	       char *err, size_t errlen)
{
	struct nvfs_mount_report scratch;
	if (!report)
		report = &scratch;
	memset(report, 0, sizeof(*report));
	struct nvfs *fs = calloc(1, sizeof(*fs));
	if (!fs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&fs->lock, NULL);
	fs->read_only = opts->read_only;
	fs->atime_mode = opts->atime_mode;
	fs->no_diratime = opts->no_diratime;
	fs->csum_on = !opts->no_csum;
	fs->acl_disabled = opts->no_acl;
	fs->verify_reads = !opts->no_csum && !opts->no_verify;
	fs->pool = open_pool(pool_path, opts, &report->created, err, errlen);
	int rc = -EIO;
	if (!fs->pool) {
		if (errno == EBUSY)
			rc = -EBUSY; /* locked by another process */
		goto fail;
	}
	if (super_load(fs->pool, &fs->sb, err, errlen) < 0)
		goto fail;
	report->was_clean = fs->sb.state == NVMPFS_STATE_CLEAN;
	int undone = journal_recover(fs->pool, &fs->sb, err, errlen);
	if (undone < 0)
		goto fail;
	report->undone_records = undone;
	if (journal_init(&fs->j, fs->pool, &fs->sb)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	icache_init(&fs->icache);
	alloc_init(fs);
	inode_count_free(fs);
	if (!inode_live(fs, NVMPFS_ROOT_INO) ||
	    !S_ISDIR(inode_get(fs, NVMPFS_ROOT_INO)->mode)) {
		snprintf(err, errlen, "%s: root directory is damaged; run "
			 "fsck.nvmpfs", pool_path);
		goto fail_fs;
	}
	if (!fs->read_only) {
		recover_inodes(fs, report, !report->was_clean ||
					       report->undone_records > 0);
		fs->sb.state = NVMPFS_STATE_MOUNTED;
		super_store(fs->pool, &fs->sb);
	}
	*out = fs;
	return 0;
fail_fs:
	journal_fini(&fs->j);
	icache_fini(fs);
fail:
	pool_close(fs->pool);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
	return rc;
}

static void release_fs(struct nvfs *fs)
{
	csum_fini(fs);
	journal_fini(&fs->j);
	icache_fini(fs);
	pool_close(fs->pool);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

void nvfs_unmount(struct nvfs *fs)
{
	pthread_mutex_lock(&fs->lock);
	if (!fs->read_only) {
		/* Nobody holds unlinked files any more: free them now. */
		struct nvfs_mount_report ignored = { 0 };
		recover_inodes(fs, &ignored, false);
		csum_persist_all(fs);
		pool_drain(fs->pool);
		fs->sb.state = NVMPFS_STATE_CLEAN;
		super_store(fs->pool, &fs->sb);
	}
	pthread_mutex_unlock(&fs->lock);
	release_fs(fs);
}

void nvfs_populate(struct nvfs *fs)
{
	pool_populate(fs->pool);
}

void nvfs_abandon(struct nvfs *fs)
{
	release_fs(fs);
}

int nvfs_statfs(struct nvfs *fs, struct statvfs *st)
{
	pthread_mutex_lock(&fs->lock);
	memset(st, 0, sizeof(*st));
	st->f_bsize = NVMPFS_BLOCK_SIZE;
	st->f_frsize = NVMPFS_BLOCK_SIZE;
	st->f_blocks = fs->sb.block_count - fs->sb.data_start;
	st->f_bfree = fs->free_blocks;
	st->f_bavail = fs->free_blocks;
	st->f_files = fs->sb.inode_count - 1;
	st->f_ffree = fs->free_inodes;
	st->f_favail = fs->free_inodes;
	memcpy(&st->f_fsid, fs->sb.uuid, sizeof(st->f_fsid));
	st->f_namemax = NVMPFS_MAX_NAME;
	if (fs->read_only)
		st->f_flag |= ST_RDONLY;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

int nvfs_atime_mode(struct nvfs *fs)
{
	return fs->atime_mode;
}

bool nvfs_acls_disabled(struct nvfs *fs)
{
	return fs->acl_disabled;
}

void nvfs_enable_acls(struct nvfs *fs)
{
	pthread_mutex_lock(&fs->lock);
	fs->acl_on = true;
	pthread_mutex_unlock(&fs->lock);
}

bool nvfs_checksums_on(struct nvfs *fs)
{
	return fs->csum_on;
}

void nvfs_get_stats(struct nvfs *fs, struct nvfs_stats *st)
{
	pthread_mutex_lock(&fs->lock);
	*st = fs->stats;
	st->drains = fs->pool->drains;
	st->commits = fs->j.commits;
	pthread_mutex_unlock(&fs->lock);
}
