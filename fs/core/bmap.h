/*
 * File block maps: a radix tree of 4 KiB nodes of 512 block numbers (see
 * the map word in layout.h).
 *
 * Mapping holes goes through a plan, in two steps that a drain separates:
 * map_plan_map takes the blocks and fills whatever nobody can see yet
 * (new nodes, and the caller's data in the new blocks); map_plan_apply,
 * after the drain, publishes them with single-word stores into the nodes
 * already in the tree and into the inode's map word.  A crash before the
 * second drain leaves blocks nobody points at (the mount after a crash
 * rebuilds the allocator), never a pointer to a block whose contents are
 * not durable.  Writes need no journal for this; a transaction that maps
 * blocks (a directory growing) logs the plan's stores with map_plan_log.
 */
#ifndef NVMPFS_BMAP_H
#define NVMPFS_BMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvmpfs/layout.h"

struct nvfs;
struct tx;

static inline uint64_t bmap_root(const struct nvmpfs_inode *inode)
{
	return nvmpfs_map_root(inode->map);
}

static inline unsigned bmap_height(const struct nvmpfs_inode *inode)
{
	return nvmpfs_map_height(inode->map);
}

/* Physical block of file block lblk, 0 for a hole; *run = contiguous run. */
uint64_t bmap_lookup(struct nvfs *fs, const struct nvmpfs_inode *inode,
		     uint64_t lblk, uint64_t *run);
/* First mapped block >= lblk (data), or first hole >= lblk. */
uint64_t bmap_next(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   uint64_t lblk, bool want_data);
/*
 * Calls fn for the mapped runs of [*lblk, end), holes skipped whole, up
 * to budget blocks in all (bounded steps of scrub and adopt); *lblk
 * moves past what was visited (to end when the range is done).
 */
typedef void (*bmap_run_cb)(void *arg, uint64_t lblk, uint64_t pblk,
			    uint64_t n);
void bmap_for_runs(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   uint64_t *lblk, uint64_t end, uint64_t budget,
		   bmap_run_cb fn, void *arg);
/* Visits every block the map holds (nodes too); for fsck and recovery. */
typedef int (*bmap_visit_cb)(void *arg, uint64_t lblk, uint64_t pblk,
			     bool is_node);
int bmap_walk(struct nvfs *fs, const struct nvmpfs_inode *inode,
	      bmap_visit_cb cb, void *arg);
/*
 * The same, each node visited only after everything under it: for a
 * callback that frees the blocks it is given.  A node freed before its
 * entries are read could be taken and overwritten by another thread in
 * the meantime, and the blocks it mapped would never be freed.
 */
int bmap_walk_nodes_last(struct nvfs *fs, const struct nvmpfs_inode *inode,
			 bmap_visit_cb cb, void *arg);

struct map_store {
	uint64_t *at;            /* a word of a node already in the tree */
	uint64_t value;
	uint64_t lblk;           /* data: the file block it maps */
	bool data;               /* a leaf entry naming a data block (else a
				    pointer to a new node) */
};

struct map_plan {
	struct nvfs *fs;
	struct nvmpfs_inode *inode;
	uint64_t map;            /* the inode's map word once applied */
	struct map_store *stores;
	size_t nstores, cap_stores;
	uint64_t *fresh_nodes;   /* node blocks this plan made */
	size_t nfresh, cap_fresh;
	struct pool_range *taken;/* runs taken (data and nodes) */
	size_t ntaken, cap_taken;
	uint64_t new_blocks;
	/*
	 * The blocks mapped need new structure (a node linked in, or a new
	 * root): published in its own drain before a size that shows them.
	 */
	bool structure_needed;
	bool looking_ahead;      /* making structure for later writes */
};

void map_plan_init(struct map_plan *p, struct nvfs *fs,
		   struct nvmpfs_inode *inode);
/*
 * Maps file block lblk (and, for holes that follow, up to want blocks in
 * one run).  *pblk is the first physical block, *got how many blocks of
 * the run are mapped, *fresh whether they were just taken (not zeroed:
 * the caller fills them before the drain).
 */
int map_plan_map(struct map_plan *p, uint64_t lblk, uint64_t want,
		 uint64_t *pblk, uint64_t *got, bool *fresh);
bool map_plan_empty(const struct map_plan *p);
/*
 * Makes the tree able to map lblk (nodes down to its leaf) without
 * mapping it: structure for a write to come, published with this one.
 */
int map_plan_lookahead(struct map_plan *p, uint64_t lblk);
/*
 * Publishes now the entries naming data blocks from file block `from` on
 * (past the size: nobody reads them before the size moves), so that they
 * become durable with the data.
 */
void map_plan_apply_past(struct map_plan *p, uint64_t from);
/* Inside a transaction: logs every word map_plan_apply will change. */
int map_plan_log(struct map_plan *p, struct tx *tx);
/* After the drain: publishes the new blocks (stores flushed, not drained). */
void map_plan_apply(struct map_plan *p);
/* Gives back every block the plan took (instead of applying it). */
void map_plan_cancel(struct map_plan *p);
void map_plan_fini(struct map_plan *p);

/*
 * Unmaps and frees file blocks [first, last] inside tx: logs every change
 * first, then one tx_ready, then changes.  Returns 0 when all are done,
 * -EAGAIN after filling the transaction's room (tx_step and call again),
 * or another negative errno.  The caller has logged the inode.
 */
int bmap_punch(struct tx *tx, struct nvmpfs_inode *inode, uint64_t first,
	       uint64_t last);

#endif
