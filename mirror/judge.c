/* The mirror's verdict on a primary (see judge.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "judge.h"

static bool same_size(const struct mirror_judge_ctx *c,
		      const struct nvmr_pool_id *p, char *text, size_t textlen)
{
	uint64_t size = c->pool->size, blocks = c->view->sb.block_count;
	if (p->pool_size == size && p->block_count == blocks)
		return true;
	if (p->pool_size == size) {
		snprintf(text, textlen, "the pools differ in block count: the "
			 "primary's has %" PRIu64 " blocks, this mirror's %s "
			 "has %" PRIu64 " (both are %" PRIu64 " bytes)",
			 p->block_count, c->pool->path, blocks, size);
		return false;
	}
	snprintf(text, textlen, "the pools differ in size: the primary's is %"
		 PRIu64 " bytes (%" PRIu64 " blocks), this mirror's %s is %"
		 PRIu64 " bytes (%" PRIu64 " blocks); make the mirror's pool "
		 "the primary's size (mkfs.nvmpfs -s %" PRIu64 ")",
		 p->pool_size, p->block_count, c->pool->path, size, blocks,
		 p->pool_size);
	return false;
}

static void promoted(const struct mirror_judge_ctx *c,
		     const struct nvmr_pool_id *p, char *text, size_t textlen)
{
	snprintf(text, textlen, "split brain: this pool was promoted (epoch %"
		 PRIu64 "); the primary's epoch is %" PRIu64 ": %s is a "
		 "primary now and is not overwritten; to make it a mirror "
		 "again, throwing its changes away, demote it (nvmpfsctl "
		 "demote)", c->view->sb.mirror_epoch, p->epoch, c->pool->path);
}

static void stale_primary(const struct mirror_judge_ctx *c,
			  const struct nvmr_pool_id *p, char *text,
			  size_t textlen)
{
	snprintf(text, textlen, "split brain: this pool has epoch %" PRIu64
		 " (it was promoted, or mirrors a pool that was); the "
		 "primary's epoch is %" PRIu64 ": the primary is stale, its "
		 "pool may have diverged; nothing was written",
		 c->view->sb.mirror_epoch, p->epoch);
}

static void other_pool(const struct mirror_judge_ctx *c,
		       const struct nvmr_pool_id *p, char *text,
		       size_t textlen)
{
	char theirs[37], ours[37];
	mirror_format_uuid(p->uuid, theirs);
	mirror_format_uuid(c->view->sb.uuid, ours);
	snprintf(text, textlen, "another pool: the primary's pool is %s, this "
		 "mirror's %s is a replica of %s; to mirror this primary "
		 "instead, demote it (nvmpfsctl demote) or make it anew "
		 "(mkfs.nvmpfs)", theirs, c->pool->path, ours);
}

/*
 * This replica is of an older epoch than its primary, or of the same
 * epoch from another promotion: it was on the other side of a failover
 * and may hold changes the primary lacks.
 */
static void other_side(const struct mirror_judge_ctx *c,
		       const struct nvmr_pool_id *p, char *text,
		       size_t textlen)
{
	char why[160];
	if (p->epoch > c->view->sb.mirror_epoch)
		snprintf(why, sizeof(why), "this pool has epoch %" PRIu64
			 ", older than the primary's %" PRIu64,
			 c->view->sb.mirror_epoch, p->epoch);
	else
		snprintf(why, sizeof(why), "this pool and the primary's were "
			 "promoted to epoch %" PRIu64 " apart", p->epoch);
	snprintf(text, textlen, "split brain: %s: it may hold changes the "
		 "primary lacks; nothing was written; to mirror this primary, "
		 "throwing them away, demote it (nvmpfsctl demote %s)", why,
		 c->pool->path);
}

int mirror_judge(void *arg, const struct nvmr_hello *hello, bool *full_resync,
		 char *text, size_t textlen)
{
	const struct mirror_judge_ctx *c = arg;
	const struct nvmr_pool_id *p = &hello->pool;
	bool same_uuid = memcmp(p->uuid, c->view->sb.uuid, 16) == 0;
	if (c->unusable) {
		snprintf(text, textlen, "this mirror's pool cannot be used: %s",
			 c->unusable);
		return NVMR_REFUSE_IO;
	}
	if (!same_size(c, p, text, textlen))
		return NVMR_REFUSE_POOL;
	if (c->view->promoted) {
		promoted(c, p, text, textlen);
		return NVMR_REFUSE_SPLIT_BRAIN;
	}
	if (c->view->state == NVMR_POOL_REPLICA && !same_uuid) {
		other_pool(c, p, text, textlen);
		return NVMR_REFUSE_POOL;
	}
	if (same_uuid && p->epoch < c->view->sb.mirror_epoch) {
		stale_primary(c, p, text, textlen);
		return NVMR_REFUSE_SPLIT_BRAIN;
	}
	if (c->view->state == NVMR_POOL_REPLICA && same_uuid &&
	    (p->epoch > c->view->sb.mirror_epoch ||
	     p->epoch_tag != c->view->sb.epoch_tag)) {
		other_side(c, p, text, textlen);
		return NVMR_REFUSE_SPLIT_BRAIN;
	}
	/* The primary's own replica, with every change it missed marked in
	 * the primary's out-of-sync map: only those are resent. */
	*full_resync = !(c->view->state == NVMR_POOL_REPLICA && same_uuid &&
			 p->repl_token && p->repl_token == c->view->sb.repl_token);
	return 0;
}
