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
 * Accepted: every attach asks for a full resync (the primary compares
 * every block's hash, then copies what differs).  The mirror cannot tell
 * which of the primary's batches after its last ACK reached its pool, nor
 * whether it served another primary meanwhile, so it never claims to be a
 * known prefix of the primary; the primary's out-of-sync map could make
 * the resync smaller, which is the primary's business.
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
