/*
 * The mirror daemon's state: its pool, key and replica, and the one
 * primary it serves at a time (a session thread per connection).
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
/* How long a second primary may take to say HELLO before BUSY. */
#define MIRROR_BUSY_WAIT_MS 2000

struct mirror_server {
	struct pool *pool;
	struct nvmr_key key;
	struct replica replica;
	pthread_mutex_t mu;            /* the fields below */
	struct nvmr_channel *active;   /* the session's connection */
	char active_peer[NVMR_PEER_MAX];
	bool has_thread;               /* a session thread to join */
	bool running;                  /* ... still serving */
	pthread_t thread;
	bool stopping;
};

void server_init(struct mirror_server *s, struct pool *pool,
		 const struct nvmr_key *key);
/*
 * A new connection: served by a session thread, or refused BUSY while
 * another primary is served.  Takes ch.
 */
void server_take(struct mirror_server *s, struct nvmr_channel *ch);
/* Ends the session (after the message being handled) and waits for it. */
void server_stop(struct mirror_server *s);

/* Serves one primary on ch until it goes away (session.c); closes ch. */
void session_run(struct mirror_server *s, struct nvmr_channel *ch);

#endif
