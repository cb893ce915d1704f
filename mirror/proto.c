/*
 * The wire format: what proto.h's structs must be (sizes, no padding),
 * the header check and the BATCH parser.  Messages travel as the structs'
 * bytes, so the layout checks below are what makes two builds agree.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the protocol is little-endian and sends structs as they are");

/*
 * Every wire struct is exactly the sum of its fields (no padding a
 * compiler could fill with garbage or lay out differently) and has the
 * size the protocol implies.
 */
#define F(type, field) sizeof(((struct type *)0)->field)
#define SIZE_IS(type, size, sum)                                         \
	_Static_assert(sizeof(struct type) == (size), #type " size");    \
	_Static_assert(sizeof(struct type) == (sum), #type " has padding")

SIZE_IS(nvmr_header, NVMR_HEADER_SIZE,
	F(nvmr_header, magic) + F(nvmr_header, version) + F(nvmr_header, type) +
	F(nvmr_header, len) + F(nvmr_header, reserved) + F(nvmr_header, seq));
SIZE_IS(nvmr_pool_id, 64,
	F(nvmr_pool_id, uuid) + F(nvmr_pool_id, block_count) +
	F(nvmr_pool_id, pool_size) + F(nvmr_pool_id, epoch) +
	F(nvmr_pool_id, generation) + F(nvmr_pool_id, epoch_tag) +
	F(nvmr_pool_id, repl_token));
SIZE_IS(nvmr_hello, 104,
	F(nvmr_hello, pool) + F(nvmr_hello, flags) + F(nvmr_hello, reserved) +
	F(nvmr_hello, nonce));
SIZE_IS(nvmr_hello_reply, 136,
	F(nvmr_hello_reply, pool) + F(nvmr_hello_reply, state) +
	F(nvmr_hello_reply, flags) + F(nvmr_hello_reply, nonce) +
	F(nvmr_hello_reply, mac));
SIZE_IS(nvmr_auth, NVMR_MAC_SIZE, F(nvmr_auth, mac));
SIZE_IS(nvmr_ready, 16,
	F(nvmr_ready, flags) + F(nvmr_ready, full_resync) +
	F(nvmr_ready, applied));
SIZE_IS(nvmr_refuse, 8, F(nvmr_refuse, code) + F(nvmr_refuse, text_len));
SIZE_IS(nvmr_batch, 16,
	F(nvmr_batch, batch_seq) + F(nvmr_batch, nranges) +
	F(nvmr_batch, reserved));
SIZE_IS(nvmr_range, 16, F(nvmr_range, off) + F(nvmr_range, len));
SIZE_IS(nvmr_ack, 8, F(nvmr_ack, applied));
SIZE_IS(nvmr_sync_state, 8,
	F(nvmr_sync_state, synced) + F(nvmr_sync_state, reserved));
SIZE_IS(nvmr_hash_req, 24,
	F(nvmr_hash_req, id) + F(nvmr_hash_req, first_block) +
	F(nvmr_hash_req, count) + F(nvmr_hash_req, reserved));
SIZE_IS(nvmr_hashes, 24,
	F(nvmr_hashes, id) + F(nvmr_hashes, first_block) +
	F(nvmr_hashes, count) + F(nvmr_hashes, reserved));
SIZE_IS(nvmr_verify, 16,
	F(nvmr_verify, id) + F(nvmr_verify, count) + F(nvmr_verify, reserved));
SIZE_IS(nvmr_block_sum, 16, F(nvmr_block_sum, block) + F(nvmr_block_sum, sum));
SIZE_IS(nvmr_verify_reply, 16,
	F(nvmr_verify_reply, id) + F(nvmr_verify_reply, nbad) +
	F(nvmr_verify_reply, reserved));
SIZE_IS(nvmr_read, 24,
	F(nvmr_read, id) + F(nvmr_read, block) + F(nvmr_read, count) +
	F(nvmr_read, reserved));
SIZE_IS(nvmr_read_reply, 24,
	F(nvmr_read_reply, id) + F(nvmr_read_reply, block) +
	F(nvmr_read_reply, count) + F(nvmr_read_reply, reserved));
/* The range table of a full BATCH fits a message. */
_Static_assert(sizeof(struct nvmr_batch) +
	       NVMR_MAX_RANGES * sizeof(struct nvmr_range) < NVMR_MAX_PAYLOAD,
	       "range table");
_Static_assert(sizeof(struct nvmr_hashes) + NVMR_MAX_HASHES * 8ull <=
	       NVMR_MAX_PAYLOAD, "HASHES of a full HASH_REQ fit a message");
_Static_assert(sizeof(struct nvmr_read_reply) + NVMR_MAX_READ * 4096ull <=
	       NVMR_MAX_PAYLOAD, "READ_REPLY of a full READ fits a message");
#undef SIZE_IS
#undef F

static bool known_type(uint16_t type)
{
	switch (type) {
	case NVMR_HELLO: case NVMR_HELLO_REPLY: case NVMR_AUTH:
	case NVMR_READY: case NVMR_REFUSE: case NVMR_BATCH: case NVMR_ACK:
	case NVMR_HASH_REQ: case NVMR_HASHES: case NVMR_VERIFY:
	case NVMR_VERIFY_REPLY: case NVMR_READ: case NVMR_READ_REPLY:
	case NVMR_PING: case NVMR_PONG: case NVMR_SYNC_STATE:
		return true;
	}
	return false;
}

int nvmr_check_header(const struct nvmr_header *h, uint64_t expected_seq,
		      bool sealed, char *err, size_t errlen)
{
	uint64_t max = NVMR_MAX_PAYLOAD + (sealed ? NVMR_TAG_SIZE : 0);
	if (h->magic != NVMR_MAGIC)
		snprintf(err, errlen, "not an nvmpfs mirror message (magic "
			 "0x%08" PRIx32 ")", h->magic);
	else if (h->version != NVMR_VERSION)
		snprintf(err, errlen, "protocol version %u, this side speaks "
			 "version %u", h->version, NVMR_VERSION);
	else if (!known_type(h->type))
		snprintf(err, errlen, "unknown message type %u", h->type);
	else if (h->len > max)
		snprintf(err, errlen, "message of %" PRIu32 " bytes, more than "
			 "the %" PRIu64 " allowed", h->len, max);
	else if (sealed && h->len < NVMR_TAG_SIZE)
		snprintf(err, errlen, "sealed message of %" PRIu32 " bytes, "
			 "shorter than its %u-byte tag", h->len, NVMR_TAG_SIZE);
	else if (h->reserved != 0)
		snprintf(err, errlen, "reserved header field is 0x%" PRIx32
			 ", not 0", h->reserved);
	else if (h->seq != expected_seq)
		snprintf(err, errlen, "message number %" PRIu64 ", expected %"
			 PRIu64, h->seq, expected_seq);
	else
		return 0;
	return -EPROTO;
}

/* Range i must be non-empty and lie inside the pool (no wrap-around). */
static int check_range(const struct nvmr_range *r, uint32_t i,
		       uint64_t pool_size, char *err, size_t errlen)
{
	if (r->len == 0)
		snprintf(err, errlen, "BATCH range %" PRIu32 " is empty", i);
	else if (r->off >= pool_size || r->len > pool_size - r->off)
		snprintf(err, errlen, "BATCH range %" PRIu32 " (offset %" PRIu64
			 ", %" PRIu64 " bytes) is outside the pool of %" PRIu64
			 " bytes", i, r->off, r->len, pool_size);
	else
		return 0;
	return -EPROTO;
}

static int check_batch_head(const struct nvmr_batch *b, size_t len,
			    uint64_t last_applied, char *err, size_t errlen)
{
	if (b->nranges == 0)
		snprintf(err, errlen, "BATCH %" PRIu64 " has no range",
			 b->batch_seq);
	else if (b->nranges > NVMR_MAX_RANGES)
		snprintf(err, errlen, "BATCH %" PRIu64 " has %" PRIu32
			 " ranges, more than the %u allowed", b->batch_seq,
			 b->nranges, NVMR_MAX_RANGES);
	else if (b->reserved != 0)
		snprintf(err, errlen, "BATCH %" PRIu64 ": reserved field is "
			 "0x%" PRIx32 ", not 0", b->batch_seq, b->reserved);
	else if (b->batch_seq <= last_applied)
		snprintf(err, errlen, "BATCH %" PRIu64 " after batch %" PRIu64
			 ": batch numbers must increase", b->batch_seq,
			 last_applied);
	else if ((len - sizeof(*b)) / sizeof(struct nvmr_range) < b->nranges)
		snprintf(err, errlen, "BATCH %" PRIu64 " of %zu bytes is too "
			 "short for its %" PRIu32 " ranges", b->batch_seq, len,
			 b->nranges);
	else
		return 0;
	return -EPROTO;
}

int nvmr_parse_batch(const uint8_t *payload, size_t len, uint64_t pool_size,
		     uint64_t last_applied, struct nvmr_batch *batch,
		     const struct nvmr_range **ranges, const uint8_t **data,
		     char *err, size_t errlen)
{
	if ((uintptr_t)payload % _Alignof(struct nvmr_range)) {
		/* A caller's bug: the ranges are handed out in place. */
		snprintf(err, errlen, "BATCH payload not aligned in memory");
		return -EINVAL;
	}
	if (len < sizeof(*batch)) {
		snprintf(err, errlen, "BATCH of %zu bytes is shorter than its "
			 "%zu-byte header", len, sizeof(*batch));
		return -EPROTO;
	}
	memcpy(batch, payload, sizeof(*batch));
	if (check_batch_head(batch, len, last_applied, err, errlen) < 0)
		return -EPROTO;
	const struct nvmr_range *r =
		(const struct nvmr_range *)(payload + sizeof(*batch));
	size_t table = (size_t)batch->nranges * sizeof(*r);
	uint64_t bytes = 0, room = len - sizeof(*batch) - table;
	for (uint32_t i = 0; i < batch->nranges; i++) {
		if (check_range(&r[i], i, pool_size, err, errlen) < 0)
			return -EPROTO;
		if (r[i].len > room - bytes) {
			snprintf(err, errlen, "BATCH %" PRIu64 ": its ranges "
				 "add up to more than the %" PRIu64 " bytes "
				 "it carries", batch->batch_seq, room);
			return -EPROTO;
		}
		bytes += r[i].len;
	}
	if (bytes != room) {
		snprintf(err, errlen, "BATCH %" PRIu64 ": its ranges add up to "
			 "%" PRIu64 " bytes, it carries %" PRIu64,
			 batch->batch_seq, bytes, room);
		return -EPROTO;
	}
	*ranges = r;
	*data = payload + sizeof(*batch) + table;
	return 0;
}
