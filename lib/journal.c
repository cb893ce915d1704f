/* Undo-log transactions: log old bytes, change in place, commit or undo. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "journal.h"

#define REC_ALIGN 8u

static uint64_t rec_size(uint32_t len)
{
	uint64_t n = sizeof(struct nvmpfs_undo_rec) + len;
	return (n + REC_ALIGN - 1) & ~(uint64_t)(REC_ALIGN - 1);
}

static uint64_t rec_checksum(const struct nvmpfs_undo_rec *rec)
{
	/* The header's hash seeds the data's: one value covers both. */
	uint64_t head = XXH3_64bits(rec, offsetof(struct nvmpfs_undo_rec, checksum));
	return XXH3_64bits_withSeed(rec + 1, rec->len, head);
}

static struct nvmpfs_journal_head *head_of(struct pool *pool, uint64_t off)
{
	return pool_at(pool, off);
}

void journal_format(struct pool *pool, const struct nvmpfs_super *sb)
{
	uint64_t off = sb->journal_start * NVMPFS_BLOCK_SIZE;
	struct nvmpfs_journal_head head = { .magic = NVMPFS_JOURNAL_MAGIC };
	pool_zero(pool, off, NVMPFS_BLOCK_SIZE);
	pool_copy(pool, off, &head, sizeof(head));
	pool_drain(pool);
}

int journal_init(struct journal *j, struct pool *pool,
		 const struct nvmpfs_super *sb)
{
	memset(j, 0, sizeof(*j));
	j->pool = pool;
	j->head_off = sb->journal_start * NVMPFS_BLOCK_SIZE;
	j->end_off = (sb->journal_start + sb->journal_blocks) * NVMPFS_BLOCK_SIZE;
	return head_of(pool, j->head_off)->magic == NVMPFS_JOURNAL_MAGIC ? 0 : -1;
}

void journal_fini(struct journal *j)
{
	free(j->changed);
	free(j->records);
	memset(j, 0, sizeof(*j));
}

static int grow(void **arr, size_t *cap, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int note_changed(struct journal *j, uint64_t off, uint64_t len)
{
	if (j->nchanged) {
		struct pool_range *last = &j->changed[j->nchanged - 1];
		if (off >= last->off && off + len <= last->off + last->len)
			return 0;
		if (off == last->off + last->len) {
			last->len += len;
			return 0;
		}
	}
	if (j->nchanged == j->cap_changed &&
	    grow((void **)&j->changed, &j->cap_changed, sizeof(*j->changed)))
		return -ENOMEM;
	j->changed[j->nchanged++] = (struct pool_range){ off, len };
	return 0;
}

void tx_begin(struct journal *j)
{
	struct nvmpfs_journal_head *head = head_of(j->pool, j->head_off);
	j->seq = head->last_seq + 1;
	j->tail = j->head_off + sizeof(*head);
	j->nchanged = 0;
	j->nrecords = 0;
}

uint64_t tx_room(const struct journal *j)
{
	uint64_t left = j->end_off - j->tail;
	return left > sizeof(struct nvmpfs_undo_rec) + REC_ALIGN
		       ? left - sizeof(struct nvmpfs_undo_rec) - REC_ALIGN
		       : 0;
}

/* A range wholly inside one logged recently needs no second record. */
static int already_logged(const struct journal *j, uint64_t off, uint64_t len)
{
	size_t n = j->nrecords < 16 ? j->nrecords : 16;
	for (size_t i = 0; i < n; i++) {
		const struct nvmpfs_undo_rec *rec =
			pool_at(j->pool, j->records[j->nrecords - 1 - i]);
		if (off >= rec->off && off + len <= rec->off + rec->len)
			return 1;
	}
	return 0;
}

int tx_log(struct journal *j, const void *p, size_t len)
{
	struct pool *pool = j->pool;
	uint64_t off = pool_off(pool, p);
	if (len == 0 || already_logged(j, off, len))
		return 0;
	uint64_t size = rec_size((uint32_t)len);
	if (j->tail + size > j->end_off)
		return -ENOSPC;
	if (j->nrecords == j->cap_records &&
	    grow((void **)&j->records, &j->cap_records, sizeof(*j->records)))
		return -ENOMEM;
	if (note_changed(j, off, len))
		return -ENOMEM;
	struct nvmpfs_undo_rec *rec = pool_at(pool, j->tail);
	rec->seq = j->seq;
	rec->off = off;
	rec->len = (uint32_t)len;
	rec->reserved = 0;
	memcpy(rec + 1, p, len);
	rec->checksum = rec_checksum(rec);
	pool_flush(pool, j->tail, size);
	if (j->nrecords == 0) {
		/* The first record opens the transaction in the head. */
		struct nvmpfs_journal_head *head = head_of(pool, j->head_off);
		head->active_seq = j->seq;
		head->last_seq = j->seq;
		pool_flush_ptr(pool, head, sizeof(*head));
	}
	/* The old bytes are durable before the caller changes them. */
	pool_drain(pool);
	j->records[j->nrecords++] = j->tail;
	j->tail += size;
	return 0;
}

void tx_fresh(struct journal *j, const void *p, size_t len)
{
	uint64_t off = pool_off(j->pool, p);
	if (note_changed(j, off, len))
		pool_flush(j->pool, off, len); /* flush now rather than lose it */
}

static void close_transaction(struct journal *j)
{
	if (j->nrecords) {
		struct nvmpfs_journal_head *head = head_of(j->pool, j->head_off);
		head->active_seq = 0;
		pool_persist(j->pool, j->head_off, sizeof(*head));
	}
	j->seq = 0;
	j->nrecords = 0;
	j->nchanged = 0;
}

void tx_commit(struct journal *j)
{
	for (size_t i = 0; i < j->nchanged; i++)
		pool_flush(j->pool, j->changed[i].off, j->changed[i].len);
	pool_drain(j->pool);
	j->commits++;
	close_transaction(j);
}

static void undo_record(struct pool *pool, const struct nvmpfs_undo_rec *rec)
{
	pool_copy(pool, rec->off, rec + 1, rec->len);
}

void tx_abort(struct journal *j)
{
	for (size_t i = j->nrecords; i-- > 0;)
		undo_record(j->pool, pool_at(j->pool, j->records[i]));
	pool_drain(j->pool);
	close_transaction(j);
}

/* A record may only restore bytes outside the superblocks and journal. */
static int record_is_sane(const struct nvmpfs_undo_rec *rec,
			  const struct nvmpfs_super *sb, uint64_t pool_size)
{
	uint64_t meta_start = (sb->journal_start + sb->journal_blocks) *
			      NVMPFS_BLOCK_SIZE;
	return rec->len > 0 && rec->off >= meta_start &&
	       rec->off <= pool_size && rec->len <= pool_size - rec->off;
}

int journal_recover(struct pool *pool, const struct nvmpfs_super *sb,
		    char *err, size_t errlen)
{
	uint64_t head_off = sb->journal_start * NVMPFS_BLOCK_SIZE;
	uint64_t end = head_off + sb->journal_blocks * NVMPFS_BLOCK_SIZE;
	struct nvmpfs_journal_head *head = head_of(pool, head_off);
	if (head->magic != NVMPFS_JOURNAL_MAGIC) {
		snprintf(err, errlen, "%s: journal head is damaged (bad magic)",
			 pool->path);
		return -1;
	}
	if (head->active_seq == 0)
		return 0;
	/* Collect the valid records of the interrupted transaction. */
	size_t n = 0, cap = 0;
	uint64_t *recs = NULL;
	uint64_t at = head_off + sizeof(*head);
	while (at + sizeof(struct nvmpfs_undo_rec) <= end) {
		const struct nvmpfs_undo_rec *rec = pool_at(pool, at);
		if (rec->seq != head->active_seq || rec->len > end - at ||
		    rec_checksum(rec) != rec->checksum ||
		    !record_is_sane(rec, sb, pool->size))
			break;
		if (n == cap && grow((void **)&recs, &cap, sizeof(*recs))) {
			free(recs);
			snprintf(err, errlen, "out of memory in journal recovery");
			return -1;
		}
		recs[n++] = at;
		at += rec_size(rec->len);
	}
	for (size_t i = n; i-- > 0;)
		undo_record(pool, pool_at(pool, recs[i]));
	pool_drain(pool);
	free(recs);
	head->active_seq = 0;
	pool_persist(pool, head_off, sizeof(*head));
	return (int)n;
}
