/* The mirror's handling of its primary's messages (see replica.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csum.h"
#include "parse.h"
#include "replica.h"

void replica_init(struct replica *r, struct pool *pool)
{
	memset(r, 0, sizeof(*r));
	r->pool = pool;
	r->block_count = pool->size / NVMPFS_BLOCK_SIZE;
}

void replica_free(struct replica *r)
{
	free(r->out);
	r->out = NULL;
	r->out_cap = 0;
}

void replica_new_session(struct replica *r)
{
	r->applied = r->received = 0;
	r->deferred = 0;
	r->defer = false;
	r->batches = r->bytes = 0;
}

static void *out_buffer(struct replica *r, size_t need)
{
	if (need > r->out_cap) {
		void *p = realloc(r->out, need);
		if (!p)
			return NULL;
		r->out = p;
		r->out_cap = need;
	}
	return r->out;
}

static void reply_with(struct replica_reply *reply, uint16_t type,
		       const void *a, size_t alen, const void *b, size_t blen)
{
	reply->type = type;
	reply->iov[0] = (struct iovec){ (void *)a, alen };
	reply->iov[1] = (struct iovec){ (void *)b, blen };
	reply->iovcnt = blen ? 2 : 1;
}

/*
 * A batch is applied in order and made durable before the next one is
 * written and before it is acknowledged.  pool_copy writes every aligned
 * 8-byte word with one store, so a mirror killed in the middle of a batch
 * leaves what a power failure in the middle of the primary's drain could
 * have left.  Batches are never made durable together: the primary
 * drained each before it made the next, and a power failure of the mirror
 * must not keep a later batch's stores and lose an earlier one's (a block
 * reused after a free reaching the media before the free, say).  Only
 * the acknowledgement is shared.
 */
static int apply_batch(struct replica *r, const uint8_t *p, size_t len,
		       struct replica_reply *reply, char *err, size_t errlen)
{
	struct nvmr_batch b;
	const struct nvmr_range *ranges;
	const uint8_t *data;
	int rc = nvmr_parse_batch(p, len, r->pool->size, r->received, &b,
				  &ranges, &data, err, errlen);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < b.nranges; i++) {
		pool_copy(r->pool, ranges[i].off, data, ranges[i].len);
		data += ranges[i].len;
		r->bytes += ranges[i].len;
	}
	r->received = b.batch_seq;
	r->batches++;
	rc = pool_drain(r->pool);
	if (rc < 0) {
		r->pool_error = rc;
		snprintf(err, errlen, "%s: cannot make batch %llu durable: %s",
			 r->pool->path, (unsigned long long)r->received,
			 strerror(-rc));
		return -EIO;
	}
	r->applied = r->received;
	r->deferred++;
	if (r->defer)
		return 0;
	return replica_flush(r, reply, err, errlen);
}

int replica_flush(struct replica *r, struct replica_reply *reply, char *err,
		  size_t errlen)
{
	reply->type = 0;
	reply->iovcnt = 0;
	if (!r->deferred)
		return 0;
	struct nvmr_ack *ack = out_buffer(r, sizeof(*ack));
	if (!ack) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->deferred = 0;
	ack->applied = r->applied;
	reply_with(reply, NVMR_ACK, ack, sizeof(*ack), NULL, 0);
	return 0;
}

static int hash_blocks(struct replica *r, const uint8_t *p, size_t len,
		       struct replica_reply *reply, char *err, size_t errlen)
{
	struct nvmr_hash_req q;
	int rc = nvmr_parse_hash_req(p, len, r->block_count, &q, err, errlen);
	if (rc < 0)
		return rc;
	size_t size = sizeof(struct nvmr_hashes) + (size_t)q.count * 8;
	struct nvmr_hashes *h = out_buffer(r, size);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*h = (struct nvmr_hashes){ .id = q.id, .first_block = q.first_block,
				   .count = q.count };
	uint64_t *sums = (uint64_t *)(h + 1);
	for (uint32_t i = 0; i < q.count; i++)
		sums[i] = csum_of_buffer(pool_block(r->pool, q.first_block + i));
	reply_with(reply, NVMR_HASHES, h, size, NULL, 0);
	return 0;
}

static int verify_blocks(struct replica *r, const uint8_t *p, size_t len,
			 struct replica_reply *reply, char *err, size_t errlen)
{
	struct nvmr_verify v;
	const struct nvmr_block_sum *s;
	int rc = nvmr_parse_verify(p, len, r->block_count, &v, &s, err, errlen);
	if (rc < 0)
		return rc;
	size_t most = sizeof(struct nvmr_verify_reply) + (size_t)v.count * 8;
	struct nvmr_verify_reply *vr = out_buffer(r, most);
	if (!vr) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*vr = (struct nvmr_verify_reply){ .id = v.id };
	uint64_t *bad = (uint64_t *)(vr + 1);
	for (uint32_t i = 0; i < v.count; i++)
		if (csum_of_buffer(pool_block(r->pool, s[i].block)) != s[i].sum)
			bad[vr->nbad++] = s[i].block;
	reply_with(reply, NVMR_VERIFY_REPLY, vr,
		   sizeof(*vr) + (size_t)vr->nbad * 8, NULL, 0);
	return 0;
}

/* The blocks go out straight from the mapping. */
static int read_blocks(struct replica *r, const uint8_t *p, size_t len,
		       struct replica_reply *reply, char *err, size_t errlen)
{
	struct nvmr_read q;
	int rc = nvmr_parse_read(p, len, r->block_count, &q, err, errlen);
	if (rc < 0)
		return rc;
	struct nvmr_read_reply *rr = out_buffer(r, sizeof(*rr));
	if (!rr) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*rr = (struct nvmr_read_reply){ .id = q.id, .block = q.block,
					.count = q.count };
	reply_with(reply, NVMR_READ_REPLY, rr, sizeof(*rr),
		   pool_block(r->pool, q.block),
		   (size_t)q.count * NVMPFS_BLOCK_SIZE);
	return 0;
}

/*
 * A resync begins or ends.  The marker is durable before any later batch
 * is applied (messages are handled in order).  A failure is the pool's
 * failure: nothing more is applied, and the primary is told.
 */
static int sync_state(struct replica *r, const uint8_t *p, size_t len,
		      char *err, size_t errlen)
{
	struct nvmr_sync_state st;
	int rc = nvmr_parse_sync_state(p, len, &st, err, errlen);
	if (rc < 0)
		return rc;
	rc = replica_mark_resync(r->pool->path, !st.synced, err, errlen);
	if (rc < 0) {
		r->pool_error = rc;
		return -EIO;
	}
	return 0;
}

int replica_handle(struct replica *r, uint16_t type, const uint8_t *payload,
		   size_t len, struct replica_reply *reply, char *err,
		   size_t errlen)
{
	reply->type = 0;
	reply->iovcnt = 0;
	if (r->pool_error) {
		snprintf(err, errlen, "%s: the pool failed earlier (%s)",
			 r->pool->path, strerror(-r->pool_error));
		return -EIO;
	}
	switch (type) {
	case NVMR_BATCH:
		return apply_batch(r, payload, len, reply, err, errlen);
	case NVMR_HASH_REQ:
		return hash_blocks(r, payload, len, reply, err, errlen);
	case NVMR_VERIFY:
		return verify_blocks(r, payload, len, reply, err, errlen);
	case NVMR_READ:
		return read_blocks(r, payload, len, reply, err, errlen);
	case NVMR_SYNC_STATE:
		return sync_state(r, payload, len, err, errlen);
	case NVMR_PING:
		if (nvmr_parse_ping(payload, len, err, errlen) < 0)
			return -EPROTO;
		reply_with(reply, NVMR_PONG, payload, len, NULL, 0);
		return 0;
	}
	char name[16];
	snprintf(err, errlen, "unexpected %s from the primary",
		 nvmr_type_name(type, name, sizeof(name)));
	return -EPROTO;
}
