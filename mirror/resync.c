/*
 * Bringing an attached mirror up to date, while live batches keep
 * flowing: first, when the mirror asks for it (a blank or demoted pool,
 * another replication token: see mirror/judge.h), a compare of every
 * block: every block is marked out of sync (durably), then, chunk by
 * chunk, the mirror sends the XXH3 of its blocks and the primary clears
 * the mark of each equal block and resends the others -- so a compare cut
 * short leaves the rest marked, and the next attach goes on from there
 * without a compare; then every block still marked in the map.
 * Blocks go out as ordinary batches, in the one queue, so a live batch
 * queued after a resync batch is applied after it.  The rate is capped by
 * resync_rate.  Once everything resent is acknowledged and no block is
 * marked, the mirror is synced; the thread then keeps watching the map
 * until the connection ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "sender_int.h"

#define BS NVMPFS_BLOCK_SIZE
/* Blocks compared per HASH_REQ, and resent per batch. */
#define HASH_CHUNK 16384u
#define RUN_BLOCKS 256u

/* Whether the connection is gone or the sender stops (mu held). */
static bool over(const struct mirror *m)
{
	return m->conn_lost || m->stop;
}

static uint64_t block_hash(const uint8_t *base, uint64_t blk)
{
	uint64_t h = XXH3_64bits(base + blk * BS, BS);
	return h ? h : 1;
}

/*
 * The out-of-sync map is this primary's own bookkeeping, never sent:
 * compared, its blocks count as equal.
 */
static bool is_map_block(const struct nvfs_identity *id, uint64_t blk)
{
	return blk >= id->oos_start && blk < id->oos_start + id->oos_blocks;
}

/* Keeps the resync at or below resync_rate (bytes sent so far). */
static void pace(struct mirror *m, uint64_t bytes)
{
	if (!m->o.resync_rate)
		return;
	uint64_t due_ns = bytes * 1000000000u / m->o.resync_rate;
	uint64_t spent = mirror_now_ns() - m->resync_started_ns;
	if (due_ns > spent)
		usleep((useconds_t)((due_ns - spent) / 1000 < 1000000
				    ? (due_ns - spent) / 1000 : 999999));
}

/* Waits for room in the queue (mu held); false when the connection ended. */
static bool room(struct mirror *m)
{
	while (m->queued_bytes > m->o.window / 2 && !over(m)) {
		pthread_mutex_unlock(&m->mu);
		usleep(1000);
		pthread_mutex_lock(&m->mu);
	}
	return !over(m);
}

/* Queues blocks [blk, blk+n) as one batch; clear: their map bits go. */
static bool resend(struct mirror *m, uint64_t blk, uint64_t n, bool clear,
		   uint64_t *bytes)
{
	pthread_mutex_lock(&m->mu);
	bool ok = room(m);
	if (ok) {
		struct pool_range r = { blk * BS, n * BS };
		struct qitem *it = mirror_make_batch(m, &r, 1);
		if (it) {
			if (clear) {
				it->clear_blk = blk;
				it->clear_count = n;
			}
			mirror_enqueue(m, it);
		}
		ok = it != NULL;
	}
	if (ok)
		m->resync_sent += n;
	pthread_mutex_unlock(&m->mu);
	*bytes += n * BS;
	pace(m, *bytes);
	return ok;
}

/* What the compare does with one marked block. */
enum verdict {
	V_EQUAL,     /* the same on both sides: the mark goes */
	V_SEND,      /* ours goes to the mirror */
	V_KEEP,      /* ours fails its checksum and the mirror's copy has it:
			never overwrite the good copy (a read or scrub of the
			file heals ours from it); the mark goes */
};

static enum verdict judge_block(struct mirror *m, const uint8_t *base,
				uint64_t blk, uint64_t theirs)
{
	uint64_t ours = block_hash(base, blk);
	if (ours == theirs)
		return V_EQUAL;
	/* The checksum is the same XXH3 (0 read as 1) as the hash. */
	uint64_t want = nvfs_block_csum(m->fs, blk);
	return want && want == theirs ? V_KEEP : V_SEND;
}

/*
 * Compares the marked blocks of [first, first+n) with the mirror's:
 * equal ones lose their mark, the others are resent (and lose it once
 * acknowledged), but for a block of ours that fails its checksum where
 * the mirror's copy matches it.
 */
static bool compare_chunk(struct mirror *m, uint64_t first, uint32_t n,
			  uint64_t *bytes)
{
	uint64_t *theirs = mirror_remote_hashes(m, first, n);
	if (!theirs) {
		/* No answer in time, or a malformed one: start over. */
		mirror_lose(m, "no valid answer to a hash request");
		return false;
	}
	const uint8_t *base = nvfs_pool_bytes(m->fs);
	struct nvfs_identity id;
	nvfs_identity(m->fs, &id);
	bool ok = true;
	uint64_t kept = 0;
	for (uint32_t i = 0; i < n && ok;) {
		if (!nvfs_oos_test(m->fs, first + i) ||
		    is_map_block(&id, first + i)) {
			nvfs_oos_clear(m->fs, first + i, 1);
			i++;
			continue;
		}
		enum verdict v = judge_block(m, base, first + i, theirs[i]);
		uint32_t run = 1;
		while (i + run < n && run < RUN_BLOCKS &&
		       nvfs_oos_test(m->fs, first + i + run) &&
		       !is_map_block(&id, first + i + run) &&
		       judge_block(m, base, first + i + run, theirs[i + run]) == v)
			run++;
		if (v == V_SEND)
			ok = resend(m, first + i, run, true, bytes);
		else
			nvfs_oos_clear(m->fs, first + i, run);
		kept += v == V_KEEP ? run : 0;
		i += run;
	}
	free(theirs);
	if (kept)
		mirror_log(m, "mirror %s: %llu block(s) here fail their checksums "
			   "and the mirror's copies match them: not sent (a read "
			   "or scrub of their files heals them from the mirror)",
			   m->peer, (unsigned long long)kept);
	pthread_mutex_lock(&m->mu);
	m->resync_done += n;
	pthread_mutex_unlock(&m->mu);
	return ok;
}

static bool compare_all(struct mirror *m, uint64_t *bytes)
{
	struct nvfs_identity id;
	nvfs_identity(m->fs, &id);
	if (nvfs_oos_mark_all(m->fs) != 0) {
		mirror_lose(m, "the out-of-sync map could not be made durable");
		return false;
	}
	for (uint64_t first = 0; first < id.block_count; first += HASH_CHUNK) {
		uint64_t n = id.block_count - first < HASH_CHUNK
				     ? id.block_count - first : HASH_CHUNK;
		if (!compare_chunk(m, first, (uint32_t)n, bytes))
			return false;
	}
	return true;
}

/* Resends every block marked out of sync; their bits go once acked. */
static bool resend_marked(struct mirror *m, uint64_t *bytes)
{
	struct nvfs_identity id;
	nvfs_identity(m->fs, &id);
	uint64_t blk = 0;
	while (nvfs_oos_next(m->fs, blk, &blk)) {
		if (is_map_block(&id, blk)) {
			nvfs_oos_clear(m->fs, blk, 1);
			continue;
		}
		uint64_t run = 1, next;
		while (run < RUN_BLOCKS && nvfs_oos_next(m->fs, blk + run, &next) &&
		       next == blk + run && !is_map_block(&id, next))
			run++;
		if (!resend(m, blk, run, true, bytes))
			return false;
		pthread_mutex_lock(&m->mu);
		m->resync_done += run;
		pthread_mutex_unlock(&m->mu);
		blk += run;
	}
	return true;
}

/* Waits until every batch queued so far is acknowledged. */
static bool all_acked(struct mirror *m)
{
	pthread_mutex_lock(&m->mu);
	uint64_t last = m->next_seq;
	while (m->acked_seq < last && !over(m))
		pthread_cond_wait(&m->cv, &m->mu);
	bool ok = !over(m);
	pthread_mutex_unlock(&m->mu);
	return ok;
}

/*
 * Tells the mirror a resync begins (its pool is then no consistent image
 * until it ends: it keeps a marker that promote refuses) or has ended.
 * In the one queue: handled after every batch before it.
 */
static bool send_sync_state(struct mirror *m, bool synced)
{
	struct qitem *it = calloc(1, sizeof(*it));
	struct nvmr_sync_state *st = malloc(sizeof(*st));
	if (!it || !st) {
		free(it);
		free(st);
		mirror_lose(m, "out of memory");
		return false;
	}
	*st = (struct nvmr_sync_state){ .synced = synced };
	it->type = NVMR_SYNC_STATE;
	it->payload = (uint8_t *)st;
	it->len = sizeof(*st);
	pthread_mutex_lock(&m->mu);
	bool ok = !over(m);
	if (ok)
		mirror_enqueue(m, it);
	pthread_mutex_unlock(&m->mu);
	if (!ok)
		mirror_free_item(it);
	return ok;
}

/* Synced: from now on an acknowledgement covers every change before it. */
static void become_synced(struct mirror *m)
{
	pthread_mutex_lock(&m->mu);
	if (!over(m) && m->state == MIRROR_SYNCING) {
		m->state = MIRROR_SYNCED;
		m->covered_seq = m->acked_seq;
		m->ever_attached = true;
		m->resync_ended_ns = mirror_now_ns();
		mirror_log(m, "mirror %s synced: %llu blocks compared or "
			   "marked, %llu resent, in %.1f s", m->peer,
			   (unsigned long long)m->resync_done,
			   (unsigned long long)m->resync_sent,
			   (double)(m->resync_ended_ns - m->resync_started_ns) / 1e9);
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
}

void *mirror_resync_main(void *arg)
{
	struct mirror *m = arg;
	struct nvfs_identity id;
	nvfs_identity(m->fs, &id);
	pthread_mutex_lock(&m->mu);
	bool full = m->full_compare;
	m->resync_started_ns = mirror_now_ns();
	m->resync_done = m->resync_sent = m->resync_ended_ns = 0;
	m->resync_total = full ? id.block_count : nvfs_oos_count(m->fs);
	pthread_mutex_unlock(&m->mu);
	uint64_t bytes = 0;
	bool marker = full || nvfs_oos_count(m->fs) > 0;
	if (marker && !send_sync_state(m, false))
		return NULL;
	/*
	 * The compare's resends clear their marks once acknowledged: waiting
	 * for that before the loop keeps resend_marked from sending them a
	 * second time, and keeps resync_total (done + marked) exact: a mark
	 * counted and then cleared by a late acknowledgement would leave
	 * done short of total once synced.
	 */
	if (full && (!compare_all(m, &bytes) || !all_acked(m)))
		return NULL;
	for (;;) {
		pthread_mutex_lock(&m->mu);
		m->resync_total = m->resync_done + nvfs_oos_count(m->fs);
		pthread_mutex_unlock(&m->mu);
		if (!marker && nvfs_oos_count(m->fs) > 0) {
			if (!send_sync_state(m, false))
				return NULL;
			marker = true;
		}
		if (!resend_marked(m, &bytes) || !all_acked(m))
			return NULL;
		if (nvfs_oos_count(m->fs) == 0) {
			if (marker && !send_sync_state(m, true))
				return NULL;
			marker = false;
			become_synced(m);
		}
		pthread_mutex_lock(&m->mu);
		while (!over(m) && nvfs_oos_count(m->fs) == 0)
			pthread_cond_wait(&m->idle_cv, &m->mu);
		bool done = over(m);
		pthread_mutex_unlock(&m->mu);
		if (done)
			return NULL;
	}
}
