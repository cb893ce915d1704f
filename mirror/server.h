/*
 * The mirror daemon's state: its pool, key and replica, and the one
 * primary it serves at a time.  Every connection has a thread of its own
 * for the handshake; only one that has proven the key takes the session
 * (the judge's step), so a peer without the key, silent or not, never
 * keeps the primary out.
 */
#ifndef NVMPFS_MIRROR_SERVER_H
#define NVMPFS_MIRROR_SERVER_H

#include <pthread.h>
#include <stdbool.h>

#include "channel.h"
#include "replica.h"
#include "transport.h"

/* A message once begun must be whole within this (a stalled peer). */
#define MIRROR_STALL_MS 30000
/* TCP user timeout of the mirror's connections. */
#define MIRROR_USER_TIMEOUT_MS 10000
/* Connections at once; a new one beyond it evicts the oldest unproven. */
#define MIRROR_MAX_CONNS 16

struct mirror_server {
	struct pool *pool;
	struct nvmr_key key;
	struct replica replica;
	pthread_mutex_t mu;            /* the fields below */
	pthread_cond_t cv;             /* a connection thread ended */
	struct nvmr_channel *active;   /* the session's connection (proven) */
	char active_peer[NVMR_PEER_MAX];
	struct nvmr_channel *conns[MIRROR_MAX_CONNS];  /* every connection */
	uint64_t conn_since[MIRROR_MAX_CONNS];         /* accepted at (ns) */
	int nconns;
	int threads;                  /* connection threads not yet ended */
	bool stopping;
};

void server_init(struct mirror_server *s, struct pool *pool,
		 const struct nvmr_key *key);
/*
 * A new connection: a thread of its own shakes hands; it is served if it
 * proves the key while no other primary is, else refused.  Takes ch.
 */
void server_take(struct mirror_server *s, struct nvmr_channel *ch);
/*
 * The handshake's claim (session.c calls it once the key is proven):
 * true when ch now holds the session, false (text says why) while
 * another primary is served.
 */
bool server_claim(struct mirror_server *s, struct nvmr_channel *ch,
		  char *text, size_t textlen);
/* Lets go of the session ch holds (its end). */
void server_release(struct mirror_server *s, struct nvmr_channel *ch);
/* Ends the session (after the message being handled) and waits for it. */
void server_stop(struct mirror_server *s);

/* Serves one primary on ch until it goes away (session.c). */
void session_run(struct mirror_server *s, struct nvmr_channel *ch);

#endif
