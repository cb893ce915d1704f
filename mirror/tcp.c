/*
 * The TCP transport: plain sockets.  A message goes out in one sendmsg
 * (header and payload gathered); reads go through a small buffer so that
 * a short message costs one recv.  A dead or cut-off peer is noticed in
 * bounded time: TCP_USER_TIMEOUT limits how long sent data may stay
 * unacknowledged, and keepalive probes an idle connection (with the user
 * timeout in force, a probe that goes unanswered for that long ends it).
 * Neither notices a silent partition while nothing is sent: the side
 * waiting for an answer keeps its own deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport.h"

#define RBUF_SIZE (64u << 10)
#define SEND_IOV_MAX 1024

struct tcp {
	struct nvmr_transport t;
	int fd;
	size_t rpos, rend;          /* unread bytes of rbuf */
	uint8_t rbuf[RBUF_SIZE];
};

static struct tcp *tcp_of(struct nvmr_transport *t)
{
	return (struct tcp *)t;
}

/* ---- sending ---- */

/* Copies up to SEND_IOV_MAX entries from iov[i] on, the first one skip bytes in. */
static int gather(const struct iovec *iov, int iovcnt, int i, size_t skip,
		  struct iovec *out)
{
	int n = 0;
	for (; i < iovcnt && n < SEND_IOV_MAX; i++, skip = 0) {
		if (iov[i].iov_len == skip)
			continue;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = iov[i].iov_len - skip;
		n++;
	}
	return n;
}

static int tcp_send(struct nvmr_transport *t, const struct iovec *iov,
		    int iovcnt)
{
	struct tcp *c = tcp_of(t);
	struct iovec part[SEND_IOV_MAX];
	int i = 0;
	size_t skip = 0;
	for (;;) {
		int n = gather(iov, iovcnt, i, skip, part);
		if (n == 0)
			return 0;
		struct msghdr msg = { .msg_iov = part, .msg_iovlen = (size_t)n };
		/* MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE. */
		ssize_t sent = sendmsg(c->fd, &msg, MSG_NOSIGNAL |
				       (t->more ? MSG_MORE : 0));
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				return -ECONNRESET;
			return errno == ETIMEDOUT ? -EHOSTDOWN : -errno;
		}
		size_t left = (size_t)sent;
		while (i < iovcnt && left >= iov[i].iov_len - skip) {
			left -= iov[i].iov_len - skip;
			i++;
			skip = 0;
		}
		skip += left;
	}
}

/* ---- receiving ---- */

/* Waits until fd is readable or the deadline passes. */
static int wait_readable(int fd, uint64_t deadline_ns)
{
	for (;;) {
		int ms = -1;
		if (deadline_ns) {
			uint64_t now = nvmr_now_ns();
			if (now >= deadline_ns)
				return -ETIMEDOUT;
			uint64_t left = (deadline_ns - now + 999999) / 1000000;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc = poll(&p, 1, ms);
		if (rc > 0)
			return 0;
		if (rc == 0 && deadline_ns && nvmr_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

static size_t take_buffered(struct tcp *c, void *buf, size_t len)
{
	size_t n = c->rend - c->rpos;
	if (n > len)
		n = len;
	memcpy(buf, c->rbuf + c->rpos, n);
	c->rpos += n;
	return n;
}

static ssize_t tcp_recv(struct nvmr_transport *t, void *buf, size_t len,
			uint64_t deadline_ns)
{
	struct tcp *c = tcp_of(t);
	if (c->rpos < c->rend)
		return (ssize_t)take_buffered(c, buf, len);
	for (;;) {
		/* Big reads go straight to the caller; small ones fill rbuf. */
		bool direct = len >= RBUF_SIZE;
		ssize_t n = recv(c->fd, direct ? buf : c->rbuf,
				 direct ? len : RBUF_SIZE, MSG_DONTWAIT);
		if (n > 0) {
			if (direct)
				return n;
			c->rpos = 0;
			c->rend = (size_t)n;
			return (ssize_t)take_buffered(c, buf, len);
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_readable(c->fd, deadline_ns);
			if (rc < 0)
				return rc;
		} else if (errno != EINTR) {
			/* The socket's own timeout: the peer stopped answering. */
			return errno == ETIMEDOUT ? -EHOSTDOWN : -errno;
		}
	}
}

static bool tcp_readable(struct nvmr_transport *t)
{
	struct tcp *c = tcp_of(t);
	if (c->rpos < c->rend)
		return true;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void tcp_shutdown(struct nvmr_transport *t)
{
	shutdown(tcp_of(t)->fd, SHUT_RDWR);
}

static void tcp_close(struct nvmr_transport *t)
{
	close(tcp_of(t)->fd);
	free(t);
}

static const struct nvmr_transport_ops tcp_ops = {
	.name = "tcp",
	.send = tcp_send,
	.recv = tcp_recv,
	.readable = tcp_readable,
	.shutdown = tcp_shutdown,
	.close = tcp_close,
};

struct nvmr_transport *nvmr_tcp_from_fd(int fd, const char *peer)
{
	struct tcp *c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	c->t.ops = &tcp_ops;
	c->t.more = false;
	snprintf(c->t.peer, sizeof(c->t.peer), "%s", peer);
	c->fd = fd;
	c->rpos = c->rend = 0;
	return &c->t;
}

/* ---- connections ---- */

static void format_address(const struct sockaddr *sa, socklen_t len,
			   char *buf, size_t buflen)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, buflen, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, buflen, "[%s]:%s", host, serv);
	else
		snprintf(buf, buflen, "%s:%s", host, serv);
}

static int set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

/*
 * An idle connection is probed after about half the user timeout; with
 * the user timeout in force, a probe unanswered for that long ends the
 * connection, so a dead peer is noticed within about 1.5 times it.
 */
static int set_liveness(int fd, int user_timeout_ms, char *err, size_t errlen)
{
	int ut = user_timeout_ms > 0 ? user_timeout_ms : 10000;
	int idle = ut / 2000, intvl;
	idle = idle < 1 ? 1 : idle > 3600 ? 3600 : idle;
	intvl = idle / 3 < 1 ? 1 : idle / 3;
	unsigned int uto = (unsigned int)ut;
	if (set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) < 0 ||
	    set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1) < 0 ||
	    set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle) < 0 ||
	    set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, intvl) < 0 ||
	    set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 3) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto,
		       sizeof(uto)) < 0) {
		snprintf(err, errlen, "cannot set the socket's timeouts: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int lookup(const char *host, const char *port, int flags,
		  struct addrinfo **res, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = flags | AI_NUMERICSERV };
	int rc = getaddrinfo(host, port, &hints, res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", host,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	return 0;
}

/* Connects one address within the deadline; the socket, or -errno. */
static int connect_one(const struct addrinfo *ai, uint64_t deadline_ns)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = -errno;
		while (rc == -EINPROGRESS || rc == -EINTR) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			uint64_t now = nvmr_now_ns();
			if (now >= deadline_ns) {
				rc = -ETIMEDOUT;
				break;
			}
			int n = poll(&p, 1, (int)((deadline_ns - now + 999999) /
						  1000000));
			if (n < 0 && errno != EINTR) {
				rc = -errno;
			} else if (n > 0) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				rc = -soerr;
			}
		}
	}
	if (rc == 0 && fcntl(fd, F_SETFL, 0) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int nvmr_tcp_connect(const char *host, const char *port, int timeout_ms,
		     int user_timeout_ms, struct nvmr_transport **out,
		     char *err, size_t errlen)
{
	struct addrinfo *res;
	int rc = lookup(host, port, 0, &res, err, errlen);
	if (rc < 0)
		return rc;
	uint64_t deadline = nvmr_deadline_ns(timeout_ms > 0 ? timeout_ms : 10000);
	int fd = -EHOSTUNREACH;
	char peer[NVMR_PEER_MAX] = "?";
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		format_address(ai->ai_addr, ai->ai_addrlen, peer, sizeof(peer));
		fd = connect_one(ai, deadline);
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (fd == -ETIMEDOUT)
			snprintf(err, errlen, "cannot connect to %s: no answer "
				 "within %d ms", peer, timeout_ms);
		else
			snprintf(err, errlen, "cannot connect to %s: %s", peer,
				 strerror(-fd));
		return fd;
	}
	if (set_liveness(fd, user_timeout_ms, err, errlen) < 0) {
		close(fd);
		return -EINVAL;
	}
	*out = nvmr_tcp_from_fd(fd, peer);
	if (!*out) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int listen_one(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restarted mirror may bind while old connections linger. */
	if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 8) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int nvmr_tcp_listen(const char *host, const char *port, int *fd, char *err,
		    size_t errlen)
{
	struct addrinfo *res;
	int rc = lookup(host, port, AI_PASSIVE, &res, err, errlen);
	if (rc < 0)
		return rc;
	rc = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next)
		rc = listen_one(ai);
	freeaddrinfo(res);
	if (rc >= 0) {
		*fd = rc;
		return 0;
	}
	const char *v6 = strchr(host, ':') ? "[" : "", *v6e = *v6 ? "]" : "";
	if (rc == -EADDRINUSE)
		snprintf(err, errlen, "cannot listen on %s%s%s:%s: address in use "
			 "(another nvmpfs-mirror, or another program, listens "
			 "there)", v6, host, v6e, port);
	else if (rc == -EADDRNOTAVAIL)
		snprintf(err, errlen, "cannot listen on %s%s%s:%s: not an address "
			 "of this host", v6, host, v6e, port);
	else
		snprintf(err, errlen, "cannot listen on %s%s%s:%s: %s", v6, host,
			 v6e, port, strerror(-rc));
	return rc;
}

int nvmr_tcp_accept(int listen_fd, int user_timeout_ms,
		    struct nvmr_transport **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "accept: %s", strerror(e));
		return -e;
	}
	char peer[NVMR_PEER_MAX];
	format_address((struct sockaddr *)&ss, len, peer, sizeof(peer));
	if (set_liveness(fd, user_timeout_ms, err, errlen) < 0) {
		close(fd);
		return -EINVAL;
	}
	*out = nvmr_tcp_from_fd(fd, peer);
	if (!*out) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void nvmr_tcp_local_address(int fd, char *buf, size_t buflen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		snprintf(buf, buflen, "?");
	else
		format_address((struct sockaddr *)&ss, len, buf, buflen);
}
