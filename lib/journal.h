/*
 * The metadata journal: an undo log (format in nvmpfs/layout.h).
 *
 * A transaction:   tx_begin; for every range about to change, tx_log (or
 * tx_fresh for bytes nobody can see yet, such as a block just allocated);
 * change the bytes in place; tx_commit.  tx_abort puts every logged range
 * back.  Only one transaction runs at a time (the caller holds the file
 * system lock).  tx_log returns -ENOSPC when the journal is full: long
 * operations commit in steps, asking tx_room first.
 */
#ifndef NVMPFS_JOURNAL_H
#define NVMPFS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nvmpfs/layout.h"
#include "pool.h"

struct journal {
	struct pool *pool;
	uint64_t head_off;        /* byte offset of the journal head */
	uint64_t end_off;         /* end of the journal region */
	uint64_t tail;            /* where the next record goes */
	uint64_t seq;             /* transaction in flight, 0 if none */
	struct pool_range *changed;   /* logged and fresh ranges */
	size_t nchanged, cap_changed;
	uint64_t *records;        /* offsets of this transaction's records */
	size_t nrecords, cap_records;
	uint64_t commits;         /* statistics */
};

int journal_init(struct journal *j, struct pool *pool,
		 const struct nvmpfs_super *sb);
void journal_fini(struct journal *j);
/* Writes an empty journal head (mkfs, fsck repair). */
void journal_format(struct pool *pool, const struct nvmpfs_super *sb);

/*
 * Rolls back an interrupted transaction.  Returns the number of records
 * undone (0 if the journal was idle), or -1 with a message if the journal
 * head is damaged.
 */
int journal_recover(struct pool *pool, const struct nvmpfs_super *sb,
		    char *err, size_t errlen);

void tx_begin(struct journal *j);
int tx_log(struct journal *j, const void *p, size_t len);
void tx_fresh(struct journal *j, const void *p, size_t len);
void tx_commit(struct journal *j);
void tx_abort(struct journal *j);
/* Bytes of undo data that still fit in this transaction. */
uint64_t tx_room(const struct journal *j);

#endif
