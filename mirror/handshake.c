/*
 * The handshake (proto.h): each side proves it holds the shared key with
 * an HMAC-SHA256 over both sides' fresh nonces, so neither a replayed
 * exchange nor a peer without the key gets through.  The mirror judges
 * the primary's pool only after the primary has proved the key: an
 * unauthenticated peer learns no more than the mirror's HELLO_REPLY.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "channel_internal.h"
#include "parse.h"

#define LABEL_MIRROR "nvmpfs-mirror"
#define LABEL_PRIMARY "nvmpfs-primary"

/* ---- the pieces ---- */

static int fresh_nonce(uint8_t nonce[NVMR_NONCE_SIZE], char *err,
		       size_t errlen)
{
	size_t got = 0;
	while (got < NVMR_NONCE_SIZE) {
		ssize_t n = getrandom(nonce + got, NVMR_NONCE_SIZE - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "getrandom: %s", strerror(errno));
			return -EIO;
		}
		got += (size_t)n;
	}
	return 0;
}

/* HMAC-SHA256(key, label | a | b). */
static int mac_of(const struct nvmr_key *key, const char *label,
		  const void *a, size_t alen, const void *b, size_t blen,
		  uint8_t mac[NVMR_MAC_SIZE])
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
	EVP_MAC_free(m);
	if (!ctx)
		return -EIO;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outl = 0;
	int ok = EVP_MAC_init(ctx, key->bytes, key->len, params) == 1 &&
		 EVP_MAC_update(ctx, (const uint8_t *)label, strlen(label)) == 1 &&
		 EVP_MAC_update(ctx, a, alen) == 1 &&
		 EVP_MAC_update(ctx, b, blen) == 1 &&
		 EVP_MAC_final(ctx, mac, &outl, NVMR_MAC_SIZE) == 1 &&
		 outl == NVMR_MAC_SIZE;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* Checks a received MAC in constant time. */
static bool mac_matches(const uint8_t *got, const uint8_t *want)
{
	return CRYPTO_memcmp(got, want, NVMR_MAC_SIZE) == 0;
}

static int errno_of_refusal(uint32_t code)
{
	switch (code) {
	case NVMR_REFUSE_AUTH: return -EACCES;
	case NVMR_REFUSE_POOL: return -EINVAL;
	case NVMR_REFUSE_SPLIT_BRAIN: return -ESTALE;
	case NVMR_REFUSE_BUSY: return -EBUSY;
	case NVMR_REFUSE_IO: return -EIO;
	}
	return -EPROTO;
}

static int send_struct(struct nvmr_channel *ch, uint16_t type, const void *p,
		       size_t len, char *err, size_t errlen)
{
	struct iovec iov = { (void *)p, len };
	int rc = nvmr_send(ch, type, &iov, 1);
	if (rc < 0)
		snprintf(err, errlen, "%s: cannot send: %s", nvmr_peer(ch),
			 strerror(-rc));
	return rc;
}

/* Refuses with code and text, and puts the text in err too. */
static int refuse(struct nvmr_channel *ch, uint32_t code, const char *text,
		  char *err, size_t errlen)
{
	nvmr_refuse(ch, code, text);
	snprintf(err, errlen, "%s: %s", nvmr_peer(ch), text);
	return errno_of_refusal(code);
}

/*
 * Receives the next handshake message, which must be of type want; a
 * REFUSE is the peer's (who's) verdict, returned as its errno with its
 * text.
 */
static int recv_step(struct nvmr_channel *ch, const char *who, uint16_t want,
		     const uint8_t **p, size_t *len, char *err, size_t errlen)
{
	uint16_t type;
	int rc = nvmr_recv(ch, nvmr_channel_handshake_timeout(ch), &type, p,
			   len, err, errlen);
	if (rc == -EPROTO)
		nvmr_refuse(ch, NVMR_REFUSE_PROTOCOL, nvmr_strip_peer(ch, err));
	if (rc < 0)
		return rc;
	if (type == NVMR_REFUSE) {
		char text[NVMR_MAX_REFUSE_TEXT], why[256];
		uint32_t code;
		if (nvmr_parse_refuse(*p, *len, &code, text, sizeof(text), why,
				      sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: %s", nvmr_peer(ch), why);
			return -EPROTO;
		}
		snprintf(err, errlen, "%s: %s refused: %s", nvmr_peer(ch), who,
			 text);
		return errno_of_refusal(code);
	}
	if (type != want) {
		char a[16], b[16], text[128];
		snprintf(text, sizeof(text), "expected %s, got %s",
			 nvmr_type_name(want, a, sizeof(a)),
			 nvmr_type_name(type, b, sizeof(b)));
		return refuse(ch, NVMR_REFUSE_PROTOCOL, text, err, errlen);
	}
	return 0;
}

static int start_sealing(struct nvmr_channel *ch, const struct nvmr_key *key,
			 const uint8_t *nonce_p, const uint8_t *nonce_m,
			 bool primary, char *err, size_t errlen)
{
	struct nvmr_seal *p2m, *m2p;
	if (nvmr_seal_new(&p2m, key, nonce_p, nonce_m, NVMR_SEAL_INFO_P2M,
			  primary, err, errlen) < 0)
		return -EIO;
	if (nvmr_seal_new(&m2p, key, nonce_p, nonce_m, NVMR_SEAL_INFO_M2P,
			  !primary, err, errlen) < 0) {
		nvmr_seal_free(p2m);
		return -EIO;
	}
	if (primary)
		nvmr_channel_seal(ch, p2m, m2p);
	else
		nvmr_channel_seal(ch, m2p, p2m);
	return 0;
}

/* ---- the primary ---- */

static int check_reply(struct nvmr_channel *ch, const struct nvmr_key *key,
		       const struct nvmr_hello *hello,
		       const struct nvmr_hello_reply *reply, char *err,
		       size_t errlen)
{
	uint8_t want[NVMR_MAC_SIZE];
	if (mac_of(key, LABEL_MIRROR, hello, sizeof(*hello), reply,
		   offsetof(struct nvmr_hello_reply, mac), want) < 0) {
		snprintf(err, errlen, "HMAC-SHA256 unavailable in libcrypto");
		return -EIO;
	}
	if (!mac_matches(reply->mac, want))
		return refuse(ch, NVMR_REFUSE_AUTH, "wrong key: the mirror's "
			      "proof of the shared key does not match the "
			      "primary's key file", err, errlen);
	if (reply->flags & ~hello->flags)
		return refuse(ch, NVMR_REFUSE_PROTOCOL, "HELLO_REPLY grants "
			      "flags that were not asked for", err, errlen);
	return 0;
}

static int send_auth(struct nvmr_channel *ch, const struct nvmr_key *key,
		     const struct nvmr_hello *hello,
		     const struct nvmr_hello_reply *reply, char *err,
		     size_t errlen)
{
	struct nvmr_auth auth;
	if (mac_of(key, LABEL_PRIMARY, hello, sizeof(*hello), reply,
		   sizeof(*reply), auth.mac) < 0) {
		snprintf(err, errlen, "HMAC-SHA256 unavailable in libcrypto");
		return -EIO;
	}
	return send_struct(ch, NVMR_AUTH, &auth, sizeof(auth), err, errlen);
}

int nvmr_handshake_primary(struct nvmr_channel *ch, const struct nvmr_key *key,
			   const struct nvmr_pool_id *pool, bool seal,
			   struct nvmr_hello_reply *reply,
			   struct nvmr_ready *ready, char *err, size_t errlen)
{
	struct nvmr_hello hello = { .pool = *pool,
				    .flags = seal ? NVMR_F_SEAL : 0 };
	const uint8_t *p;
	size_t len;
	char why[256];
	int rc = fresh_nonce(hello.nonce, err, errlen);
	if (rc == 0)
		rc = send_struct(ch, NVMR_HELLO, &hello, sizeof(hello), err,
				 errlen);
	if (rc == 0)
		rc = recv_step(ch, "the mirror", NVMR_HELLO_REPLY, &p, &len,
			       err, errlen);
	if (rc < 0)
		return rc;
	if (nvmr_parse_hello_reply(p, len, reply, why, sizeof(why)) < 0)
		return refuse(ch, NVMR_REFUSE_PROTOCOL, why, err, errlen);
	rc = check_reply(ch, key, &hello, reply, err, errlen);
	if (rc == 0)
		rc = send_auth(ch, key, &hello, reply, err, errlen);
	if (rc == 0)
		rc = recv_step(ch, "the mirror", NVMR_READY, &p, &len, err,
			       errlen);
	if (rc < 0)
		return rc;
	if (nvmr_parse_ready(p, len, ready, why, sizeof(why)) < 0)
		return refuse(ch, NVMR_REFUSE_PROTOCOL, why, err, errlen);
	if (ready->flags != reply->flags)
		return refuse(ch, NVMR_REFUSE_PROTOCOL, "READY's flags differ "
			      "from HELLO_REPLY's", err, errlen);
	if (ready->flags & NVMR_F_SEAL)
		return start_sealing(ch, key, hello.nonce, reply->nonce, true,
				     err, errlen);
	return 0;
}

/* ---- the mirror ---- */

static int send_reply(struct nvmr_channel *ch, const struct nvmr_key *key,
		      const struct nvmr_hello *hello,
		      struct nvmr_hello_reply *reply, char *err, size_t errlen)
{
	int rc = fresh_nonce(reply->nonce, err, errlen);
	if (rc < 0)
		return rc;
	if (mac_of(key, LABEL_MIRROR, hello, sizeof(*hello), reply,
		   offsetof(struct nvmr_hello_reply, mac), reply->mac) < 0) {
		snprintf(err, errlen, "HMAC-SHA256 unavailable in libcrypto");
		return -EIO;
	}
	return send_struct(ch, NVMR_HELLO_REPLY, reply, sizeof(*reply), err,
			   errlen);
}

static int check_auth(struct nvmr_channel *ch, const struct nvmr_key *key,
		      const struct nvmr_hello *hello,
		      const struct nvmr_hello_reply *reply, char *err,
		      size_t errlen)
{
	const uint8_t *p;
	size_t len;
	char why[256];
	struct nvmr_auth auth;
	uint8_t want[NVMR_MAC_SIZE];
	int rc = recv_step(ch, "the primary", NVMR_AUTH, &p, &len, err,
			   errlen);
	if (rc < 0)
		return rc;
	if (nvmr_parse_auth(p, len, &auth, why, sizeof(why)) < 0)
		return refuse(ch, NVMR_REFUSE_PROTOCOL, why, err, errlen);
	if (mac_of(key, LABEL_PRIMARY, hello, sizeof(*hello), reply,
		   sizeof(*reply), want) < 0) {
		snprintf(err, errlen, "HMAC-SHA256 unavailable in libcrypto");
		return -EIO;
	}
	if (!mac_matches(auth.mac, want))
		return refuse(ch, NVMR_REFUSE_AUTH, "wrong key: the primary's "
			      "proof of the shared key does not match the "
			      "mirror's key file", err, errlen);
	return 0;
}

int nvmr_handshake_mirror(struct nvmr_channel *ch, const struct nvmr_key *key,
			  const struct nvmr_pool_id *pool,
			  enum nvmr_pool_state state, bool allow_seal,
			  uint64_t applied, nvmr_judge_fn judge, void *arg,
			  struct nvmr_hello *hello, struct nvmr_ready *ready,
			  char *err, size_t errlen)
{
	const uint8_t *p;
	size_t len;
	char why[NVMR_MAX_REFUSE_TEXT];
	int rc = recv_step(ch, "the primary", NVMR_HELLO, &p, &len, err,
			   errlen);
	if (rc < 0)
		return rc;
	if (nvmr_parse_hello(p, len, hello, why, sizeof(why)) < 0)
		return refuse(ch, NVMR_REFUSE_PROTOCOL, why, err, errlen);
	struct nvmr_hello_reply reply = {
		.pool = *pool,
		.state = state,
		.flags = allow_seal ? hello->flags & NVMR_F_SEAL : 0,
	};
	rc = send_reply(ch, key, hello, &reply, err, errlen);
	if (rc == 0)
		rc = check_auth(ch, key, hello, &reply, err, errlen);
	if (rc < 0)
		return rc;
	bool full_resync = false;
	why[0] = '\0';
	int code = judge(arg, hello, &full_resync, why, sizeof(why));
	if (code != 0)
		return refuse(ch, (uint32_t)code, why, err, errlen);
	*ready = (struct nvmr_ready){ .flags = reply.flags,
				      .full_resync = full_resync,
				      .applied = applied };
	rc = send_struct(ch, NVMR_READY, ready, sizeof(*ready), err, errlen);
	if (rc == 0 && (ready->flags & NVMR_F_SEAL))
		rc = start_sealing(ch, key, hello->nonce, reply.nonce, false,
				   err, errlen);
	return rc;
}
