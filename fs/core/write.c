/*
 * Writing file data.  A WRITE is durable, with its checksums, when it is
 * answered, and costs:
 *
 *   - an overwrite of mapped blocks: one drain.  The data, the blocks'
 *     checksum words and mtime (once a clock tick: inode_touch_data_change)
 *     go in the same drain; the write-intent map
 *     (intent.h) makes a crash in the middle of it harmless.  No journal:
 *     neither the size nor the map changes.
 *   - a write that maps new blocks (an append, a hole): two drains.  The
 *     new blocks get their data (and any new map nodes their contents)
 *     first; then single-word stores publish them (map entries, the map
 *     word, the size) and overwritten blocks change.  No journal either.
 *     When the size would show what only this last drain makes durable
 *     (new map structure, or bytes past the old end of file written in
 *     its block, or a new block taking the place of a hole there), the
 *     size waits for a drain of its own: one more, which an append
 *     inside the last block pays (two); an append that nears the end of
 *     its leaf makes the next one ahead of time, so sequential appends
 *     stay at two.  The first write into a file without a map needs no
 *     more than two: its blocks' checksums go in the first drain with
 *     the data, and a flag there lets recovery drop a size whose map word
 *     the last drain lost (NVMPFS_IFLAG_FIRST_MAP).
 *   - the first write into an extent that is not marked yet: one more
 *     drain, for the mark.
 *
 * Blocks given to a file are zeroed where the write does not cover them,
 * and every byte at or past a file's size reads as zero (truncate and
 * punch keep it so), which is what makes extending a file by changing its
 * size alone correct.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"

/* Bytes one round of file_fill maps and publishes (two drains a round). */
#define ROUND_BYTES (8ull << 20)

struct segment {
	uint64_t pos;            /* file offset */
	uint64_t n;              /* bytes */
	uint64_t pblk;           /* pool block holding file block pos / BS */
	bool fresh;              /* just taken: filled in the first drain */
};

struct fill {
	struct nvfs *fs;
	struct icache_ent *ent;
	struct nvmpfs_inode *inode;
	const uint8_t *buf;      /* NULL: zeros */
	uint64_t off;            /* of buf */
	enum fill_mode mode;
	bool grow_size;          /* the size follows the end of what is filled */
	bool published;          /* the plan's blocks are (partly) in the map */
	struct map_plan plan;
	struct segment *segs;
	size_t nsegs, cap;
};

static int add_segment(struct fill *f, struct segment s)
{
	if (f->nsegs == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		struct segment *a = realloc(f->segs, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		f->segs = a;
		f->cap = cap;
	}
	f->segs[f->nsegs++] = s;
	return 0;
}

static uint64_t touched_blocks(const struct segment *s)
{
	return blocks_to_cover(s->pos % BS + s->n);
}

/*
 * A write that keeps part of a block must not fold damaged bytes into the
 * block's new checksum: such a block is checked first (whole-block writes
 * need no check, they replace everything and so heal a bad block).
 */
static bool kept_part_is_bad(struct nvfs *fs, const struct segment *s)
{
	if (!fs->csum_on)
		return false;
	uint64_t first = s->pos % BS, last_end = (s->pos % BS + s->n) % BS;
	uint64_t nblocks = touched_blocks(s);
	if (first && csum_check_block(fs, s->pblk) < 0)
		return true;
	if (last_end && (nblocks > 1 || !first) &&
	    csum_check_block(fs, s->pblk + nblocks - 1) < 0)
		return true;
	return false;
}

/* Maps [pos, end): segments of runs, cut short at ENOSPC or a bad block. */
static int plan_segments(struct fill *f, uint64_t pos, uint64_t end,
			 uint64_t *mapped_end)
{
	int rc = 0;
	while (pos < end) {
		uint64_t lblk = block_of(pos), pblk, got;
		bool fresh;
		rc = map_plan_map(&f->plan, lblk, blocks_to_cover(pos % BS + end - pos),
				  &pblk, &got, &fresh);
		if (rc)
			break;
		uint64_t in_run = got * BS - pos % BS;
		struct segment s = { pos, end - pos < in_run ? end - pos : in_run,
				     pblk, fresh };
		if (!fresh && f->mode == FILL_ALLOCATE_ONLY) {
			pos += s.n;
			continue;
		}
		if (!fresh && kept_part_is_bad(f->fs, &s)) {
			rc = -EIO;
			break;
		}
		if ((rc = add_segment(f, s)))
			break;
		pos += s.n;
	}
	*mapped_end = pos;
	return rc;
}

static const uint8_t *source_of(const struct fill *f, const struct segment *s)
{
	return f->buf ? f->buf + (s->pos - f->off) : NULL;
}

static void copy_segment(struct fill *f, const struct segment *s)
{
	uint64_t at = s->pblk * BS + s->pos % BS;
	const uint8_t *src = source_of(f, s);
	if (src)
		pool_copy(f->fs->pool, at, src, s->n);
	else
		pool_zero(f->fs->pool, at, s->n);
}

/*
 * A fresh run: the caller's bytes, zeros around them, written as whole
 * blocks (pool_fill_fresh); a partly written block is made up first.
 */
static void fill_fresh(struct fill *f, const struct segment *s)
{
	struct pool *pool = f->fs->pool;
	const uint8_t *src = source_of(f, s);
	uint64_t base = s->pblk * BS, total = touched_blocks(s) * BS;
	if (!src) {
		pool_fill_fresh(pool, base, NULL, total);
		return;
	}
	/* The caller's bytes lie at [head, end) of the run. */
	uint64_t head = s->pos % BS, end = head + s->n;
	for (uint64_t at = 0; at < total;) {
		if (at >= head && at + BS <= end) {
			uint64_t n = (end - at) / BS * BS;
			pool_fill_fresh(pool, base + at, src + (at - head), n);
			at += n;
			continue;
		}
		uint8_t block[BS];
		memset(block, 0, BS);
		uint64_t from = at > head ? at : head;
		uint64_t to = at + BS < end ? at + BS : end;
		if (from < to)
			memcpy(block + (from - at), src + (from - head), to - from);
		pool_fill_fresh(pool, base + at, block, BS);
		at += BS;
	}
}

/*
 * The blocks' new checksums: whole blocks hashed from the caller's buffer,
 * still in the CPU cache, rather than read back from the pool just
 * written with non-temporal stores; partly written blocks from the pool.
 */
static void store_sums(struct fill *f, const struct segment *s)
{
	static uint64_t zero_sum;
	struct nvfs *fs = f->fs;
	uint64_t nblocks = touched_blocks(s);
	uint64_t base = s->pos / BS * BS;
	const uint8_t *src = source_of(f, s);
	for (uint64_t i = 0; i < nblocks; i++) {
		uint64_t pblk = s->pblk + i, start = base + i * BS;
		if (!fs->csum_on) {
			if (*csum_word(fs, pblk))
				csum_store(fs, pblk, 0);
			continue;
		}
		bool whole = start >= s->pos && start + BS <= s->pos + s->n;
		uint64_t sum;
		if (!whole) {
			sum = csum_of_block(fs, pblk);
		} else if (src) {
			sum = csum_of_buffer(src + (start - s->pos));
		} else {
			/*
			 * Computed once, by whichever writers get here first:
			 * atomics, because they may run at once (a plain
			 * lazy store was a data race).  Each computes the
			 * same value, so no order is needed.
			 */
			sum = __atomic_load_n(&zero_sum, __ATOMIC_RELAXED);
			if (!sum) {
				static const uint8_t zero_block[BS];
				sum = csum_of_buffer(zero_block);
				__atomic_store_n(&zero_sum, sum, __ATOMIC_RELAXED);
			}
		}
		csum_store(fs, pblk, sum);
	}
}

static void end_intent(struct fill *f, size_t upto)
{
	for (size_t k = 0; k < upto; k++)
		if (!f->segs[k].fresh)
			intent_end(f->fs, f->segs[k].pblk,
				   touched_blocks(&f->segs[k]));
}

/* Marks the extents to be overwritten; on failure, unmarks those done. */
static int begin_intent(struct fill *f)
{
	for (size_t i = 0; i < f->nsegs; i++) {
		const struct segment *s = &f->segs[i];
		if (s->fresh)
			continue;
		int rc = intent_begin(f->fs, s->pblk, touched_blocks(s));
		if (rc) {
			end_intent(f, i);
			return rc;
		}
	}
	return 0;
}

/* Size and times, in the round's last drain. */
static void publish_inode(struct fill *f, uint64_t end)
{
	struct nvmpfs_inode *inode = f->inode;
	if (f->grow_size && end > inode->size)
		inode_store64(f->fs, &inode->size, end);
	inode_touch_data_change(f->fs, inode, f->mode != FILL_ALLOCATE_ONLY);
}

/* Whether this round moves the size (what the map must show first). */
static bool grows(const struct fill *f, uint64_t end)
{
	return f->grow_size && end > f->inode->size;
}

/*
 * Whether the size must wait for a drain of its own: it shows blocks that
 * hang on new structure, or bytes past the old size written in the block
 * that held the old end of file -- in place, or in a new block taking the
 * place of a hole there, whose map entry is published with the round's
 * last drain (not the first: a torn first drain could keep the entry and
 * lose the block's zeros below the size, showing a reused block's old
 * bytes in the file).  A crash could otherwise keep the size and lose the
 * data or the entry.
 */
static bool size_waits(const struct fill *f, uint64_t end)
{
	if (!grows(f, end))
		return false;
	if (f->plan.structure_needed)
		return true;
	uint64_t size = f->inode->size;
	uint64_t published_early = blocks_to_cover(size) * BS;
	for (size_t i = 0; i < f->nsegs; i++) {
		const struct segment *s = &f->segs[i];
		if (s->pos + s->n <= size)
			continue;
		if (!s->fresh || s->pos < published_early)
			return true;
	}
	return false;
}

/*
 * Whether this round is the first write into an empty file without a
 * map, whose map word and size may then go in one drain (layout.h,
 * NVMPFS_IFLAG_FIRST_MAP): every block is new, so nothing but the map
 * word and the size is left to publish after the first drain.  Only from
 * size 0: recovery puts back 0, never a size a truncate had set.
 */
static bool first_map(const struct fill *f, uint64_t end)
{
	return f->inode->map == 0 && f->inode->size == 0 && grows(f, end);
}

/*
 * Into the first drain of such a round: the new blocks' checksum words
 * (nobody reads them before the map word is durable) and the flag that
 * lets recovery drop a size whose map word was lost.
 */
static void prepare_first_map(struct fill *f)
{
	for (size_t i = 0; i < f->nsegs; i++)
		store_sums(f, &f->segs[i]);
	struct nvmpfs_inode *inode = f->inode;
	inode->flags |= NVMPFS_IFLAG_FIRST_MAP;
	pool_flush_ptr(f->fs->pool, &inode->flags, sizeof(inode->flags));
}

/*
 * The drains of one round (see the top of the file).  The order keeps a
 * crash from showing a size whose bytes are not there: new blocks wholly
 * past the size get their data and their leaf entries in the first drain
 * (nobody reads past the size, and recovery zeroes what a crash leaves
 * there); entries of other blocks, and new nodes, are published after
 * it; the size moves last -- in a drain of its own when what it shows
 * was not durable before this round's last drain (size_waits).
 */
static int publish(struct fill *f, uint64_t end)
{
	struct nvfs *fs = f->fs;
	int rc = begin_intent(f);
	if (rc)
		return rc;
	bool first = first_map(f, end);
	for (size_t i = 0; i < f->nsegs; i++)
		if (f->segs[i].fresh)
			fill_fresh(f, &f->segs[i]);
	map_plan_apply_past(&f->plan, blocks_to_cover(f->inode->size));
	if (first)
		prepare_first_map(f);
	f->published = true;
	if (!map_plan_empty(&f->plan) && pool_pending(fs->pool))
		rc = pool_drain(fs->pool);
	if (rc == 0) {
		for (size_t i = 0; i < f->nsegs; i++) {
			if (!f->segs[i].fresh)
				copy_segment(f, &f->segs[i]);
			if (!first)
				store_sums(f, &f->segs[i]);
		}
		bool wait = !first && size_waits(f, end);
		map_plan_apply(&f->plan);
		if (wait)
			rc = pool_drain(fs->pool);
	}
	if (rc == 0) {
		publish_inode(f, end);
		rc = pool_drain(fs->pool);
	}
	/* Only now is the data durable: the extents may cool. */
	end_intent(f, f->nsegs);
	return rc;
}

/* Blocks ahead of an append whose leaf is made now (see bmap.h). */
#define LOOKAHEAD_BLOCKS 256u

/*
 * An append that nears the end of its leaf also makes the next leaf, and
 * publishes it with its own drains: the append after it then finds its
 * structure in place and moves the size in two drains, not three.
 */
static void look_ahead(struct fill *f, uint64_t mapped_end)
{
	if (f->mode != FILL_DATA || !grows(f, mapped_end) || mapped_end == 0)
		return;
	uint64_t next = block_of(mapped_end - 1) + LOOKAHEAD_BLOCKS;
	if (bmap_lookup(f->fs, f->inode, next, NULL) ||
	    block_of(mapped_end - 1) / NVMPFS_MAP_FANOUT == next / NVMPFS_MAP_FANOUT)
		return;
	map_plan_lookahead(&f->plan, next);
}

static int64_t fill_round(struct fill *f, uint64_t pos, uint64_t end)
{
	uint64_t mapped_end;
	map_plan_init(&f->plan, f->fs, f->inode);
	f->nsegs = 0;
	int rc = plan_segments(f, pos, end, &mapped_end);
	if (rc && mapped_end == pos) {
		map_plan_cancel(&f->plan);
		map_plan_fini(&f->plan);
		return rc;
	}
	look_ahead(f, mapped_end);
	f->published = false;
	int prc = publish(f, mapped_end);
	if (prc && !f->published)
		map_plan_cancel(&f->plan);
	map_plan_fini(&f->plan);
	return prc ? prc : (int64_t)(mapped_end - pos);
}

int64_t file_fill(struct nvfs *fs, struct icache_ent *ent,
		  struct nvmpfs_inode *inode, const uint8_t *buf,
		  uint64_t off, uint64_t len, enum fill_mode mode, bool grow_size)
{
	struct fill f = { .fs = fs, .ent = ent, .inode = inode, .buf = buf,
			  .off = off, .mode = mode, .grow_size = grow_size };
	uint64_t done = 0;
	int64_t rc = 0;
	while (done < len) {
		uint64_t n = len - done < ROUND_BYTES ? len - done : ROUND_BYTES;
		rc = fill_round(&f, off + done, off + done + n);
		if (rc <= 0)
			break;
		done += (uint64_t)rc;
		if ((uint64_t)rc < n)
			break; /* short: ENOSPC or a bad block */
	}
	free(f.segs);
	if (done == 0 && len > 0)
		return rc < 0 ? rc : -ENOSPC;
	return (int64_t)done;
}

ssize_t nvfs_write(struct nvfs *fs, uint64_t ino, const void *buf,
		   size_t size, uint64_t off)
{
	if (off >= MAX_FILE_SIZE || size > MAX_FILE_SIZE - off)
		return -EFBIG;
	int rc = change_begin(fs);
	if (rc)
		return rc;
	struct icache_ent *ent = ilock(fs, ino, true);
	if (!ent) {
		change_end(fs);
		return -ENOMEM;
	}
	int64_t n = 0;
	struct nvmpfs_inode *inode = file_live(fs, ino, &rc);
	if (inode && fs->read_only)
		rc = -EROFS;
	if (inode && rc == 0) {
		n = file_fill(fs, ent, inode, buf, off, size, FILL_DATA, true);
		if (n < 0)
			rc = (int)n;
		else
			file_forget_healed(ent, off, (uint64_t)n);
	}
	iunlock(fs, ent);
	change_end(fs);
	if (rc == -EIO && fs->pool->sync_error)
		fs_fail_read_only(fs, rc);
	if (rc)
		return rc;
	STAT_ADD(fs, writes, 1);
	STAT_ADD(fs, bytes_written, (uint64_t)n);
	return (ssize_t)n;
}
