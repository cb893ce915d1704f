/* Payload checks of every message but BATCH (see parse.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

#define BLOCK_SIZE 4096u

static int fail(char *err, size_t errlen, const char *what, const char *why)
{
	snprintf(err, errlen, "%s: %s", what, why);
	return -EPROTO;
}

/* A fixed-size message: exactly its struct. */
static int exact(const uint8_t *p, size_t len, void *out, size_t size,
		 const char *what, char *err, size_t errlen)
{
	if (len != size) {
		snprintf(err, errlen, "%s of %zu bytes, expected %zu", what, len,
			 size);
		return -EPROTO;
	}
	memcpy(out, p, size);
	return 0;
}

/* A struct then count items of item_size: at least the struct. */
static int with_array(const uint8_t *p, size_t len, void *out, size_t size,
		      const char *what, char *err, size_t errlen)
{
	if ((uintptr_t)p % 8) {
		snprintf(err, errlen, "%s payload not aligned in memory", what);
		return -EINVAL;
	}
	if (len < size) {
		snprintf(err, errlen, "%s of %zu bytes is shorter than its "
			 "%zu-byte header", what, len, size);
		return -EPROTO;
	}
	memcpy(out, p, size);
	return 0;
}

static int array_len(size_t len, size_t head, uint64_t count, size_t item,
		     const char *what, char *err, size_t errlen)
{
	if ((len - head) / item != count || (len - head) % item) {
		snprintf(err, errlen, "%s of %zu bytes does not hold its %"
			 PRIu64 " items of %zu bytes", what, len, count, item);
		return -EPROTO;
	}
	return 0;
}

static int pool_id_ok(const struct nvmr_pool_id *id, const char *what,
		      char *err, size_t errlen)
{
	if (id->block_count == 0 || id->pool_size / BLOCK_SIZE < id->block_count) {
		snprintf(err, errlen, "%s: a pool of %" PRIu64 " bytes cannot "
			 "hold %" PRIu64 " blocks", what, id->pool_size,
			 id->block_count);
		return -EPROTO;
	}
	return 0;
}

int nvmr_parse_hello(const uint8_t *p, size_t len, struct nvmr_hello *out,
		     char *err, size_t errlen)
{
	if (exact(p, len, out, sizeof(*out), "HELLO", err, errlen) < 0)
		return -EPROTO;
	if (out->flags & ~NVMR_F_SEAL)
		return fail(err, errlen, "HELLO", "unknown flags");
	if (out->reserved)
		return fail(err, errlen, "HELLO", "reserved field not 0");
	return pool_id_ok(&out->pool, "HELLO", err, errlen);
}

int nvmr_parse_hello_reply(const uint8_t *p, size_t len,
			   struct nvmr_hello_reply *out, char *err,
			   size_t errlen)
{
	if (exact(p, len, out, sizeof(*out), "HELLO_REPLY", err, errlen) < 0)
		return -EPROTO;
	if (out->state < NVMR_POOL_REPLICA || out->state > NVMR_POOL_DEMOTED)
		return fail(err, errlen, "HELLO_REPLY", "unknown pool state");
	if (out->flags & ~NVMR_F_SEAL)
		return fail(err, errlen, "HELLO_REPLY", "unknown flags");
	return pool_id_ok(&out->pool, "HELLO_REPLY", err, errlen);
}

int nvmr_parse_auth(const uint8_t *p, size_t len, struct nvmr_auth *out,
		    char *err, size_t errlen)
{
	return exact(p, len, out, sizeof(*out), "AUTH", err, errlen);
}

int nvmr_parse_ready(const uint8_t *p, size_t len, struct nvmr_ready *out,
		     char *err, size_t errlen)
{
	if (exact(p, len, out, sizeof(*out), "READY", err, errlen) < 0)
		return -EPROTO;
	if (out->flags & ~NVMR_F_SEAL)
		return fail(err, errlen, "READY", "unknown flags");
	if (out->full_resync > 1)
		return fail(err, errlen, "READY", "full_resync is not 0 or 1");
	return 0;
}

int nvmr_parse_refuse(const uint8_t *p, size_t len, uint32_t *code,
		      char *text, size_t textlen, char *err, size_t errlen)
{
	struct nvmr_refuse r;
	if (len < sizeof(r))
		return fail(err, errlen, "REFUSE", "shorter than its header");
	memcpy(&r, p, sizeof(r));
	if (r.text_len >= NVMR_MAX_REFUSE_TEXT)
		return fail(err, errlen, "REFUSE", "text too long");
	if (len != sizeof(r) + r.text_len)
		return fail(err, errlen, "REFUSE", "length does not match its "
			    "text");
	*code = r.code;
	size_t n = 0;
	for (uint32_t i = 0; i < r.text_len && n + 1 < textlen; i++) {
		uint8_t c = p[sizeof(r) + i];
		text[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (textlen)
		text[n] = '\0';
	return 0;
}

/* first + count blocks, count in 1..max, inside the pool. */
static int block_span(uint64_t first, uint64_t count, uint32_t max,
		      uint64_t block_count, const char *what, char *err,
		      size_t errlen)
{
	if (count == 0 || count > max)
		snprintf(err, errlen, "%s of %" PRIu64 " blocks (1 to %" PRIu32
			 " allowed)", what, count, max);
	else if (first >= block_count || count > block_count - first)
		snprintf(err, errlen, "%s of blocks %" PRIu64 "..+%" PRIu64
			 " is outside the pool of %" PRIu64 " blocks", what,
			 first, count, block_count);
	else
		return 0;
	return -EPROTO;
}

int nvmr_parse_hash_req(const uint8_t *p, size_t len, uint64_t block_count,
			struct nvmr_hash_req *out, char *err, size_t errlen)
{
	if (exact(p, len, out, sizeof(*out), "HASH_REQ", err, errlen) < 0)
		return -EPROTO;
	if (out->reserved)
		return fail(err, errlen, "HASH_REQ", "reserved field not 0");
	return block_span(out->first_block, out->count, NVMR_MAX_HASHES,
			  block_count, "HASH_REQ", err, errlen);
}

int nvmr_parse_verify(const uint8_t *p, size_t len, uint64_t block_count,
		      struct nvmr_verify *out,
		      const struct nvmr_block_sum **sums, char *err,
		      size_t errlen)
{
	int rc = with_array(p, len, out, sizeof(*out), "VERIFY", err, errlen);
	if (rc < 0)
		return rc;
	if (out->reserved)
		return fail(err, errlen, "VERIFY", "reserved field not 0");
	if (out->count == 0 || out->count > NVMR_MAX_VERIFY) {
		snprintf(err, errlen, "VERIFY of %" PRIu32 " blocks (1 to %u "
			 "allowed)", out->count, NVMR_MAX_VERIFY);
		return -EPROTO;
	}
	if (array_len(len, sizeof(*out), out->count,
		      sizeof(struct nvmr_block_sum), "VERIFY", err, errlen) < 0)
		return -EPROTO;
	const struct nvmr_block_sum *s = (const void *)(p + sizeof(*out));
	for (uint32_t i = 0; i < out->count; i++) {
		if (s[i].block >= block_count) {
			snprintf(err, errlen, "VERIFY entry %" PRIu32 ": block %"
				 PRIu64 " is outside the pool of %" PRIu64
				 " blocks", i, s[i].block, block_count);
			return -EPROTO;
		}
		if (s[i].sum == 0) {
			snprintf(err, errlen, "VERIFY entry %" PRIu32 ": block %"
				 PRIu64 " has checksum 0 (none)", i, s[i].block);
			return -EPROTO;
		}
	}
	*sums = s;
	return 0;
}

int nvmr_parse_read(const uint8_t *p, size_t len, uint64_t block_count,
		    struct nvmr_read *out, char *err, size_t errlen)
{
	if (exact(p, len, out, sizeof(*out), "READ", err, errlen) < 0)
		return -EPROTO;
	if (out->reserved)
		return fail(err, errlen, "READ", "reserved field not 0");
	return block_span(out->block, out->count, NVMR_MAX_READ, block_count,
			  "READ", err, errlen);
}

int nvmr_parse_ping(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	(void)p;
	if (len > NVMR_MAX_PING) {
		snprintf(err, errlen, "PING of %zu bytes, at most %u allowed", len,
			 NVMR_MAX_PING);
		return -EPROTO;
	}
	return 0;
}

int nvmr_parse_ack(const uint8_t *p, size_t len, struct nvmr_ack *out,
		   char *err, size_t errlen)
{
	return exact(p, len, out, sizeof(*out), "ACK", err, errlen);
}

int nvmr_parse_hashes(const uint8_t *p, size_t len, struct nvmr_hashes *out,
		      const uint64_t **sums, char *err, size_t errlen)
{
	int rc = with_array(p, len, out, sizeof(*out), "HASHES", err, errlen);
	if (rc < 0)
		return rc;
	if (out->reserved)
		return fail(err, errlen, "HASHES", "reserved field not 0");
	if (out->count == 0 || out->count > NVMR_MAX_HASHES)
		return fail(err, errlen, "HASHES", "count out of range");
	if (array_len(len, sizeof(*out), out->count, 8, "HASHES", err,
		      errlen) < 0)
		return -EPROTO;
	const uint64_t *s = (const void *)(p + sizeof(*out));
	for (uint32_t i = 0; i < out->count; i++)
		if (s[i] == 0)
			return fail(err, errlen, "HASHES", "a hash is 0");
	*sums = s;
	return 0;
}

int nvmr_parse_verify_reply(const uint8_t *p, size_t len,
			    struct nvmr_verify_reply *out,
			    const uint64_t **bad, char *err, size_t errlen)
{
	int rc = with_array(p, len, out, sizeof(*out), "VERIFY_REPLY", err,
			    errlen);
	if (rc < 0)
		return rc;
	if (out->reserved)
		return fail(err, errlen, "VERIFY_REPLY", "reserved field not 0");
	if (out->nbad > NVMR_MAX_VERIFY)
		return fail(err, errlen, "VERIFY_REPLY", "nbad out of range");
	if (array_len(len, sizeof(*out), out->nbad, 8, "VERIFY_REPLY", err,
		      errlen) < 0)
		return -EPROTO;
	*bad = (const void *)(p + sizeof(*out));
	return 0;
}

int nvmr_parse_read_reply(const uint8_t *p, size_t len,
			  struct nvmr_read_reply *out, const uint8_t **blocks,
			  char *err, size_t errlen)
{
	int rc = with_array(p, len, out, sizeof(*out), "READ_REPLY", err,
			    errlen);
	if (rc < 0)
		return rc;
	if (out->reserved)
		return fail(err, errlen, "READ_REPLY", "reserved field not 0");
	if (out->count == 0 || out->count > NVMR_MAX_READ)
		return fail(err, errlen, "READ_REPLY", "count out of range");
	if (array_len(len, sizeof(*out), out->count, BLOCK_SIZE, "READ_REPLY",
		      err, errlen) < 0)
		return -EPROTO;
	*blocks = p + sizeof(*out);
	return 0;
}

const char *nvmr_type_name(uint16_t type, char *buf, size_t buflen)
{
	static const char *const names[] = {
		[NVMR_HELLO] = "HELLO", [NVMR_HELLO_REPLY] = "HELLO_REPLY",
		[NVMR_AUTH] = "AUTH", [NVMR_READY] = "READY",
		[NVMR_REFUSE] = "REFUSE", [NVMR_BATCH] = "BATCH",
		[NVMR_ACK] = "ACK", [NVMR_HASH_REQ] = "HASH_REQ",
		[NVMR_HASHES] = "HASHES", [NVMR_VERIFY] = "VERIFY",
		[NVMR_VERIFY_REPLY] = "VERIFY_REPLY", [NVMR_READ] = "READ",
		[NVMR_READ_REPLY] = "READ_REPLY", [NVMR_PING] = "PING",
		[NVMR_PONG] = "PONG", [NVMR_SYNC_STATE] = "SYNC_STATE",
	};
	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	snprintf(buf, buflen, "type %u", type);
	return buf;
}

int nvmr_parse_sync_state(const uint8_t *p, size_t len,
			  struct nvmr_sync_state *out, char *err, size_t errlen)
{
	if (exact(p, len, out, sizeof(*out), "SYNC_STATE", err, errlen) < 0)
		return -EPROTO;
	if (out->synced > 1)
		return fail(err, errlen, "SYNC_STATE", "synced is neither 0 nor 1");
	if (out->reserved)
		return fail(err, errlen, "SYNC_STATE", "reserved field not 0");
	return 0;
}
