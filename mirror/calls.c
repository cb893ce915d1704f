/*
 * Requests to the mirror that wait for an answer: block hashes (resync),
 * a block's bytes (self-heal) and a check of blocks against checksums
 * (FlushAndVerify on the mirror).  They travel in the one send queue, so
 * the mirror answers each after applying every batch queued before it.
 * One request is in flight at a time (call_mu); a reply is matched by its
 * id and type, and one that comes after its request gave up is dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sender_int.h"

#define BS NVMPFS_BLOCK_SIZE

/* Whether the call may go on waiting (mu held). */
static bool call_alive(const struct mirror *m)
{
	return !m->conn_lost && !m->stop && m->ch &&
	       (m->state == MIRROR_SYNCING || m->state == MIRROR_SYNCED);
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	uint64_t ns = (uint64_t)ts->tv_nsec + (uint64_t)ms * 1000000u;
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

void mirror_cancel_call(struct mirror *m)
{
	m->call_id = 0;
	free(m->reply);
	m->reply = NULL;
	m->reply_ready = false;
}

int mirror_got_reply(struct mirror *m, uint16_t type, const uint8_t *p,
		     size_t len)
{
	uint64_t id;
	if (len < sizeof(id))
		return -EPROTO;
	memcpy(&id, p, sizeof(id));
	pthread_mutex_lock(&m->mu);
	if (id && id == m->call_id && type == m->call_reply &&
	    !m->reply_ready) {
		m->reply = malloc(len);
		if (m->reply)
			memcpy(m->reply, p, len);
		m->reply_len = len;
		m->reply_ready = true;   /* NULL reply: out of memory */
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

/*
 * Sends a request (payload malloc'd, its first 8 bytes the id, filled
 * here; taken over) and waits up to timeout_ms for the reply of type
 * reply_type.  Returns 0 with *reply (malloc'd) and *reply_len, -ENOTCONN
 * when no mirror is attached or the connection ended, -ETIMEDOUT, or
 * -ENOMEM.
 */
static int call(struct mirror *m, uint16_t type, void *payload, size_t len,
		uint16_t reply_type, int timeout_ms, uint8_t **reply,
		size_t *reply_len)
{
	static uint64_t last_id;
	struct qitem *it = calloc(1, sizeof(*it));
	if (!it) {
		free(payload);
		return -ENOMEM;
	}
	it->type = type;
	it->payload = payload;
	it->len = len;
	nvfs_about_to_wait();
	pthread_mutex_lock(&m->call_mu);
	pthread_mutex_lock(&m->mu);
	int rc = 0;
	if (!call_alive(m)) {
		rc = -ENOTCONN;
		mirror_free_item(it);
	} else {
		uint64_t id = ++last_id;
		memcpy(payload, &id, sizeof(id));
		m->call_id = id;
		m->call_reply = reply_type;
		m->reply_ready = false;
		mirror_enqueue(m, it);
		struct timespec dl;
		deadline_in(&dl, timeout_ms);
		while (!m->reply_ready && call_alive(m) && rc == 0)
			if (pthread_cond_timedwait(&m->cv, &m->mu, &dl) == ETIMEDOUT)
				rc = -ETIMEDOUT;
		if (m->reply_ready) {
			rc = m->reply ? 0 : -ENOMEM;
			*reply = m->reply;
			*reply_len = m->reply_len;
			m->reply = NULL;
		} else if (rc == 0) {
			rc = -ENOTCONN;
		}
		mirror_cancel_call(m);
	}
	pthread_mutex_unlock(&m->mu);
	pthread_mutex_unlock(&m->call_mu);
	return rc;
}

void mirror_kick(struct mirror *m)
{
	pthread_mutex_lock(&m->mu);
	pthread_cond_broadcast(&m->idle_cv);
	pthread_mutex_unlock(&m->mu);
}

/* ---- hashes (resync) ---- */

uint64_t *mirror_remote_hashes(struct mirror *m, uint64_t first, uint32_t n)
{
	struct nvmr_hash_req *req = malloc(sizeof(*req));
	if (!req)
		return NULL;
	*req = (struct nvmr_hash_req){ .first_block = first, .count = n };
	uint8_t *p;
	size_t len;
	/* Hashing a chunk is quick next to the timeout; a mirror that does
	 * not answer within it is treated as gone. */
	int rc = call(m, NVMR_HASH_REQ, req, sizeof(*req), NVMR_HASHES,
		      m->o.timeout_ms, &p, &len);
	if (rc)
		return NULL;
	struct nvmr_hashes h;
	uint64_t *out = NULL;
	if (len >= sizeof(h)) {
		memcpy(&h, p, sizeof(h));
		if (h.first_block == first && h.count == n &&
		    len == sizeof(h) + (size_t)n * 8 && (out = malloc(n * 8ull)))
			memcpy(out, p + sizeof(h), n * 8ull);
	}
	free(p);
	if (!out && rc == 0)
		mirror_log(m, "mirror %s: a malformed HASHES reply", m->peer);
	return out;
}

/* ---- self-heal ---- */

/*
 * The healer: the mirror's copy of a pool block.  It waits first until
 * the mirror has every batch queued so far (its copy is then as new as
 * ours); a block marked out of sync has no good copy there.
 */
static int fetch_block(void *arg, uint64_t pblk, void *buf)
{
	struct mirror *m = arg;
	if (nvfs_oos_test(m->fs, pblk))
		return -EIO;
	pthread_mutex_lock(&m->mu);
	uint64_t last = m->next_seq;
	struct timespec dl;
	deadline_in(&dl, m->o.timeout_ms);
	while (m->acked_seq < last && call_alive(m))
		if (pthread_cond_timedwait(&m->cv, &m->mu, &dl) == ETIMEDOUT)
			break;
	bool ready = m->acked_seq >= last && call_alive(m);
	pthread_mutex_unlock(&m->mu);
	if (!ready)
		return -EIO;
	struct nvmr_read *req = malloc(sizeof(*req));
	if (!req)
		return -ENOMEM;
	*req = (struct nvmr_read){ .block = pblk, .count = 1 };
	uint8_t *p;
	size_t len;
	int rc = call(m, NVMR_READ, req, sizeof(*req), NVMR_READ_REPLY,
		      m->o.timeout_ms, &p, &len);
	if (rc)
		return rc;
	struct nvmr_read_reply r;
	rc = -EIO;
	if (len == sizeof(r) + BS) {
		memcpy(&r, p, sizeof(r));
		if (r.block == pblk && r.count == 1) {
			memcpy(buf, p + sizeof(r), BS);
			rc = 0;
		}
	}
	free(p);
	pthread_mutex_lock(&m->mu);
	m->heals_fetched += rc == 0;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

void mirror_enable_heal(struct mirror *m, bool on)
{
	if (on)
		nvfs_set_healer(m->fs, fetch_block, m);
	else
		nvfs_set_healer(m->fs, NULL, NULL);
}

/* ---- verify on the mirror ---- */

/* Whether the mirror names a block it was asked about. */
static bool asked_for(const struct nvfs_block_sum *sums, uint32_t n,
		      uint64_t blk)
{
	for (uint32_t i = 0; i < n; i++)
		if (sums[i].pblk == blk)
			return true;
	return false;
}

/* Checks one chunk; adds the blocks that failed to bad[]. */
static int verify_chunk(struct mirror *m, const struct nvfs_block_sum *sums,
			uint32_t n, uint64_t *bad, size_t *nbad)
{
	size_t len = sizeof(struct nvmr_verify) + n * sizeof(struct nvmr_block_sum);
	uint8_t *req = malloc(len);
	if (!req)
		return -ENOMEM;
	struct nvmr_verify v = { .count = n };
	memcpy(req, &v, sizeof(v));
	for (uint32_t i = 0; i < n; i++) {
		struct nvmr_block_sum b = { sums[i].pblk, sums[i].sum };
		memcpy(req + sizeof(v) + i * sizeof(b), &b, sizeof(b));
	}
	uint8_t *p;
	size_t plen;
	int rc = call(m, NVMR_VERIFY, req, len, NVMR_VERIFY_REPLY,
		      m->o.timeout_ms, &p, &plen);
	if (rc)
		return rc;
	struct nvmr_verify_reply r;
	rc = -EPROTO;
	if (plen >= sizeof(r)) {
		memcpy(&r, p, sizeof(r));
		if (r.nbad <= n && plen == sizeof(r) + r.nbad * 8ull) {
			rc = 0;
			for (uint32_t i = 0; i < r.nbad && rc == 0; i++) {
				uint64_t b;
				memcpy(&b, p + sizeof(r) + i * 8ull, 8);
				rc = asked_for(sums, n, b) ? 0 : -EPROTO;
				bad[(*nbad)++] = b;
			}
		}
	}
	free(p);
	if (rc)
		mirror_log(m, "mirror %s: a malformed VERIFY_REPLY", m->peer);
	return rc;
}

/* Marks the blocks the mirror holds wrong out of sync: resync rewrites. */
static void resend_bad(struct mirror *m, const uint64_t *bad, size_t nbad)
{
	for (size_t i = 0; i < nbad; i++) {
		struct pool_range r = { bad[i] * BS, BS };
		nvfs_oos_mark(m->fs, &r, 1);
	}
	pthread_mutex_lock(&m->mu);
	m->remote_bad += nbad;
	if (m->state == MIRROR_SYNCED)
		m->state = MIRROR_SYNCING;  /* until the resync rewrote them */
	mirror_wake_all(m);
	pthread_mutex_unlock(&m->mu);
	mirror_log(m, "mirror %s: %zu block(s) failed verification there; "
		   "resending them", m->peer, nbad);
}

int mirror_verify(struct mirror *m, const struct nvfs_block_sum *sums,
		  size_t n, uint64_t **bad_out, size_t *nbad)
{
	*bad_out = NULL;
	*nbad = 0;
	uint64_t *bad = malloc((n ? n : 1) * sizeof(*bad));
	if (!bad)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i += NVMR_MAX_VERIFY) {
		uint32_t c = n - i < NVMR_MAX_VERIFY ? (uint32_t)(n - i)
						     : NVMR_MAX_VERIFY;
		rc = verify_chunk(m, sums + i, c, bad, nbad);
	}
	if (rc == 0 && *nbad)
		resend_bad(m, bad, *nbad);
	if (rc) {
		free(bad);
		*nbad = 0;
		return rc;
	}
	*bad_out = bad;
	return 0;
}
