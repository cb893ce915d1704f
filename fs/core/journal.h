/*
 * The metadata journal: an undo log in lanes (format in nvmpfs/layout.h).
 *
 * A lane carries one transaction at a time, so as many transactions run at
 * once as there are lanes.  A transaction:
 *
 *   lane_get                 a free lane and a new sequence number
 *   lane_log / lane_fresh    for every range about to change: its old bytes
 *                            (lane_fresh for bytes nobody can see yet, such
 *                            as a block just allocated); no drain yet
 *   lane_ready               one drain: every record durable
 *   ... change the bytes in place ...
 *   lane_commit              one drain for the changes, one for the close
 *   lane_put                 the lane is free again
 *
 * So a transaction costs three drains however many ranges it logs, as long
 * as it logs them all before lane_ready.  A range logged after lane_ready
 * is drained at once (its record must be durable before the change).
 * lane_abort puts every logged range back.  lane_log returns -ENOSPC when
 * the lane is full: long operations commit in steps, asking lane_room first.
 *
 * The caller serialises the use of one lane (a lane belongs to the thread
 * that got it); lanes are independent of each other.
 */
#ifndef NVMPFS_JOURNAL_H
#define NVMPFS_JOURNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvmpfs/layout.h"
#include "pool.h"

struct journal;

struct lane {
	struct journal *j;
	unsigned idx;
	uint64_t head_off;        /* byte offset of the lane's head */
	uint64_t end_off;         /* end of the lane */
	uint64_t tail;            /* where the next record goes */
	uint64_t seq;             /* transaction in flight, 0 if none */
	bool ready;               /* records durable: changes may start */
	struct pool_range *changed;   /* logged and fresh ranges */
	size_t nchanged, cap_changed;
	uint64_t *records;        /* offsets of this transaction's records */
	size_t nrecords, cap_records;
};

struct journal {
	struct pool *pool;
	struct lane *lanes;
	unsigned nlanes;
	pthread_mutex_t mu;       /* free_mask, next_seq */
	pthread_cond_t cv;        /* a lane came free */
	uint64_t free_mask;       /* bit i: lane i is free */
	uint64_t next_seq;
	uint64_t commits;         /* statistics (atomic) */
};

/* Lanes and blocks per lane of a journal of journal_blocks blocks. */
uint32_t journal_lanes_for(uint64_t journal_blocks);

int journal_init(struct journal *j, struct pool *pool,
		 const struct nvmpfs_super *sb);
void journal_fini(struct journal *j);
/* Writes empty lane heads (mkfs, fsck repair); returns pool_drain's. */
int journal_format(struct pool *pool, const struct nvmpfs_super *sb);
/* Whether every lane head has the journal's magic number. */
bool journal_heads_valid(struct pool *pool, const struct nvmpfs_super *sb);

/*
 * Rolls back the interrupted transactions of every lane.  Returns the
 * number of records undone (0 if the journal was idle), or -1 with a
 * message if a lane head is damaged.
 */
int journal_recover(struct pool *pool, const struct nvmpfs_super *sb,
		    char *err, size_t errlen);

struct lane *lane_get(struct journal *j);
void lane_put(struct lane *l);
int lane_log(struct lane *l, const void *p, size_t len);
void lane_fresh(struct lane *l, const void *p, size_t len);
int lane_ready(struct lane *l);
int lane_commit(struct lane *l);
/* Commits and starts the next transaction on the same lane. */
int lane_step(struct lane *l);
int lane_abort(struct lane *l);
/* Bytes of undo data that still fit in this transaction. */
uint64_t lane_room(const struct lane *l);

#endif
