/*
 * The primary's sender (see sender.h): the persist hook, the queue, the
 * connection thread that attaches, sends and notices a lost mirror, the
 * receiver of acknowledgements, and the waits of sync points.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sender_int.h"

/* How often a waiting thread looks at its stop callback. */
#define WAIT_SLICE_MS 100
/* Between two attempts to attach: doubling from the first to the last. */
#define RETRY_MS 1000
#define RETRY_MAX_MS 10000

uint64_t mirror_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *mirror_state_name(enum mirror_state s)
{
	switch (s) {
	case MIRROR_CONNECTING: return "connecting";
	case MIRROR_SYNCING: return "syncing";
	case MIRROR_SYNCED: return "synced";
	case MIRROR_DEGRADED: return "degraded";
	}
	return "unknown";
}

void mirror_log(struct mirror *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	nvfs_say(m->fs, msg);
}

/* Timed wait on one of the sender's conditions (mu held). */
static void wait_ns(struct mirror *m, pthread_cond_t *cv, uint64_t wait)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = (uint64_t)ts.tv_nsec + wait;
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	pthread_cond_timedwait(cv, &m->mu, &ts);
}

static void wait_ms(struct mirror *m, pthread_cond_t *cv, int ms)
{
	wait_ns(m, cv, (uint64_t)ms * 1000000u);
}

void mirror_wake_all(struct mirror *m)
{
	pthread_cond_broadcast(&m->cv);
	pthread_cond_broadcast(&m->queue_cv);
	pthread_cond_broadcast(&m->idle_cv);
}

/* ---- the queue ---- */

static void qpush(struct qlist *l, struct qitem *it)
{
	it->next = NULL;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
}

static struct qitem *qpop(struct qlist *l)
{
	struct qitem *it = l->head;
	if (it) {
		l->head = it->next;
		if (!l->head)
			l->tail = NULL;
	}
	return it;
}

void mirror_free_item(struct qitem *it)
{
	if (!it)
		return;
	free(it->payload);
	free(it->ranges);
	free(it);
}

/*
 * Holding batches.  A batch nobody waits for yet stays queued for a
 * moment (mirror_hold=, 5 ms by default, or until HOLD_BYTES are queued): the next sync point,
 * which wakes the sender, then sends every batch held in one go, and the
 * mirror applies them back to back (a drain each, in order) and answers
 * them with one ACK.  A batch sent as soon as it is made costs a wake-up
 * of the sender, a send, a wake-up and an ACK on the mirror, and the
 * ACK's wake-up here, per write: what made N writes + fdatasync cost N
 * round trips' worth of CPU where one was enough.  Sync points lose nothing:
 * they wait for the ACK of every batch up to theirs, and a waiting sync
 * point, a caller waiting for room, a request, a resync batch and an
 * unmount are never held.  A write that no sync point follows reaches the
 * mirror up to the hold later (it was never promised sooner).
 */
#define HOLD_BYTES (256u << 10)
#define DOZE_NS 1000000000ull

static bool may_hold(const struct qitem *it)
{
	return it->type == NVMR_BATCH && !it->clear_count;
}

static uint64_t hold_ns(const struct mirror *m)
{
	return (uint64_t)m->o.hold_us * 1000u;
}

/* Whether the queue may wait for more (mu held). */
static bool hold_queue(const struct mirror *m, uint64_t now)
{
	const struct qitem *h = m->queue.head;
	return h && may_hold(h) && may_hold(m->queue.tail) &&
	       !m->ack_waiters && !m->bp_waiters && !m->stop &&
	       m->queued_bytes < HOLD_BYTES && now - h->queued_ns < hold_ns(m);
}

void mirror_enqueue(struct mirror *m, struct qitem *it)
{
	it->queued_ns = mirror_now_ns();
	m->queued_bytes += it->len;
	qpush(&m->queue, it);
	if (m->sender_dozing || !hold_queue(m, it->queued_ns)) {
		m->sender_dozing = false;
		pthread_cond_signal(&m->queue_cv);
	}
}

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

/*
 * Copies pool bytes that other threads may be storing to as they are
 * copied: resync reads blocks no lock keeps still, and a drain's ranges
 * hold words that other files' changes share (the write-intent map's
 * bits, say), which their threads change while this drain's batch is
 * made.  That race is by design -- each change has a batch of its own
 * behind this one in the queue, with the newer bytes.  glibc's memcpy
 * reads with loads 8 bytes wide or wider, so in practice no aligned
 * word is torn below the core's 8-byte stores.  Under ThreadSanitizer the
 * copy is volatile word loads that it is told to leave alone (memcpy is
 * intercepted): a race by design, not one to report.
 */
#ifdef UNDER_TSAN
__attribute__((no_sanitize_thread))
static void copy_live(uint8_t *dst, const uint8_t *src, size_t len)
{
	const volatile uint8_t *b = src;
	size_t i = 0;
	for (; i < len && ((uintptr_t)(src + i) & 7); i++)
		dst[i] = b[i];
	for (; i + 8 <= len; i += 8) {
		uint64_t w = *(const volatile uint64_t *)(const void *)(src + i);
		memcpy(dst + i, &w, 8);
	}
	for (; i < len; i++)
		dst[i] = b[i];
}
#else
static void copy_live(uint8_t *dst, const uint8_t *src, size_t len)
{
	memcpy(dst, src, len);
}
#endif

struct qitem *mirror_make_batch(struct mirror *m,
				const struct pool_range *ranges, size_t n)
{
	const uint8_t *base = nvfs_pool_bytes(m->fs);
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += ranges[i].len;
	size_t head = sizeof(struct nvmr_batch) + n * sizeof(struct nvmr_range);
	struct qitem *it = calloc(1, sizeof(*it));
	uint8_t *p = it ? malloc(head + bytes) : NULL;
	struct pool_range *copy = p ? malloc(n * sizeof(*copy)) : NULL;
	if (!copy) {
		free(p);
		free(it);
		return NULL;
	}
	it->type = NVMR_BATCH;
	it->seq = ++m->next_seq;
	struct nvmr_batch b = { .batch_seq = it->seq, .nranges = (uint32_t)n };
	memcpy(p, &b, sizeof(b));
	struct nvmr_range *wr = (struct nvmr_range *)(p + sizeof(b));
	uint8_t *data = p + head;
	for (size_t i = 0; i < n; i++) {
		wr[i] = (struct nvmr_range){ ranges[i].off, ranges[i].len };
		copy_live(data, base + ranges[i].off, ranges[i].len);
		data += ranges[i].len;
	}
	memcpy(copy, ranges, n * sizeof(*copy));
	it->payload = p;
	it->len = head + bytes;
	it->ranges = copy;
	it->nranges = n;
	return it;
}


/* ---- the persist hook ---- */

/* Bytes of batch data one message carries at most. */
#define PIECE_BYTES (NVMR_MAX_PAYLOAD / 2)
#define PIECE_RANGES 1024u

/*
 * Queues a drain's ranges as one BATCH, or as several when they do not
 * fit one message (a drain the mirror applies in pieces may be cut by a
 * crash between them: a torn drain, which a power failure can leave on
 * the primary too, and which recovery handles).  mu held.  Returns the
 * last batch's number, 0 when out of memory.
 */
static uint64_t queue_ranges(struct mirror *m, const struct pool_range *r,
			     size_t n)
{
	struct pool_range piece[PIECE_RANGES];
	size_t np = 0;
	uint64_t bytes = 0, seq = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t off = r[i].off, left = r[i].len;
		while (left) {
			uint64_t take = left < PIECE_BYTES - bytes ? left
								   : PIECE_BYTES - bytes;
			piece[np++] = (struct pool_range){ off, take };
			bytes += take;
			off += take;
			left -= take;
			bool last = i + 1 == n && left == 0;
			if (np < PIECE_RANGES && bytes < PIECE_BYTES && !last)
				continue;
			struct qitem *it = mirror_make_batch(m, piece, np);
			if (!it)
				return 0;
			seq = it->seq;
			mirror_enqueue(m, it);
			np = 0;
			bytes = 0;
		}
	}
	return seq;
}

/*
 * Called by every drain (after it, with the caller's locks still held):
 * the batch is numbered and its bytes copied now.  While the mirror is
 * not attached the ranges are marked out of sync instead (durably, before
 * this returns).  A full queue makes the caller wait (backpressure).
 */
static int persist_hook(void *arg, struct pool *pool,
			const struct pool_range *r, size_t n, uint64_t *seq)
{
	struct mirror *m = arg;
	pthread_mutex_lock(&m->mu);
	bool send = (m->state == MIRROR_SYNCING || m->state == MIRROR_SYNCED) &&
		    !m->conn_lost;
	*seq = send ? queue_ranges(m, r, n) : 0;
	bool sent = *seq != 0;
	if (!sent)
		*seq = ++m->next_seq;
	while (sent && m->queued_bytes > m->o.window && !m->conn_lost &&
	       !m->stop && (m->state == MIRROR_SYNCING ||
			    m->state == MIRROR_SYNCED)) {
		m->bp_waiters++;
		pthread_cond_signal(&m->queue_cv);
		wait_ms(m, &m->cv, WAIT_SLICE_MS);
		m->bp_waiters--;
	}
	pool_publish_seq(pool, *seq);
	pthread_mutex_unlock(&m->mu);
	if (sent)
		return 0;
	int rc = nvfs_oos_mark(m->fs, r, n);
	/*
	 * Out of memory while attached: the change is in the map, and the
	 * connection goes, so no acknowledgement of an older resend of the
	 * same blocks can clear their marks after this.
	 */
	if (send)
		mirror_lose(m, "out of memory for a batch");
	return rc;
}

/* ---- losing the mirror ---- */

/*
 * Everything sent and not acknowledged, and everything queued, is marked
 * out of sync (durably) before anyone is told the mirror is gone: a sync
 * point released then is covered by the map.  mu held.
 */
static void drop_outstanding(struct mirror *m)
{
	/*
	 * Batches being sent (in_send) stay the sender's to free, and their
	 * ranges are marked here all the same: `marking` keeps the sender
	 * from freeing them meanwhile (send_run).  They are taken off the
	 * lists now, under mu: a walk of a list through one after mu is let
	 * go could read memory the sender freed (the primary died of that
	 * when a cut came in the middle of a big batch).  Those with ranges
	 * to mark go in `marking`, whose links nobody else touches.
	 */
	struct qlist lists[2] = { { 0 }, { 0 } }, marking = { 0 };
	struct qlist from[2] = { m->inflight, m->queue };
	for (int i = 0; i < 2; i++) {
		struct qitem *it;
		while ((it = qpop(&from[i]))) {
			if (!it->in_send) {
				qpush(&lists[i], it);
				continue;
			}
			it->released = true;
			if (it->nranges) {
				it->marking = true;
				qpush(&marking, it);
			}
		}
	}
	m->inflight = (struct qlist){ 0 };
	m->queue = (struct qlist){ 0 };
	m->queued_bytes = 0;
	pthread_mutex_unlock(&m->mu);
	for (struct qitem *it = marking.head; it; it = it->next)
		nvfs_oos_mark(m->fs, it->ranges, it->nranges);
	for (int i = 0; i < 2; i++) {
		struct qitem *it;
		while ((it = qpop(&lists[i]))) {
			if (it->type == NVMR_BATCH && it->nranges)
				nvfs_oos_mark(m->fs, it->ranges, it->nranges);
			mirror_free_item(it);
		}
	}
	pthread_mutex_lock(&m->mu);
	struct qitem *it;
	while ((it = qpop(&marking)))
		it->marking = false;
	pthread_cond_broadcast(&m->cv);
}

static void say_state(struct mirror *m, const char *why)
{
	if (m->logged_state == (int)m->state)
		return;
	m->logged_state = (int)m->state;
	if (m->state == MIRROR_DEGRADED)
		mirror_log(m, "mirror %s lost (%s): degraded; changes are "
			   "recorded in the out-of-sync map and resent when it "
			   "is back", m->peer, why);
	else if (m->state == MIRROR_SYNCED)
		mirror_log(m, "mirror %s synced", m->peer);
	else if (m->state == MIRROR_SYNCING)
		mirror_log(m, "mirror %s attached; resync under way", m->peer);
}

/* The connection failed: tear it down, keep what was lost in the map. */
void mirror_lose(struct mirror *m, const char *why)
{
	pthread_mutex_lock(&m->mu);
	if (m->conn_lost) {
		/* Lost already (the receiver's end of stream after our own
		 * shutdown, say): the first to notice says why. */
		pthread_mutex_unlock(&m->mu);
		return;
	}
	if (m->ch)
		nvmr_shutdown(m->ch);
	m->conn_lost = true;
	drop_outstanding(m);
	if (m->stop && m->state != MIRROR_DEGRADED) {
		/* Unmounting: everything was sent and acknowledged. */
		m->state = MIRROR_CONNECTING;
		m->logged_state = (int)m->state;
	} else if (m->state == MIRROR_SYNCING || m->state == MIRROR_SYNCED) {
		m->state = MIRROR_DEGRADED;
		m->losses++;
		say_state(m, why);
	}
	mirror_wake_all(m);
	pthread_mutex_unlock(&m->mu);
}

/* ---- the receiver of the mirror's messages ---- */

/*
 * Batches up to applied are on the mirror.  The marks a resync batch
 * clears go under mu (clearing is cheap: no drain): a loss that marks the
 * same blocks for a later batch then marks them after this.
 */
static void acked(struct mirror *m, uint64_t applied)
{
	struct qlist done = { 0 };
	pthread_mutex_lock(&m->mu);
	uint64_t now = mirror_now_ns();
	while (m->inflight.head && m->inflight.head->seq <= applied) {
		struct qitem *it = qpop(&m->inflight);
		m->last_rtt_us = (now - it->sent_ns) / 1000;
		m->batches_acked++;
		if (it->clear_count)
			nvfs_oos_clear(m->fs, it->clear_blk, it->clear_count);
		if (it->in_send)
			it->released = true;
		else
			qpush(&done, it);
	}
	if (applied > m->acked_seq)
		m->acked_seq = applied;
	if (m->state == MIRROR_SYNCED)
		m->covered_seq = m->acked_seq;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	struct qitem *it;
	while ((it = qpop(&done)))
		mirror_free_item(it);
}

static void *receiver_main(void *arg)
{
	struct mirror *m = arg;
	char err[256];
	for (;;) {
		uint16_t type;
		const uint8_t *p;
		size_t len;
		int rc = nvmr_recv(m->ch, -1, &type, &p, &len, err, sizeof(err));
		if (rc == 0 && type == NVMR_ACK && len == sizeof(struct nvmr_ack)) {
			struct nvmr_ack a;
			memcpy(&a, p, sizeof(a));
			acked(m, a.applied);
			continue;
		}
		if (rc == 0 && (type == NVMR_HASHES || type == NVMR_VERIFY_REPLY ||
				type == NVMR_READ_REPLY) &&
		    mirror_got_reply(m, type, p, len) == 0)
			continue;
		if (rc == 0) {
			pthread_mutex_lock(&m->mu);
			m->last_heard_ns = mirror_now_ns();
			if (type == NVMR_PONG)
				m->ping_sent_ns = 0;
			pthread_mutex_unlock(&m->mu);
		}
		if (rc == 0 && type == NVMR_PONG)
			continue;
		if (rc == 0) {
			rc = -EPROTO;
			snprintf(err, sizeof(err), "unexpected message type %u",
				 type);
		}
		mirror_lose(m, err);
		return NULL;
	}
}

/* ---- attaching and sending ---- */

static int attach(struct mirror *m, char *err, size_t errlen)
{
	struct nvmr_channel *ch;
	int rc = nvmr_connect(m->o.host, m->o.port, m->o.timeout_ms,
			      m->o.timeout_ms, &ch, err, errlen);
	if (rc)
		return rc;
	struct nvfs_identity id;
	nvfs_identity(m->fs, &id);
	struct nvmr_pool_id pid = { .block_count = id.block_count,
				    .pool_size = id.pool_size,
				    .epoch = id.epoch,
				    .generation = id.generation,
				    .epoch_tag = id.epoch_tag,
				    .repl_token = id.repl_token };
	memcpy(pid.uuid, id.uuid, sizeof(pid.uuid));
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	rc = nvmr_handshake_primary(ch, &m->o.key, &pid, m->o.seal, &reply,
				    &ready, err, errlen);
	if (rc) {
		nvmr_close(ch);
		return rc;
	}
	pthread_mutex_lock(&m->mu);
	m->ch = ch;
	m->conn_lost = false;
	m->last_heard_ns = mirror_now_ns();
	m->ping_sent_ns = 0;
	m->epoch = id.epoch;
	m->sealed = ready.flags & NVMR_F_SEAL;
	m->full_compare = ready.full_resync;
	m->state = MIRROR_SYNCING;
	m->attaches++;
	snprintf(m->peer, sizeof(m->peer), "%s", nvmr_peer(ch));
	say_state(m, "");
	mirror_wake_all(m);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

/*
 * Batches one send takes at most: the held batches of a sync point go
 * to the socket in one call (nvmr_send_many), not one call a batch --
 * at 64 batches of 4 KiB the calls had cost more than the bytes.
 */
#define RUN_ITEMS 64
#define RUN_BYTES (1u << 20)

/* first, and the batches queued after it that go in the same send (mu held). */
static int take_run(struct mirror *m, struct qitem *first, struct qitem **run)
{
	int k = 0;
	size_t bytes = first->len;
	run[k++] = first;
	while (first->type == NVMR_BATCH && k < RUN_ITEMS) {
		struct qitem *h = m->queue.head;
		if (!h || h->type != NVMR_BATCH || bytes + h->len > RUN_BYTES)
			break;
		run[k++] = qpop(&m->queue);
		bytes += h->len;
	}
	return k;
}

/*
 * Sends a run of items (more: another follows at once); a BATCH waits in
 * inflight for its ACK.  The mirror may acknowledge one (or the
 * connection fail) before the send returns: the item is then off the list
 * with released set, and freed here.
 */
static int send_run(struct mirror *m, struct qitem **run, int k, bool more)
{
	struct nvmr_out out[RUN_ITEMS];
	struct iovec iov[RUN_ITEMS];
	bool batch = run[0]->type == NVMR_BATCH;
	uint64_t now = mirror_now_ns();
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < k; i++) {
		struct qitem *it = run[i];
		iov[i] = (struct iovec){ it->payload, it->len };
		out[i] = (struct nvmr_out){ it->type, &iov[i], 1 };
		it->sent_ns = now;
		m->queued_bytes -= it->len;
		if (batch) {
			it->in_send = true;
			qpush(&m->inflight, it);
			m->batches_sent++;
			m->bytes_sent += it->len;
		}
	}
	if (m->bp_waiters)
		pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	/* Only this thread sends on the channel: the hint is its own. */
	nvmr_send_more(m->ch, more);
	int rc = k == 1 ? nvmr_send(m->ch, run[0]->type, iov, 1)
			: nvmr_send_many(m->ch, out, k);
	bool mine[RUN_ITEMS];
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < k; i++) {
		while (run[i]->marking)
			pthread_cond_wait(&m->cv, &m->mu);
		run[i]->in_send = false;
		mine[i] = !batch || run[i]->released;
	}
	pthread_mutex_unlock(&m->mu);
	for (int i = 0; i < k; i++)
		if (mine[i])
			mirror_free_item(run[i]);
	return rc;
}

/*
 * The oldest unacknowledged batch, or the heartbeat, is older than the
 * timeout (mu held).
 */
static bool ack_overdue(struct mirror *m)
{
	uint64_t now = mirror_now_ns(), limit = (uint64_t)m->o.timeout_ms * 1000000u;
	struct qitem *it = m->inflight.head;
	return (it && now - it->sent_ns > limit) ||
	       (m->ping_sent_ns && now - m->ping_sent_ns > limit);
}

/*
 * An idle connection is probed: a partition that TCP does not notice
 * (nothing to send, so no timeout of its own) is then found within about
 * two timeouts, not at the next write (mu held).
 */
static void heartbeat(struct mirror *m)
{
	uint64_t now = mirror_now_ns();
	if (m->ping_sent_ns || m->inflight.head || m->queue.head ||
	    now - m->last_heard_ns < (uint64_t)m->o.timeout_ms * 500000u)
		return;
	struct qitem *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->type = NVMR_PING;
	m->ping_sent_ns = now;
	mirror_enqueue(m, it);
}

/* A send failed: the connection is lost (mu held, let go meanwhile). */
static void lose_after_send(struct mirror *m, int rc)
{
	char why[128];
	snprintf(why, sizeof(why), "send failed: %s", strerror(-rc));
	pthread_mutex_unlock(&m->mu);
	mirror_lose(m, why);
	pthread_mutex_lock(&m->mu);
}

/*
 * A sync point waiting for batches up to seq sends them itself when no
 * one else is sending: waking the connection thread to do it cost a
 * thread hand-off (about 20 us on an idle vCPU here) at every sync
 * point.  It sends what is queued up to its own batch (anything later is
 * left to the connection thread, so that writes arriving meanwhile
 * cannot keep it from its acknowledgement).  Returns whether it sent;
 * mu held, let go while sending.
 */
/* Whether the head of the queue goes with a sync point up to seq (mu held). */
static bool head_up_to(const struct mirror *m, uint64_t seq)
{
	const struct qitem *h = m->queue.head;
	return h && (h->type != NVMR_BATCH || h->seq <= seq);
}

static bool send_here(struct mirror *m, uint64_t seq)
{
	if (m->send_busy || m->conn_lost || m->stop || !m->ch ||
	    (m->state != MIRROR_SYNCING && m->state != MIRROR_SYNCED))
		return false;
	m->send_busy = true;
	m->sends++;
	int rc = 0;
	while (rc == 0 && !m->conn_lost && head_up_to(m, seq)) {
		struct qitem *run[RUN_ITEMS];
		int k = take_run(m, qpop(&m->queue), run);
		/* MSG_MORE only when this loop sends the next run itself: a
		 * corked last run would wait for the connection thread. */
		bool more = head_up_to(m, seq);
		pthread_mutex_unlock(&m->mu);
		rc = send_run(m, run, k, more);
		pthread_mutex_lock(&m->mu);
	}
	m->send_busy = false;
	if (rc)
		lose_after_send(m, rc);
	else if (m->queue.head)
		pthread_cond_signal(&m->queue_cv);
	return true;
}

/*
 * Sends until the connection is lost or the sender stops.  Once the queue
 * is let go, everything in it goes, back to back, until it is empty.
 * While writes come, the sender looks at the queue every hold, so
 * that held batches wake nobody (see "holding batches"); after a second
 * without any it dozes, and the next batch wakes it.
 */
static void serve(struct mirror *m)
{
	bool emptying = false;
	uint64_t last_send_ns = mirror_now_ns();
	pthread_mutex_lock(&m->mu);
	while (!m->conn_lost) {
		if (ack_overdue(m)) {
			pthread_mutex_unlock(&m->mu);
			mirror_lose(m, "no acknowledgement within mirror_timeout");
			pthread_mutex_lock(&m->mu);
			break;
		}
		if (m->stop && !m->queue.head && !m->inflight.head)
			break;
		heartbeat(m);
		uint64_t now = mirror_now_ns();
		if (!emptying && hold_queue(m, now)) {
			wait_ns(m, &m->queue_cv,
				m->queue.head->queued_ns + hold_ns(m) - now);
			continue;
		}
		/* While a sync point sends (send_here), the queue is its. */
		struct qitem *it = m->send_busy ? NULL : qpop(&m->queue);
		if (!it) {
			if (emptying)
				last_send_ns = now;
			emptying = false;
			/* Without holding, every batch wakes the sender. */
			m->sender_dozing = now - last_send_ns > DOZE_NS ||
					   !hold_ns(m);
			wait_ns(m, &m->queue_cv, m->sender_dozing ?
				WAIT_SLICE_MS * 1000000ull : hold_ns(m));
			m->sender_dozing = false;
			continue;
		}
		if (!emptying)
			m->sends++;
		emptying = true;
		struct qitem *run[RUN_ITEMS];
		int k = take_run(m, it, run);
		bool more = m->queue.head != NULL;
		m->send_busy = true;
		pthread_mutex_unlock(&m->mu);
		int rc = send_run(m, run, k, more);
		pthread_mutex_lock(&m->mu);
		m->send_busy = false;
		if (rc)
			lose_after_send(m, rc);
	}
	pthread_mutex_unlock(&m->mu);
}

static void detach(struct mirror *m, pthread_t receiver)
{
	pthread_mutex_lock(&m->mu);
	if (m->ch)
		nvmr_shutdown(m->ch);
	m->conn_lost = true;
	mirror_wake_all(m);
	bool resync = m->resync_running;
	pthread_mutex_unlock(&m->mu);
	pthread_join(receiver, NULL);
	if (resync)
		pthread_join(m->resync_thread, NULL);
	pthread_mutex_lock(&m->mu);
	/* A sync point still sending (send_here) is about to fail: the
	 * channel is shut down.  It must be done with it before it goes. */
	while (m->send_busy) {
		pthread_mutex_unlock(&m->mu);
		usleep(1000);
		pthread_mutex_lock(&m->mu);
	}
	drop_outstanding(m);
	nvmr_close(m->ch);
	m->ch = NULL;
	m->resync_running = false;
	pthread_mutex_unlock(&m->mu);
}

static void *conn_main(void *arg)
{
	struct mirror *m = arg;
	char err[512], last_err[512] = "";
	int retry_ms = RETRY_MS;
	for (;;) {
		pthread_mutex_lock(&m->mu);
		bool stop = m->stop;
		pthread_mutex_unlock(&m->mu);
		if (stop)
			return NULL;
		int rc = attach(m, err, sizeof(err));
		if (rc) {
			if (strcmp(err, last_err) != 0)
				mirror_log(m, "mirror %s:%s: %s", m->o.host,
					   m->o.port, err);
			snprintf(last_err, sizeof(last_err), "%s", err);
			pthread_mutex_lock(&m->mu);
			if (!m->stop)
				wait_ms(m, &m->queue_cv, retry_ms);
			pthread_mutex_unlock(&m->mu);
			retry_ms = retry_ms * 2 < RETRY_MAX_MS ? retry_ms * 2
							       : RETRY_MAX_MS;
			continue;
		}
		last_err[0] = '\0';
		retry_ms = RETRY_MS;
		pthread_t receiver;
		bool ok = pthread_create(&receiver, NULL, receiver_main, m) == 0;
		pthread_mutex_lock(&m->mu);
		m->resync_running = ok && pthread_create(&m->resync_thread, NULL,
							 mirror_resync_main, m) == 0;
		pthread_mutex_unlock(&m->mu);
		if (ok)
			serve(m);
		else
			mirror_lose(m, "cannot start the receiver thread");
		if (ok)
			detach(m, receiver);
	}
}

/* ---- the outside ---- */

int mirror_start(struct nvfs *fs, const struct mirror_opts *o,
		 struct mirror **out, char *err, size_t errlen)
{
	struct mirror *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->fs = fs;
	m->o = *o;
	if (!m->o.window)
		m->o.window = 64u << 20;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->call_mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	pthread_cond_init(&m->queue_cv, NULL);
	pthread_cond_init(&m->idle_cv, NULL);
	m->state = MIRROR_CONNECTING;
	m->next_seq = nvfs_last_seq(fs);
	struct nvfs_identity id;
	nvfs_identity(fs, &id);
	m->epoch = id.epoch;
	m->acked_seq = m->covered_seq = m->next_seq;
	snprintf(m->peer, sizeof(m->peer), "%s:%s", o->host, o->port);
	nvfs_set_persist_hook(fs, persist_hook, m);
	mirror_enable_heal(m, true);
	if (pthread_create(&m->conn_thread, NULL, conn_main, m)) {
		mirror_enable_heal(m, false);
		nvfs_set_persist_hook(fs, NULL, NULL);
		snprintf(err, errlen, "cannot start the mirror thread");
		free(m);
		return -EAGAIN;
	}
	*out = m;
	return 0;
}

void mirror_stop(struct mirror *m)
{
	if (!m)
		return;
	mirror_enable_heal(m, false);
	nvfs_set_persist_hook(m->fs, NULL, NULL);
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	mirror_wake_all(m);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->conn_thread, NULL);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->call_mu);
	pthread_cond_destroy(&m->cv);
	pthread_cond_destroy(&m->queue_cv);
	pthread_cond_destroy(&m->idle_cv);
	free(m);
}

bool mirror_sync_all(const struct mirror *m)
{
	return m && m->o.sync_all;
}

bool mirror_attached(struct mirror *m)
{
	pthread_mutex_lock(&m->mu);
	bool a = m->state == MIRROR_SYNCED;
	pthread_mutex_unlock(&m->mu);
	return a;
}

/*
 * Whether a sync point up to seq may return now (mu held).  Under block,
 * only when every change up to seq is on the mirror (covered_seq moves
 * only while synced).  Under degrade, also when the batches up to seq
 * are acknowledged (a change dropped earlier is in the out-of-sync map)
 * or when no mirror is attached (then the map holds every change: the
 * hook and the loss of a mirror mark it before anyone is told).
 */
static bool covered(const struct mirror *m, uint64_t seq)
{
	if (m->covered_seq >= seq)
		return true;
	if (m->o.policy_block)
		return false;
	if (m->state == MIRROR_SYNCING || m->state == MIRROR_SYNCED)
		return m->acked_seq >= seq;
	return true;
}

int mirror_wait(struct mirror *m, uint64_t seq, bool (*stop)(void *),
		void *arg)
{
	if (!m)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&m->mu);
	if (!covered(m, seq) && !m->stop) {
		nvfs_about_to_wait();
		/* Held batches go now (see "holding batches"). */
		m->ack_waiters++;
		if (m->queue.head && !send_here(m, seq))
			pthread_cond_signal(&m->queue_cv);
		while (!covered(m, seq) && !m->stop) {
			if (stop && stop(arg)) {
				rc = -EINTR;
				break;
			}
			wait_ms(m, &m->cv, WAIT_SLICE_MS);
		}
		m->ack_waiters--;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

void mirror_get_status(struct mirror *m, struct mirror_status *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&m->mu);
	st->state = m->state;
	snprintf(st->peer, sizeof(st->peer), "%s", m->peer);
	st->epoch = m->epoch;
	st->resync_done = m->resync_done;
	st->resync_total = m->resync_total;
	/* Blocks compared or resent per second, over the resync so far (or
	 * the whole of the last one). */
	uint64_t end = m->resync_ended_ns ? m->resync_ended_ns : mirror_now_ns();
	uint64_t ms = (end - m->resync_started_ns) / 1000000u;
	if (m->resync_started_ns && ms)
		st->resync_bytes_per_s = m->resync_done * NVMPFS_BLOCK_SIZE *
					 1000u / ms;
	st->resync_sent = m->resync_sent;
	st->last_rtt_us = m->last_rtt_us;
	st->batches_sent = m->batches_sent;
	st->sends = m->sends;
	st->batches_acked = m->batches_acked;
	st->bytes_sent = m->bytes_sent;
	st->attaches = m->attaches;
	st->losses = m->losses;
	st->acked_seq = m->acked_seq;
	st->last_seq = m->next_seq;
	st->sealed = m->sealed;
	st->heals_fetched = m->heals_fetched;
	st->remote_bad = m->remote_bad;
	pthread_mutex_unlock(&m->mu);
	st->out_of_sync = nvfs_oos_count(m->fs);
}
