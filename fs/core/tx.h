/*
 * File-system transactions: a journal lane plus what the allocators must
 * learn at the end.  Blocks and inode slots freed inside a transaction are
 * handed back to the allocators only once it has committed (a crash could
 * still roll the free back, and nobody may have reused them by then);
 * those taken are handed back if it aborts.
 *
 *   struct tx tx;
 *   tx_begin(fs, &tx);
 *   ... tx_log every range about to change (all of them, before any
 *       change: one drain for all the records) ...
 *   tx_ready(&tx);          the records are durable
 *   ... change them (nothing here may fail) ...
 *   tx_commit(&tx);
 *
 * A commit that cannot make its changes durable (an I/O error of the pool)
 * leaves the transaction open on the media, for the next mount to roll
 * back, and turns the file system read-only.
 */
#ifndef NVMPFS_TX_H
#define NVMPFS_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nvfs;
struct lane;

struct tx {
	struct nvfs *fs;
	struct lane *lane;
	struct range_list taken;     /* block runs taken (off = block, len = n) */
	struct range_list freed;     /* block runs to hand back at commit */
	uint64_t inode_taken[2];     /* slots taken: handed back on abort */
	uint64_t inode_freed[2];     /* slots freed: handed back at commit */
	unsigned ninodes_taken, ninodes_freed;
};

void tx_begin(struct nvfs *fs, struct tx *tx);
int tx_log(struct tx *tx, const void *p, size_t len);
/* Bytes nobody can see yet (a block just taken): flushed at commit. */
void tx_fresh(struct tx *tx, const void *p, size_t len);
int tx_ready(struct tx *tx);
int tx_commit(struct tx *tx);
/* Commits and goes on in a new transaction on the same lane. */
int tx_step(struct tx *tx);
void tx_abort(struct tx *tx);
uint64_t tx_room(const struct tx *tx);

/* Blocks for this transaction (from the allocator; back on abort). */
int tx_take_blocks(struct tx *tx, uint64_t goal, uint64_t want,
		   uint64_t *start, uint64_t *got);
/* Frees blocks at commit; their checksum words are cleared now. */
int tx_free_blocks(struct tx *tx, uint64_t start, uint64_t count);

#endif
