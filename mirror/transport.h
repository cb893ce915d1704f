/*
 * The transport under a replication channel: a reliable, ordered byte
 * stream between two peers.  TCP (tcp.c) is the one backend today; another
 * (libfabric FI_EP_MSG for RDMA NICs) fits behind the same operations
 * without touching framing, handshake or sealing (channel.c).
 */
#ifndef NVMPFS_MIRROR_TRANSPORT_H
#define NVMPFS_MIRROR_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* "HOST:PORT" of a peer: an IPv6 address in brackets and a port. */
#define NVMR_PEER_MAX 64

struct nvmr_transport;

struct nvmr_transport_ops {
	const char *name;
	/*
	 * Sends every byte of iov, in order (blocking; a dead peer is
	 * noticed within the transport's timeout).  0 or -errno.
	 */
	int (*send)(struct nvmr_transport *t, const struct iovec *iov,
		    int iovcnt);
	/*
	 * Reads 1 to len bytes, waiting until deadline_ns (CLOCK_MONOTONIC;
	 * 0: no deadline).  Returns the count, -ETIMEDOUT, -ECONNRESET when
	 * the peer closed (or nvmr shut the connection down), or -errno.
	 */
	ssize_t (*recv)(struct nvmr_transport *t, void *buf, size_t len,
			uint64_t deadline_ns);
	/* Whether a recv would return at once (bytes buffered or waiting). */
	bool (*readable)(struct nvmr_transport *t);
	/* Makes a blocked send or recv of another thread return. */
	void (*shutdown)(struct nvmr_transport *t);
	void (*close)(struct nvmr_transport *t);
};

struct nvmr_transport {
	const struct nvmr_transport_ops *ops;
	char peer[NVMR_PEER_MAX];
	/*
	 * Set by the caller: another send follows at once, so this one may
	 * wait for it to fill a packet (TCP: MSG_MORE).  The last of a run
	 * goes with it clear, and pushes everything out.
	 */
	bool more;
};

/* CLOCK_MONOTONIC now, and now + ms (ms < 0: 0, no deadline). */
uint64_t nvmr_now_ns(void);
uint64_t nvmr_deadline_ns(int ms);

/* ---- TCP (tcp.c) ---- */
int nvmr_tcp_connect(const char *host, const char *port, int timeout_ms,
		     int user_timeout_ms, struct nvmr_transport **out,
		     char *err, size_t errlen);
int nvmr_tcp_listen(const char *host, const char *port, int *fd, char *err,
		    size_t errlen);
int nvmr_tcp_accept(int listen_fd, int user_timeout_ms,
		    struct nvmr_transport **out, char *err, size_t errlen);
/* "HOST:PORT" a listening socket is bound to (port 0 asked: the one got). */
void nvmr_tcp_local_address(int fd, char *buf, size_t buflen);
/* A connected socket as a transport (a socketpair in tests); fd is taken. */
struct nvmr_transport *nvmr_tcp_from_fd(int fd, const char *peer);

#endif
