/* Undo-log transactions in lanes: log old bytes, change in place, commit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "journal.h"

#define REC_ALIGN 8u
#define HEAD_SIZE 64u   /* a lane's head takes one cache line */

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

static struct nvmpfs_journal_head *head_at(struct pool *pool, uint64_t off)
{
	return pool_at(pool, off);
}

uint32_t journal_lanes_for(uint64_t journal_blocks)
{
	/* Lanes of 64 blocks (256 KiB: room for any step of an operation). */
	uint64_t lanes = journal_blocks / 64;
	if (lanes < 1)
		lanes = 1;
	if (lanes > NVMPFS_MAX_LANES)
		lanes = NVMPFS_MAX_LANES;
	return (uint32_t)lanes;
}

static uint64_t lane_blocks(const struct nvmpfs_super *sb)
{
	return sb->journal_blocks / sb->journal_lanes;
}

static uint64_t lane_head_off(const struct nvmpfs_super *sb, unsigned i)
{
	return (sb->journal_start + i * lane_blocks(sb)) * NVMPFS_BLOCK_SIZE;
}

int journal_format(struct pool *pool, const struct nvmpfs_super *sb)
{
	struct nvmpfs_journal_head head = { .magic = NVMPFS_JOURNAL_MAGIC };
	for (unsigned i = 0; i < sb->journal_lanes; i++) {
		uint64_t off = lane_head_off(sb, i);
		pool_zero(pool, off, NVMPFS_BLOCK_SIZE);
		pool_copy(pool, off, &head, sizeof(head));
	}
	return pool_drain(pool);
}

bool journal_heads_valid(struct pool *pool, const struct nvmpfs_super *sb)
{
	for (unsigned i = 0; i < sb->journal_lanes; i++)
		if (head_at(pool, lane_head_off(sb, i))->magic !=
		    NVMPFS_JOURNAL_MAGIC)
			return false;
	return true;
}

int journal_init(struct journal *j, struct pool *pool,
		 const struct nvmpfs_super *sb)
{
	memset(j, 0, sizeof(*j));
	j->pool = pool;
	j->nlanes = sb->journal_lanes;
	j->lanes = calloc(j->nlanes, sizeof(*j->lanes));
	if (!j->lanes)
		return -1;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	uint64_t last = 0;
	for (unsigned i = 0; i < j->nlanes; i++) {
		struct lane *l = &j->lanes[i];
		l->j = j;
		l->idx = i;
		l->head_off = lane_head_off(sb, i);
		l->end_off = l->head_off + lane_blocks(sb) * NVMPFS_BLOCK_SIZE;
		const struct nvmpfs_journal_head *h = head_at(pool, l->head_off);
		if (h->last_seq > last)
			last = h->last_seq;
		j->free_mask |= 1ull << i;
	}
	j->next_seq = last + 1;
	return 0;
}

void journal_fini(struct journal *j)
{
	for (unsigned i = 0; j->lanes && i < j->nlanes; i++) {
		free(j->lanes[i].changed);
		free(j->lanes[i].records);
	}
	free(j->lanes);
	if (j->pool) {
		pthread_mutex_destroy(&j->mu);
		pthread_cond_destroy(&j->cv);
	}
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

static void start_transaction(struct lane *l, uint64_t seq)
{
	l->seq = seq;
	l->tail = l->head_off + HEAD_SIZE;
	l->nchanged = 0;
	l->nrecords = 0;
	l->ready = false;
}

static uint64_t take_seq(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint64_t seq = j->next_seq++;
	pthread_mutex_unlock(&j->mu);
	return seq;
}

struct lane *lane_get(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	while (!j->free_mask)
		pthread_cond_wait(&j->cv, &j->mu);
	unsigned i = (unsigned)__builtin_ctzll(j->free_mask);
	j->free_mask &= ~(1ull << i);
	uint64_t seq = j->next_seq++;
	pthread_mutex_unlock(&j->mu);
	struct lane *l = &j->lanes[i];
	start_transaction(l, seq);
	return l;
}

void lane_put(struct lane *l)
{
	struct journal *j = l->j;
	l->seq = 0;
	pthread_mutex_lock(&j->mu);
	j->free_mask |= 1ull << l->idx;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static int note_changed(struct lane *l, uint64_t off, uint64_t len)
{
	if (l->nchanged) {
		struct pool_range *last = &l->changed[l->nchanged - 1];
		if (off >= last->off && off + len <= last->off + last->len)
			return 0;
		if (off == last->off + last->len) {
			last->len += len;
			return 0;
		}
	}
	if (l->nchanged == l->cap_changed &&
	    grow((void **)&l->changed, &l->cap_changed, sizeof(*l->changed)))
		return -ENOMEM;
	l->changed[l->nchanged++] = (struct pool_range){ off, len };
	return 0;
}

uint64_t lane_room(const struct lane *l)
{
	uint64_t left = l->end_off - l->tail;
	return left > sizeof(struct nvmpfs_undo_rec) + REC_ALIGN
		       ? left - sizeof(struct nvmpfs_undo_rec) - REC_ALIGN
		       : 0;
}

/* A range wholly inside one logged recently needs no second record. */
static bool already_logged(const struct lane *l, uint64_t off, uint64_t len)
{
	size_t n = l->nrecords < 16 ? l->nrecords : 16;
	for (size_t i = 0; i < n; i++) {
		const struct nvmpfs_undo_rec *rec =
			pool_at(l->j->pool, l->records[l->nrecords - 1 - i]);
		if (off >= rec->off && off + len <= rec->off + rec->len)
			return true;
	}
	return false;
}

/* The first record opens the transaction in the lane's head. */
static void open_head(struct lane *l)
{
	struct pool *pool = l->j->pool;
	struct nvmpfs_journal_head *head = head_at(pool, l->head_off);
	head->active_seq = l->seq;
	head->last_seq = l->seq;
	pool_flush_ptr(pool, head, sizeof(*head));
}

int lane_log(struct lane *l, const void *p, size_t len)
{
	struct pool *pool = l->j->pool;
	uint64_t off = pool_off(pool, p);
	if (len == 0 || already_logged(l, off, len))
		return 0;
	uint64_t size = rec_size((uint32_t)len);
	if (l->tail + size > l->end_off)
		return -ENOSPC;
	if (l->nrecords == l->cap_records &&
	    grow((void **)&l->records, &l->cap_records, sizeof(*l->records)))
		return -ENOMEM;
	if (note_changed(l, off, len))
		return -ENOMEM;
	struct nvmpfs_undo_rec *rec = pool_at(pool, l->tail);
	rec->seq = l->seq;
	rec->off = off;
	rec->len = (uint32_t)len;
	rec->reserved = 0;
	memcpy(rec + 1, p, len);
	rec->checksum = rec_checksum(rec);
	pool_flush(pool, l->tail, size);
	if (l->nrecords == 0)
		open_head(l);
	l->records[l->nrecords++] = l->tail;
	l->tail += size;
	/* Changes have started: this old value must be durable first. */
	if (l->ready)
		return pool_drain(pool);
	return 0;
}

void lane_fresh(struct lane *l, const void *p, size_t len)
{
	uint64_t off = pool_off(l->j->pool, p);
	if (note_changed(l, off, len))
		pool_flush(l->j->pool, off, len); /* flush now rather than lose it */
}

int lane_ready(struct lane *l)
{
	if (l->ready)
		return 0;
	l->ready = true;
	return l->nrecords ? pool_drain(l->j->pool) : 0;
}

static int close_transaction(struct lane *l)
{
	int rc = 0;
	if (l->nrecords) {
		struct pool *pool = l->j->pool;
		struct nvmpfs_journal_head *head = head_at(pool, l->head_off);
		head->active_seq = 0;
		rc = pool_persist(pool, l->head_off, sizeof(*head));
	}
	l->nrecords = 0;
	l->nchanged = 0;
	return rc;
}

int lane_commit(struct lane *l)
{
	struct pool *pool = l->j->pool;
	int rc = lane_ready(l);
	for (size_t i = 0; i < l->nchanged; i++)
		pool_flush(pool, l->changed[i].off, l->changed[i].len);
	int drc = pool_drain(pool);
	if (rc == 0)
		rc = drc;
	__atomic_add_fetch(&l->j->commits, 1, __ATOMIC_RELAXED);
	/*
	 * If the changes could not be made durable, the transaction must
	 * stay open, so that the next mount rolls it back.
	 */
	if (rc)
		return rc;
	return close_transaction(l);
}

int lane_step(struct lane *l)
{
	int rc = lane_commit(l);
	start_transaction(l, take_seq(l->j));
	return rc;
}

static void undo_record(struct pool *pool, const struct nvmpfs_undo_rec *rec)
{
	pool_copy(pool, rec->off, rec + 1, rec->len);
}

int lane_abort(struct lane *l)
{
	struct pool *pool = l->j->pool;
	if (l->ready) {
		for (size_t i = l->nrecords; i-- > 0;)
			undo_record(pool, pool_at(pool, l->records[i]));
	}
	int rc = pool_drain(pool);
	int crc = close_transaction(l);
	return rc ? rc : crc;
}

/* ---- recovery ---- */

/* A record may only restore bytes outside the superblocks and journal. */
static int record_is_sane(const struct nvmpfs_undo_rec *rec,
			  const struct nvmpfs_super *sb, uint64_t pool_size)
{
	uint64_t meta_start = (sb->journal_start + sb->journal_blocks) *
			      NVMPFS_BLOCK_SIZE;
	return rec->len > 0 && rec->off >= meta_start &&
	       rec->off <= pool_size && rec->len <= pool_size - rec->off;
}

struct open_lane {
	uint64_t head_off, end_off, seq;
};

static int by_seq_desc(const void *a, const void *b)
{
	const struct open_lane *x = a, *y = b;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Undoes one lane's transaction; returns the records undone or -1. */
static int undo_lane(struct pool *pool, const struct nvmpfs_super *sb,
		     const struct open_lane *ol)
{
	size_t n = 0, cap = 0;
	uint64_t *recs = NULL;
	uint64_t at = ol->head_off + HEAD_SIZE;
	while (at + sizeof(struct nvmpfs_undo_rec) <= ol->end_off) {
		const struct nvmpfs_undo_rec *rec = pool_at(pool, at);
		if (rec->seq != ol->seq || rec->len > ol->end_off - at ||
		    rec_checksum(rec) != rec->checksum ||
		    !record_is_sane(rec, sb, pool->size))
			break;
		if (n == cap && grow((void **)&recs, &cap, sizeof(*recs))) {
			free(recs);
			return -1;
		}
		recs[n++] = at;
		at += rec_size(rec->len);
	}
	for (size_t i = n; i-- > 0;)
		undo_record(pool, pool_at(pool, recs[i]));
	free(recs);
	return (int)n;
}

int journal_recover(struct pool *pool, const struct nvmpfs_super *sb,
		    char *err, size_t errlen)
{
	struct open_lane open[NVMPFS_MAX_LANES];
	unsigned nopen = 0;
	for (unsigned i = 0; i < sb->journal_lanes; i++) {
		uint64_t off = lane_head_off(sb, i);
		const struct nvmpfs_journal_head *head = head_at(pool, off);
		if (head->magic != NVMPFS_JOURNAL_MAGIC) {
			snprintf(err, errlen, "%s: journal lane %u head is "
				 "damaged (bad magic)", pool->path, i);
			return -1;
		}
		if (head->active_seq)
			open[nopen++] = (struct open_lane){
				off, off + lane_blocks(sb) * NVMPFS_BLOCK_SIZE,
				head->active_seq };
	}
	if (nopen == 0)
		return 0;
	/* Newest transaction first, as they would have been undone live. */
	qsort(open, nopen, sizeof(open[0]), by_seq_desc);
	int total = 0;
	for (unsigned i = 0; i < nopen; i++) {
		int n = undo_lane(pool, sb, &open[i]);
		if (n < 0) {
			snprintf(err, errlen, "out of memory in journal recovery");
			return -1;
		}
		total += n;
	}
	pool_drain(pool);
	for (unsigned i = 0; i < nopen; i++) {
		struct nvmpfs_journal_head *head = head_at(pool, open[i].head_off);
		head->active_seq = 0;
		pool_flush_ptr(pool, head, sizeof(*head));
	}
	pool_drain(pool);
	return total;
}
