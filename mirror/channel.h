/*
 * A replication connection: the transport (TCP; another backend, such as
 * libfabric for RDMA NICs, can be added behind struct nvmr_transport
 * without touching the protocol), message framing with sequence numbers,
 * the handshake, and sealing.  One thread may send while another
 * receives (each direction has its own sequence and seal state); two
 * threads must not send (or receive) at once.
 */
#ifndef NVMPFS_MIRROR_CHANNEL_H
#define NVMPFS_MIRROR_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "proto.h"

struct nvmr_channel;

/* A shared key, read from a key file (keyfile.c). */
struct nvmr_key {
	uint8_t bytes[NVMR_KEY_MAX];
	size_t len;
};

/*
 * Reads a key file: at least NVMR_KEY_MIN bytes, not readable or writable
 * by group or others (as ssh refuses a private key that is).  Returns 0,
 * or -1 with a message naming the file and what is wrong.
 */
int nvmr_key_load(const char *path, struct nvmr_key *key, char *err,
		  size_t errlen);

/* "HOST:PORT" (HOST may be [v6]) split; -1 with a message if malformed. */
int nvmr_split_address(const char *spec, char *host, size_t hostlen,
		       char *port, size_t portlen, char *err, size_t errlen);

/*
 * Connects to HOST:PORT within timeout_ms.  The socket has TCP_NODELAY,
 * keepalive and TCP_USER_TIMEOUT of user_timeout_ms, so a dead or cut-off
 * peer is noticed in bounded time.  Returns 0 or -errno with a message
 * naming the peer.
 */
int nvmr_connect(const char *host, const char *port, int timeout_ms,
		 int user_timeout_ms, struct nvmr_channel **out, char *err,
		 size_t errlen);
/* Listens on ADDR:PORT; the listening socket in *fd. */
int nvmr_listen(const char *host, const char *port, int *fd, char *err,
		size_t errlen);
/* Accepts one connection (blocking); -errno with a message on failure. */
int nvmr_accept(int listen_fd, int user_timeout_ms,
		struct nvmr_channel **out, char *err, size_t errlen);
void nvmr_close(struct nvmr_channel *ch);
/* Shuts the connection down (both ways) so that a blocked recv returns. */
void nvmr_shutdown(struct nvmr_channel *ch);
/* "HOST:PORT" of the peer, for messages. */
const char *nvmr_peer(const struct nvmr_channel *ch);

/*
 * Whether the next nvmr_send is followed at once by another (it may then
 * wait to share a packet; the last of a run goes with more false).
 */
void nvmr_send_more(struct nvmr_channel *ch, bool more);
/*
 * Sends one message: header (next seq of this direction) and the payload
 * gathered from iov, sealed when sealing is on.  Returns 0 or -errno.
 */
int nvmr_send(struct nvmr_channel *ch, uint16_t type, const struct iovec *iov,
	      int iovcnt);
/* One message of nvmr_send_many. */
struct nvmr_out {
	uint16_t type;
	const struct iovec *iov;
	int iovcnt;
};
/*
 * Sends n messages as n calls of nvmr_send would, in order, but with one
 * call of the transport (one system call for a run that fits its
 * gather list): a run of small batches then costs the socket one send,
 * not n.  On an error some of them may have gone.  Returns 0 or -errno.
 */
int nvmr_send_many(struct nvmr_channel *ch, const struct nvmr_out *msgs,
		   int n);
/*
 * Receives one message within timeout_ms (-1: no limit): checks the
 * header (nvmr_check_header), reads and opens (unseals) the payload.
 * *payload points into a buffer of the channel, valid until the next
 * nvmr_recv.  Returns 0, -ETIMEDOUT, -ECONNRESET (closed), -EPROTO (a bad
 * message: the caller closes the connection) or another -errno; err says
 * what was wrong.
 */
int nvmr_recv(struct nvmr_channel *ch, int timeout_ms, uint16_t *type,
	      const uint8_t **payload, size_t *len, char *err, size_t errlen);

/*
 * The primary's side of the handshake (see proto.h).  On success the
 * mirror's reply and READY are returned, and sealing is on if asked for
 * and granted.  A REFUSE from the mirror is returned as -EACCES (wrong
 * key), -ESTALE (split brain), -EINVAL (another pool), -EBUSY or -EPROTO,
 * with the mirror's text in err.
 */
int nvmr_handshake_primary(struct nvmr_channel *ch, const struct nvmr_key *key,
			   const struct nvmr_pool_id *pool, bool seal,
			   struct nvmr_hello_reply *reply,
			   struct nvmr_ready *ready, char *err, size_t errlen);

/*
 * The mirror's decision about a primary's HELLO: 0 to go on (with
 * *full_resync set when every block must be compared), or a refusal code
 * and its text.
 */
typedef int (*nvmr_judge_fn)(void *arg, const struct nvmr_hello *hello,
			     bool *full_resync, char *text, size_t textlen);

/*
 * The mirror's side: reads HELLO, judges it, answers HELLO_REPLY with its
 * pool, checks AUTH, sends READY (or REFUSE).  Returns 0 with *hello and
 * *ready filled, or -errno with a message (the REFUSE is sent already).
 */
int nvmr_handshake_mirror(struct nvmr_channel *ch, const struct nvmr_key *key,
			  const struct nvmr_pool_id *pool,
			  enum nvmr_pool_state state, bool allow_seal,
			  uint64_t applied, nvmr_judge_fn judge, void *arg,
			  struct nvmr_hello *hello, struct nvmr_ready *ready,
			  char *err, size_t errlen);

/* Sends REFUSE (code, text); best effort. */
void nvmr_refuse(struct nvmr_channel *ch, uint32_t code, const char *text);

#endif
