/*
 * One primary's session: the handshake (with the pool's identity and
 * state as they are now), then messages until the primary goes away.  A
 * malformed message ends the session with nothing of it written: the
 * primary is told why (REFUSE) and the log names it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
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

/* The handshake; 0 when the primary may go on. */
static int attach(struct mirror_server *s, struct nvmr_channel *ch)
{
	struct mirror_pool_view v;
	struct nvmr_pool_id id;
	char problem[512], err[1024];
	struct mirror_judge_ctx jc = { .pool = s->pool, .view = &v };
	if (mirror_pool_view(s->pool, &v, problem, sizeof(problem)) < 0) {
		/* Say who we are as far as we know; the judge refuses. */
		v.state = NVMR_POOL_REPLICA;
		v.sb.block_count = s->pool->size / NVMPFS_BLOCK_SIZE;
		jc.unusable = problem;
	} else if (s->replica.pool_error) {
		snprintf(problem, sizeof(problem), "%s: a drain failed (%s); "
			 "restart nvmpfs-mirror once its storage is sound",
			 s->pool->path, strerror(-s->replica.pool_error));
		jc.unusable = problem;
	}
	mirror_pool_id(s->pool, &v.sb, &id);
	struct nvmr_hello hello;
	struct nvmr_ready ready;
	replica_new_session(&s->replica);
	int rc = nvmr_handshake_mirror(ch, &s->key, &id, v.state, true,
				       s->replica.applied, mirror_judge, &jc,
				       &hello, &ready, err, sizeof(err));
	if (rc < 0) {
		mlog(LOG_WARNING, "%s: not attached: %s", nvmr_peer(ch),
		     nvmr_strip_peer(ch, err));
		return rc;
	}
	log_attach(s, ch, &v, &hello, &ready);
	return 0;
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

/* Batches one drain may make durable together, at most. */
#define GROUP_BATCHES 64

/*
 * One message.  Batches that arrive back to back share one drain and one
 * ACK (the last): while another message is already waiting, a batch is
 * written and its drain left to a later one -- on a disk pool every drain
 * is an fdatasync.  Anything but a batch first makes them durable.
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
	pthread_mutex_lock(&s->mu);
	s->active = NULL;
	pthread_mutex_unlock(&s->mu);
	nvmr_close(ch);
}
