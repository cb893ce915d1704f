/* Promote and demote (see role.h). */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "nvfs.h"
#include "role.h"
#include "super.h"

/* Opens the pool for a superblock change; the lock says nobody uses it. */
static struct pool *open_for_role(const char *path, struct nvmpfs_super *sb,
				  char *err, size_t errlen)
{
	struct pool_open_opts po = { 0 };
	struct pool *pool = pool_open(path, &po, err, errlen);
	if (!pool)
		return NULL;
	if (super_load(pool, sb, err, errlen) < 0) {
		pool_close(pool);
		return NULL;
	}
	return pool;
}

/*
 * The pool's metadata must be one a mount takes as it is: fsck -n finds
 * nothing but, perhaps, data blocks failing their checksums (counted in
 * *data_bad: no repair fixes those; reads of them fail with EIO, and their
 * files are for the operator to restore).
 */
static int check_consistent(const char *path, uint64_t *data_bad, char *err,
			    size_t errlen)
{
	struct check_opts co = { 0 };
	struct check_result res;
	FILE *quiet = fopen("/dev/null", "w");
	int rc = check_pool(path, &co, quiet ? quiet : stderr, &res, err, errlen);
	if (quiet)
		fclose(quiet);
	if (rc < 0)
		return -1;
	*data_bad = res.data_bad;
	/*
	 * What a crash leaves for the mount to finish (an open transaction,
	 * an unlinked file still allocated) is no inconsistency: a replica
	 * of a primary that died is exactly such a pool.
	 */
	uint64_t real = res.found - res.data_bad - res.recoverable;
	if (real > 0) {
		snprintf(err, errlen, "%s: the pool is not consistent (%llu "
			 "problems): run fsck.nvmpfs -y on it first", path,
			 (unsigned long long)real);
		return -1;
	}
	return 0;
}

void role_resync_marker(const char *pool_path, char *out, size_t outlen)
{
	nvfs_resync_marker(pool_path, out, outlen);
}

/* A replica caught in the middle of a resync may be torn anywhere. */
static int check_not_resyncing(const char *path, char *err, size_t errlen)
{
	char marker[4200];
	role_resync_marker(path, marker, sizeof(marker));
	if (access(marker, F_OK) != 0)
		return 0;
	snprintf(err, errlen, "%s: a resync was under way on this replica "
		 "when its primary was lost (%s exists): it mixes old and new "
		 "blocks and may have lost acknowledged data; promote it only "
		 "if no better copy exists (nvmpfsctl promote --force), then "
		 "run fsck.nvmpfs", path, marker);
	return -1;
}

int role_promote(const char *path, bool force, uint64_t *old_epoch,
		 uint64_t *new_epoch, uint64_t *data_bad, char *err,
		 size_t errlen)
{
	if (!force && check_not_resyncing(path, err, errlen) < 0)
		return -1;
	if (check_consistent(path, data_bad, err, errlen) < 0)
		return -1;
	struct nvmpfs_super sb;
	struct pool *pool = open_for_role(path, &sb, err, errlen);
	if (!pool)
		return -1;
	*old_epoch = sb.mirror_epoch;
	sb.mirror_epoch++;
	if (getrandom(&sb.epoch_tag, sizeof(sb.epoch_tag), 0) !=
	    (ssize_t)sizeof(sb.epoch_tag))
		sb.epoch_tag ^= (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	sb.role_flags = (sb.role_flags & ~NVMPFS_ROLE_DEMOTED) |
			NVMPFS_ROLE_PROMOTED;
	super_new_repl_token(&sb);
	/* The old primary's out-of-sync marks (replicated while it was
	 * compared) mean nothing for this pool's own mirrors to come. */
	pool_zero(pool, sb.sync_start * NVMPFS_BLOCK_SIZE,
		  sb.sync_blocks * NVMPFS_BLOCK_SIZE);
	pool_drain(pool);
	super_store(pool, &sb);
	*new_epoch = sb.mirror_epoch;
	pool_close(pool);
	char marker[4200];
	role_resync_marker(path, marker, sizeof(marker));
	unlink(marker);  /* promoted with --force: it is a primary now */
	return 0;
}

int role_demote(const char *path, uint64_t *epoch, char *err, size_t errlen)
{
	struct nvmpfs_super sb;
	struct pool *pool = open_for_role(path, &sb, err, errlen);
	if (!pool)
		return -1;
	sb.role_flags = (sb.role_flags & ~NVMPFS_ROLE_PROMOTED) |
			NVMPFS_ROLE_DEMOTED;
	super_store(pool, &sb);
	*epoch = sb.mirror_epoch;
	pool_close(pool);
	return 0;
}
