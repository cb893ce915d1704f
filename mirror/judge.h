/*
 * The mirror's verdict on a primary that proved the key: whether its pool
 * may be replicated into this one.  Refused (a REFUSE code and a line
 * saying why):
 *   - NVMR_REFUSE_IO: this mirror's pool failed earlier (a drain failed)
 *     or its superblock cannot be read;
 *   - NVMR_REFUSE_POOL: another size or block count (both sizes said);
 *     another pool (uuid) when this pool is a replica (both uuids said);
 *   - NVMR_REFUSE_SPLIT_BRAIN: this pool is promoted (a primary now), or
 *     the primary's epoch is older than this pool's (this pool, or the
 *     pool it mirrors, was promoted after the primary was cut off), or
 *     this replica's epoch is older than the primary's, or the same with
 *     another epoch tag (it was on the other side of a failover and may
 *     hold changes the primary lacks: demote it first).
 * A blank or demoted pool takes any primary of its size.  Epochs are
 * compared only between pools of one lineage (same uuid).
 *
 * Accepted: a full resync (the primary compares every block's hash, then
 * copies what differs) unless this pool is a replica of the primary's
 * pool whose superblock holds the primary's replication token (and, by
 * the checks above, its epoch and tag): then every change this replica
 * lacks is marked in the primary's out-of-sync map (layout.h,
 * repl_token), and only those blocks are resent.
 */
#ifndef NVMPFS_MIRROR_JUDGE_H
#define NVMPFS_MIRROR_JUDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "pool_view.h"

struct mirror_judge_ctx {
	const struct pool *pool;
	const struct mirror_pool_view *view;
	/* Why this mirror's pool cannot be used now (refused IO), or NULL. */
	const char *unusable;
};

/* An nvmr_judge_fn; arg is a struct mirror_judge_ctx. */
int mirror_judge(void *arg, const struct nvmr_hello *hello, bool *full_resync,
		 char *text, size_t textlen);

#endif
