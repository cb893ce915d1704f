/*
 * One primary's session: the handshake (with the pool's identity and
 * state as they are now), then messages until the primary goes away.  A
 * malformed message ends the session with nothing of it written: the
 * primary is told why (REFUSE) and the log names it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel_internal.h"
#include "judge.h"
#include "mlog.h"
#include "server.h"

static void log_attach(struct mirror_server *s, struct nvmr_channel *ch,
		       const struct mirror_pool_view *v,
		       const struct nvmr_hello *hello,
		       const struct nvmr_ready *ready)
{
	char uuid[37];
	mirror_format_uuid(hello->pool.uuid, uuid);
	mlog(LOG_INFO, "%s: primary of pool %s (epoch %" PRIu64 ") attached "
	     "to %s (%s), %s%s", nvmr_peer(ch), uuid, hello->pool.epoch,
	     s->pool->path, mirror_state_name(v),
	     (ready->flags & NVMR_F_SEAL) ? "sealed" : "not sealed",
	     ready->full_resync ? ", full resync asked" : "");
}

/* The pool as it is now, and why it cannot be used if it cannot. */
static void look_at_pool(struct mirror_server *s, struct mirror_pool_view *v,
			 struct mirror_judge_ctx *jc, char *problem,
			 size_t problemlen)
{
	*jc = (struct mirror_judge_ctx){ .pool = s->pool, .view = v };
	if (mirror_pool_view(s->pool, v, problem, problemlen) < 0) {
		/* Say who we are as far as we know; the judge refuses. */
		v->state = NVMR_POOL_REPLICA;
		v->sb.block_count = s->pool->size / NVMPFS_BLOCK_SIZE;
		jc->unusable = problem;
	} else if (s->replica.pool_error) {
		snprintf(problem, problemlen, "%s: a drain failed (%s); restart "
			 "nvmpfs-mirror once its storage is sound", s->pool->path,
			 strerror(-s->replica.pool_error));
		jc->unusable = problem;
	}
}

struct claim {
	struct mirror_server *s;
	struct nvmr_channel *ch;
	struct mirror_pool_view v;
	struct mirror_judge_ctx jc;
	char problem[512];
	bool held;               /* this connection holds the session */
};

/*
 * The judge's step, reached once the peer has proven the key: the session
 * is taken (or the peer refused BUSY), and the pool looked at again, now
 * that no other session changes it.
 */
static int claim_and_judge(void *arg, const struct nvmr_hello *hello,
			   bool *full_resync, char *text, size_t textlen)
{
	struct claim *c = arg;
	if (!server_claim(c->s, c->ch, text, textlen))
		return NVMR_REFUSE_BUSY;
	c->held = true;
	look_at_pool(c->s, &c->v, &c->jc, c->problem, sizeof(c->problem));
	replica_new_session(&c->s->replica);
	int code = mirror_judge(&c->jc, hello, full_resync, text, textlen);
	if (code) {
		server_release(c->s, c->ch);
		c->held = false;
	}
	return code;
}

/* The handshake; 0 when the primary may go on (and holds the session). */
static int attach(struct mirror_server *s, struct nvmr_channel *ch)
{
	struct claim *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->s = s;
	c->ch = ch;
	char err[1024];
	struct nvmr_pool_id id;
	look_at_pool(s, &c->v, &c->jc, c->problem, sizeof(c->problem));
	mirror_pool_id(s->pool, &c->v.sb, &id);
	struct nvmr_hello hello;
	struct nvmr_ready ready;
	int rc = nvmr_handshake_mirror(ch, &s->key, &id, c->v.state, true, 0,
				       claim_and_judge, c, &hello, &ready, err,
				       sizeof(err));
	if (rc < 0) {
		if (c->held)
			server_release(s, ch);
		mlog(LOG_WARNING, "%s: not attached: %s", nvmr_peer(ch),
		     nvmr_strip_peer(ch, err));
	} else {
		log_attach(s, ch, &c->v, &hello, &ready);
	}
	free(c);
	return rc;
}

static int send_reply(struct nvmr_channel *ch, const struct replica_reply *r,
		      char *err, size_t errlen)
{
	if (!r->type)
		return 0;
	int rc = nvmr_send(ch, r->type, r->iov, r->iovcnt);
	if (rc < 0)
		snprintf(err, errlen, "%s: cannot answer: %s", nvmr_peer(ch),
			 strerror(-rc));
	return rc;
}

/* Batches one acknowledgement may answer together, at most. */
#define GROUP_BATCHES 64

/*
 * One message.  Batches that arrive back to back share one ACK (the
 * last): while another message is already waiting, a batch is applied
 * and made durable and its ACK left to a later one.  (Not one drain: see
 * replica.c, apply_batch.)  Anything but a batch first sends that ACK.
 */
static int handle(struct mirror_server *s, struct nvmr_channel *ch,
		  uint16_t type, const uint8_t *p, size_t len,
		  struct replica_reply *reply, char *err, size_t errlen)
{
	struct replica *r = &s->replica;
	if (type == NVMR_BATCH) {
		r->defer = r->deferred + 1 < GROUP_BATCHES &&
			   nvmr_more_waiting(ch);
		return replica_handle(r, type, p, len, reply, err, errlen);
	}
	int rc = replica_flush(r, reply, err, errlen);
	if (rc == 0)
		rc = send_reply(ch, reply, err, errlen);
	if (rc == 0)
		rc = replica_handle(r, type, p, len, reply, err, errlen);
	return rc;
}

/*
 * Serves messages until the connection ends; says why it ended in why.
 * An idle primary is waited for without limit (keepalive and the TCP user
 * timeout notice a dead one); a message once begun must be whole within
 * MIRROR_STALL_MS.
 */
static void serve(struct mirror_server *s, struct nvmr_channel *ch, char *why,
		  size_t whylen)
{
	char err[1024];
	for (;;) {
		uint16_t type;
		const uint8_t *p;
		size_t len;
		struct replica_reply reply;
		int rc = nvmr_recv(ch, MIRROR_STALL_MS, &type, &p, &len, err,
				   sizeof(err));
		if (rc == -ETIMEDOUT && !nvmr_recv_started(ch))
			continue;
		if (rc == 0)
			rc = handle(s, ch, type, p, len, &reply, err,
				    sizeof(err));
		if (rc == 0)
			rc = send_reply(ch, &reply, err, sizeof(err));
		if (rc == 0)
			continue;
		/* The batches before the end are whole: durable, acknowledged. */
		if (rc != -EIO) {
			char ferr[256];
			struct replica_reply ack;
			if (replica_flush(&s->replica, &ack, ferr, sizeof(ferr)) == 0)
				send_reply(ch, &ack, ferr, sizeof(ferr));
		}
		const char *what = nvmr_strip_peer(ch, err);
		if (rc == -EPROTO) {
			nvmr_refuse(ch, NVMR_REFUSE_PROTOCOL, what);
			snprintf(why, whylen, "malformed message, connection "
				 "closed, nothing of it written: %s", what);
		} else if (rc == -EIO) {
			nvmr_refuse(ch, NVMR_REFUSE_IO, what);
			snprintf(why, whylen, "the pool failed: %s", err);
		} else {
			snprintf(why, whylen, "%s", what);
		}
		return;
	}
}

void session_run(struct mirror_server *s, struct nvmr_channel *ch)
{
	char peer[NVMR_PEER_MAX], why[1200];
	snprintf(peer, sizeof(peer), "%s", nvmr_peer(ch));
	if (attach(s, ch) == 0) {
		serve(s, ch, why, sizeof(why));
		bool stopping;
		pthread_mutex_lock(&s->mu);
		stopping = s->stopping;
		pthread_mutex_unlock(&s->mu);
		uint64_t n = s->replica.batches;
		mlog(stopping ? LOG_INFO : LOG_WARNING, "%s: detached after %"
		     PRIu64 " %s (%" PRIu64 " bytes): %s", peer, n,
		     n == 1 ? "batch" : "batches", s->replica.bytes,
		     stopping ? "nvmpfs-mirror is stopping" : why);
	}
	server_release(s, ch);
}
