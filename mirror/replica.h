/*
 * The mirror's handling of one message from its primary, over its pool:
 * BATCH (apply, make durable, ACK), HASH_REQ, VERIFY, READ, PING,
 * SYNC_STATE (the resync marker beside the pool).  Every
 * message is checked whole before anything is done; a malformed one
 * changes nothing in the pool.  Used by the daemon's sessions and by the
 * fuzz target.
 */
#ifndef NVMPFS_MIRROR_REPLICA_H
#define NVMPFS_MIRROR_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pool.h"
#include "proto.h"

struct replica {
	struct pool *pool;
	uint64_t block_count;     /* whole blocks of the pool */
	uint64_t applied;         /* highest batch durable in this session */
	uint64_t received;        /* highest batch written to the pool */
	bool defer;               /* set by the caller before a BATCH: more
				     batches are waiting, leave the ACK to a
				     later one (replica_flush) */
	uint32_t deferred;        /* batches durable, not yet acknowledged */
	uint64_t batches, bytes;  /* applied in this session */
	int pool_error;           /* a drain failed (-errno): sticky */
	uint8_t *out;             /* reply payloads are built here */
	size_t out_cap;
};

/* What to answer: type 0 for nothing; iov valid until the next call. */
struct replica_reply {
	uint16_t type;
	struct iovec iov[2];
	int iovcnt;
};

void replica_init(struct replica *r, struct pool *pool);
/*
 * Creates (on) or removes the resync marker beside the pool, durably
 * (resync_mark.c).  Returns 0 or -errno with a message naming the file.
 */
int replica_mark_resync(const char *pool_path, bool on, char *err,
			size_t errlen);
void replica_free(struct replica *r);
/*
 * Acknowledges the batches applied with defer, with one ACK naming the
 * last (reply type 0 when there were none).  Called before any other
 * message is handled, and when no batch follows.
 */
int replica_flush(struct replica *r, struct replica_reply *reply, char *err,
		  size_t errlen);
/* A new primary session: batch numbers start again. */
void replica_new_session(struct replica *r);

/*
 * Handles one message (as nvmr_recv returned it).  Returns 0 with the
 * reply to send, -EPROTO for a malformed or unexpected message (nothing
 * changed), -EIO when the pool failed (r->pool_error set), -ENOMEM; err
 * says what.
 */
int replica_handle(struct replica *r, uint16_t type, const uint8_t *payload,
		   size_t len, struct replica_reply *reply, char *err,
		   size_t errlen);

#endif
