/*
 * A replication channel: message framing over a transport, a sequence
 * number per direction (a lost, repeated or reordered message breaks the
 * sequence and ends the connection), and sealing once the handshake
 * turned it on.
 *
 * Receiving is resumable: a recv whose deadline passes in the middle of a
 * message keeps what has arrived, and the next recv goes on from there,
 * so a short deadline never desynchronizes the stream.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel_internal.h"
#include "parse.h"

#define RX_INITIAL (64u << 10)

struct nvmr_channel {
	struct nvmr_transport *t;
	int handshake_timeout_ms;
	struct nvmr_seal *tx, *rx;     /* NULL while unsealed */
	/* Sending (one thread at a time). */
	uint64_t send_seq;             /* of the last message sent */
	uint8_t *sbuf;                 /* sealed payloads */
	size_t scap;
	struct iovec *siov;            /* header + the caller's iov */
	int siov_cap;
	/* Receiving (one thread at a time), resumable. */
	uint64_t recv_seq;             /* of the last message received */
	struct nvmr_header rh;
	size_t rh_have;                /* header bytes received */
	bool rh_checked;
	size_t r_have;                 /* payload bytes received */
	uint8_t *rbuf;
	size_t rcap;
	bool rx_broken;                /* a bad message came: no more */
};

struct nvmr_channel *nvmr_channel_new(struct nvmr_transport *t,
				      int handshake_timeout_ms)
{
	struct nvmr_channel *ch = calloc(1, sizeof(*ch));
	if (ch)
		ch->rbuf = malloc(RX_INITIAL);
	if (!ch || !ch->rbuf) {
		free(ch);
		t->ops->close(t);
		return NULL;
	}
	ch->rcap = RX_INITIAL;
	ch->t = t;
	ch->handshake_timeout_ms = handshake_timeout_ms > 0
		? handshake_timeout_ms : NVMR_HANDSHAKE_TIMEOUT_MS;
	return ch;
}

int nvmr_channel_handshake_timeout(const struct nvmr_channel *ch)
{
	return ch->handshake_timeout_ms;
}

void nvmr_channel_seal(struct nvmr_channel *ch, struct nvmr_seal *tx,
		       struct nvmr_seal *rx)
{
	ch->tx = tx;
	ch->rx = rx;
}

bool nvmr_channel_sealed(const struct nvmr_channel *ch)
{
	return ch->tx != NULL;
}

bool nvmr_recv_started(const struct nvmr_channel *ch)
{
	return ch->rh_have > 0;
}

const char *nvmr_strip_peer(const struct nvmr_channel *ch, const char *msg)
{
	size_t n = strlen(ch->t->peer);
	if (strncmp(msg, ch->t->peer, n) != 0)
		return msg;
	msg += n;
	if (msg[0] == ':')
		msg++;
	return msg[0] == ' ' ? msg + 1 : msg;
}

struct nvmr_transport *nvmr_channel_transport(struct nvmr_channel *ch)
{
	return ch->t;
}

uint64_t nvmr_channel_send_seq(const struct nvmr_channel *ch)
{
	return ch->send_seq;
}

void nvmr_channel_set_send_seq(struct nvmr_channel *ch, uint64_t seq)
{
	ch->send_seq = seq;
}

const char *nvmr_peer(const struct nvmr_channel *ch)
{
	return ch->t->peer;
}

static int wrap(struct nvmr_transport *t, int rc, struct nvmr_channel **out,
		int handshake_timeout_ms, char *err, size_t errlen)
{
	if (rc < 0)
		return rc;
	*out = nvmr_channel_new(t, handshake_timeout_ms);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int nvmr_connect(const char *host, const char *port, int timeout_ms,
		 int user_timeout_ms, struct nvmr_channel **out, char *err,
		 size_t errlen)
{
	struct nvmr_transport *t = NULL;
	int rc = nvmr_tcp_connect(host, port, timeout_ms, user_timeout_ms, &t,
				  err, errlen);
	return wrap(t, rc, out, timeout_ms, err, errlen);
}

int nvmr_listen(const char *host, const char *port, int *fd, char *err,
		size_t errlen)
{
	return nvmr_tcp_listen(host, port, fd, err, errlen);
}

int nvmr_accept(int listen_fd, int user_timeout_ms,
		struct nvmr_channel **out, char *err, size_t errlen)
{
	struct nvmr_transport *t = NULL;
	int rc = nvmr_tcp_accept(listen_fd, user_timeout_ms, &t, err, errlen);
	return wrap(t, rc, out, 0, err, errlen);
}

void nvmr_shutdown(struct nvmr_channel *ch)
{
	ch->t->ops->shutdown(ch->t);
}

void nvmr_close(struct nvmr_channel *ch)
{
	if (!ch)
		return;
	ch->t->ops->close(ch->t);
	nvmr_seal_free(ch->tx);
	nvmr_seal_free(ch->rx);
	free(ch->sbuf);
	free(ch->siov);
	free(ch->rbuf);
	free(ch);
}

/* ---- sending ---- */

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t cap2 = *cap ? *cap : RX_INITIAL;
	while (cap2 < need)
		cap2 *= 2;
	uint8_t *b = realloc(*buf, cap2);
	if (!b)
		return -ENOMEM;
	*buf = b;
	*cap = cap2;
	return 0;
}

static int send_sealed(struct nvmr_channel *ch, struct nvmr_header *h,
		       const struct iovec *iov, int iovcnt, size_t plain)
{
	if (grow(&ch->sbuf, &ch->scap, plain + NVMR_TAG_SIZE) < 0)
		return -ENOMEM;
	if (nvmr_seal_message(ch->tx, h, iov, iovcnt, plain, ch->sbuf) < 0)
		return -EIO;
	struct iovec out[2] = { { h, sizeof(*h) },
				{ ch->sbuf, plain + NVMR_TAG_SIZE } };
	return ch->t->ops->send(ch->t, out, 2);
}

static int send_plain(struct nvmr_channel *ch, struct nvmr_header *h,
		      const struct iovec *iov, int iovcnt)
{
	if (iovcnt + 1 > ch->siov_cap) {
		struct iovec *v = realloc(ch->siov, (size_t)(iovcnt + 1) *
						    sizeof(*v));
		if (!v)
			return -ENOMEM;
		ch->siov = v;
		ch->siov_cap = iovcnt + 1;
	}
	ch->siov[0] = (struct iovec){ h, sizeof(*h) };
	if (iovcnt)
		memcpy(ch->siov + 1, iov, (size_t)iovcnt * sizeof(*iov));
	return ch->t->ops->send(ch->t, ch->siov, iovcnt + 1);
}

void nvmr_send_more(struct nvmr_channel *ch, bool more)
{
	ch->t->more = more;
}

/* Bytes of a payload, or -EMSGSIZE past the protocol's limit. */
static ssize_t payload_bytes(const struct iovec *iov, int iovcnt)
{
	size_t plain = 0;
	for (int i = 0; i < iovcnt; i++) {
		plain += iov[i].iov_len;
		if (plain > NVMR_MAX_PAYLOAD)
			return -EMSGSIZE;
	}
	return (ssize_t)plain;
}

/* The header of the next message of this direction. */
static struct nvmr_header next_header(struct nvmr_channel *ch, uint16_t type,
				      size_t plain)
{
	return (struct nvmr_header){
		.magic = NVMR_MAGIC,
		.version = NVMR_VERSION,
		.type = type,
		.len = (uint32_t)(plain + (ch->tx ? NVMR_TAG_SIZE : 0)),
		.seq = ++ch->send_seq,
	};
}

int nvmr_send(struct nvmr_channel *ch, uint16_t type, const struct iovec *iov,
	      int iovcnt)
{
	ssize_t plain = payload_bytes(iov, iovcnt);
	if (plain < 0)
		return (int)plain;
	struct nvmr_header h = next_header(ch, type, (size_t)plain);
	if (ch->tx)
		return send_sealed(ch, &h, iov, iovcnt, (size_t)plain);
	return send_plain(ch, &h, iov, iovcnt);
}

/*
 * The gather list of a run: each message's header, then its payload as
 * given (plain) or sealed into ch->sbuf (sealed).  Headers go in hs.
 */
static int gather_run(struct nvmr_channel *ch, const struct nvmr_out *msgs,
		      int n, const size_t *plain, struct nvmr_header *hs,
		      struct iovec *v)
{
	int k = 0;
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		hs[i] = next_header(ch, msgs[i].type, plain[i]);
		v[k++] = (struct iovec){ &hs[i], sizeof(hs[i]) };
		if (!ch->tx) {
			memcpy(v + k, msgs[i].iov,
			       (size_t)msgs[i].iovcnt * sizeof(*v));
			k += msgs[i].iovcnt;
			continue;
		}
		if (nvmr_seal_message(ch->tx, &hs[i], msgs[i].iov,
				      msgs[i].iovcnt, plain[i],
				      ch->sbuf + at) < 0)
			return -EIO;
		v[k++] = (struct iovec){ ch->sbuf + at, plain[i] + NVMR_TAG_SIZE };
		at += plain[i] + NVMR_TAG_SIZE;
	}
	return k;
}

int nvmr_send_many(struct nvmr_channel *ch, const struct nvmr_out *msgs,
		   int n)
{
	if (n <= 0)
		return 0;
	size_t *plain = calloc((size_t)n, sizeof(*plain));
	struct nvmr_header *hs = calloc((size_t)n, sizeof(*hs));
	size_t niov = 0, sealed = 0;
	int rc = plain && hs ? 0 : -ENOMEM;
	for (int i = 0; i < n && rc == 0; i++) {
		ssize_t b = payload_bytes(msgs[i].iov, msgs[i].iovcnt);
		if (b < 0)
			rc = (int)b;
		plain[i] = b < 0 ? 0 : (size_t)b;
		niov += 1 + (ch->tx ? 1 : (size_t)msgs[i].iovcnt);
		sealed += plain[i] + NVMR_TAG_SIZE;
	}
	struct iovec *v = rc == 0 ? calloc(niov, sizeof(*v)) : NULL;
	if (rc == 0 && !v)
		rc = -ENOMEM;
	if (rc == 0 && ch->tx && grow(&ch->sbuf, &ch->scap, sealed) < 0)
		rc = -ENOMEM;
	int k = rc == 0 ? gather_run(ch, msgs, n, plain, hs, v) : rc;
	if (k < 0)
		rc = k;
	else
		rc = ch->t->ops->send(ch->t, v, k);
	free(v);
	free(hs);
	free(plain);
	return rc;
}

void nvmr_refuse(struct nvmr_channel *ch, uint32_t code, const char *text)
{
	size_t n = strlen(text);
	if (n >= NVMR_MAX_REFUSE_TEXT)
		n = NVMR_MAX_REFUSE_TEXT - 1;
	struct nvmr_refuse r = { .code = code, .text_len = (uint32_t)n };
	struct iovec iov[2] = { { &r, sizeof(r) }, { (void *)text, n } };
	(void)nvmr_send(ch, NVMR_REFUSE, iov, 2);
}

/* ---- receiving ---- */

static int transport_error(struct nvmr_channel *ch, ssize_t rc,
			   int timeout_ms, char *err, size_t errlen)
{
	const char *peer = ch->t->peer;
	const char *where = ch->rh_have ? " in the middle of a message" : "";
	switch (rc) {
	case -ETIMEDOUT:
		snprintf(err, errlen, "%s: no message%s within %d ms", peer,
			 ch->rh_have ? " completed" : "", timeout_ms);
		break;
	case -ECONNRESET:
		snprintf(err, errlen, "%s closed the connection%s", peer, where);
		break;
	case -EHOSTDOWN:
		snprintf(err, errlen, "%s stopped answering (the connection "
			 "timed out)%s", peer, where);
		break;
	default:
		snprintf(err, errlen, "%s: %s%s", peer, strerror((int)-rc),
			 where);
	}
	return (int)rc;
}

static int fill(struct nvmr_channel *ch, uint8_t *buf, size_t want,
		size_t *have, uint64_t deadline, int timeout_ms, char *err,
		size_t errlen)
{
	while (*have < want) {
		ssize_t n = ch->t->ops->recv(ch->t, buf + *have, want - *have,
					     deadline);
		if (n < 0)
			return transport_error(ch, n, timeout_ms, err, errlen);
		*have += (size_t)n;
	}
	return 0;
}

static int broken(struct nvmr_channel *ch, char *err, size_t errlen,
		  const char *what)
{
	char why[256];
	snprintf(why, sizeof(why), "%s", err);
	snprintf(err, errlen, "%s: %s%s", ch->t->peer, what, why);
	ch->rx_broken = true;
	return -EPROTO;
}

static int check_header(struct nvmr_channel *ch, char *err, size_t errlen)
{
	if (nvmr_check_header(&ch->rh, ch->recv_seq + 1, ch->rx != NULL, err,
			      errlen) < 0)
		return broken(ch, err, errlen, "bad message: ");
	if (grow(&ch->rbuf, &ch->rcap, ch->rh.len) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ch->rh_checked = true;
	return 0;
}

int nvmr_recv(struct nvmr_channel *ch, int timeout_ms, uint16_t *type,
	      const uint8_t **payload, size_t *len, char *err, size_t errlen)
{
	if (ch->rx_broken) {
		snprintf(err, errlen, "%s: the connection already failed",
			 ch->t->peer);
		return -EPROTO;
	}
	uint64_t deadline = nvmr_deadline_ns(timeout_ms);
	int rc = fill(ch, (uint8_t *)&ch->rh, sizeof(ch->rh), &ch->rh_have,
		      deadline, timeout_ms, err, errlen);
	if (rc == 0 && !ch->rh_checked)
		rc = check_header(ch, err, errlen);
	if (rc == 0)
		rc = fill(ch, ch->rbuf, ch->rh.len, &ch->r_have, deadline,
			  timeout_ms, err, errlen);
	if (rc < 0)
		return rc;
	/* A whole message: the next recv starts afresh. */
	ch->rh_have = ch->r_have = 0;
	ch->rh_checked = false;
	ch->recv_seq++;
	size_t n = ch->rh.len;
	if (ch->rx) {
		rc = nvmr_open_message(ch->rx, &ch->rh, ch->rbuf);
		if (rc < 0) {
			snprintf(err, errlen, "message %llu failed its seal "
				 "check (tampered with, or sealed with another "
				 "key)", (unsigned long long)ch->rh.seq);
			return broken(ch, err, errlen, "");
		}
		n -= NVMR_TAG_SIZE;
	}
	*type = ch->rh.type;
	*payload = ch->rbuf;
	*len = n;
	return 0;
}

bool nvmr_more_waiting(struct nvmr_channel *ch)
{
	return ch->t->ops->readable && ch->t->ops->readable(ch->t);
}
