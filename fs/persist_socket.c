/*
 * The persist socket (persist_socket.h; the wire format and the library's
 * side: include/nvmpfs.h, lib/persist_socket.c).
 *
 * Where it lives: an abstract Unix socket, "nvmpfs-persist.PID.RANDOM".
 * Abstract, so that a daemon killed leaves nothing behind and no folder's
 * permissions need to fit every user who may map a file; the random part
 * (128 bits) so that nobody can take the name before the daemon, or find
 * it without a lease reply.  Anyone in the daemon's network namespace who
 * learns the name may connect: connecting grants nothing.  What a request
 * may do is decided per request, by the lease's token (16 random bytes,
 * handed out only in the reply to NVMPFS_IOC_LEASE, which the kernel
 * delivers only to the process that has the lease's file open) together
 * with the connection's uid (SO_PEERCRED) being the uid it was handed to
 * -- the same authority as NVMPFS_IOC_PERSIST on the open file, never
 * more.  The library checks in turn that the daemon (pid and uid from the
 * lease reply) is who answers.
 *
 * Serving: one thread accepts; each connection gets a thread of its own
 * (a program keeps a few connections, one per thread persisting at the
 * same moment), so that a request waiting for the mirror never holds up
 * another program's.  A request is the core's nvfs_lease_persist_proven,
 * then the mirror's acknowledgement (ops_sync_wait, as a FUSE sync point
 * does), then the reply.  Connections past MAX_CLIENTS are closed at once
 * (the library falls back to the ioctl).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nvfs.h"
#include "nvfs_direct.h"
#include "nvmpfs.h"
#include "ops.h"
#include "persist_socket.h"

#define MAX_CLIENTS 128

struct conn {
	struct server *srv;
	int fd;
	uint32_t uid;            /* of the process that connected */
	pthread_t thread;
	bool done;               /* the thread is ending: join it */
	struct conn *next;
};

struct server {
	struct nvfs *fs;
	int listen_fd;
	int wake[2];             /* a byte ends the acceptor's poll */
	char name[NVMPFS_PERSIST_SOCKET_MAX];
	pthread_t acceptor;
	pthread_mutex_t mu;      /* conns, nconns */
	struct conn *conns;
	uint32_t nconns;         /* connections served (not ending) */
	bool stopping;
};

static struct server *srv;

const char *persist_socket_name(void)
{
	return srv ? srv->name : NULL;
}

uint32_t persist_socket_clients(void)
{
	return srv ? __atomic_load_n(&srv->nconns, __ATOMIC_RELAXED) : 0;
}

/* Threads of the socket take no signal: the main thread ends the daemon. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

/* ---- one connection ---- */

static bool stopping(const struct server *s)
{
	return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

/* Asked while waiting for the mirror: the program gone, or the daemon. */
static bool give_up(void *arg)
{
	const struct conn *c = arg;
	struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };
	return stopping(c->srv) ||
	       (poll(&p, 1, 0) > 0 &&
		(p.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

/*
 * The datagram's framing: at least the header, and exactly the ranges
 * its count says (a count over the maximum is answered, not framing).
 */
static bool well_framed(const struct nvmpfs_persist_request *q, size_t n)
{
	return n >= NVMPFS_PERSIST_REQUEST_SIZE(0) &&
	       (q->count > NVMPFS_MAX_RANGES ||
		n == NVMPFS_PERSIST_REQUEST_SIZE(q->count));
}

static int answer(struct conn *c, const struct nvmpfs_persist_request *q)
{
	if (q->count > NVMPFS_MAX_RANGES || q->reserved)
		return -EINVAL;
	struct nvfs_range r[NVMPFS_MAX_RANGES];
	for (uint32_t i = 0; i < q->count; i++)
		r[i] = (struct nvfs_range){ q->ranges[i].off, q->ranges[i].len };
	int rc = nvfs_lease_persist_proven(c->srv->fs, q->lease_id, q->token,
					   c->uid, r, q->count);
	return ops_sync_wait(c->srv->fs, rc, give_up, c);
}

static void *serve_conn(void *arg)
{
	struct conn *c = arg;
	struct nvmpfs_persist_request *q = malloc(sizeof(*q));
	while (q) {
		/* MSG_TRUNC: the datagram's whole size, even past q. */
		ssize_t n = recv(c->fd, q, sizeof(*q), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || !well_framed(q, (size_t)n))
			break;
		struct nvmpfs_persist_reply r = { .rc = answer(c, q) };
		if (send(c->fd, &r, sizeof(r), MSG_NOSIGNAL) != sizeof(r))
			break;
	}
	free(q);
	shutdown(c->fd, SHUT_RDWR); /* the program sees the end at once */
	struct server *srv_of = c->srv;
	pthread_mutex_lock(&srv_of->mu);
	c->done = true;
	__atomic_store_n(&srv_of->nconns, srv_of->nconns - 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&srv_of->mu);
	return NULL;
}

/* ---- accepting ---- */

static void end_conn(struct conn *c)
{
	pthread_join(c->thread, NULL);
	close(c->fd);
	free(c);
}

/* Joins the connections whose thread ended (mu held). */
static void reap(struct server *s)
{
	for (struct conn **p = &s->conns; *p;) {
		struct conn *c = *p;
		if (!c->done) {
			p = &c->next;
			continue;
		}
		*p = c->next;
		end_conn(c);
	}
}

static void take(struct server *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c = calloc(1, sizeof(*c));
	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		free(c);
		close(fd);
		return;
	}
	*c = (struct conn){ .srv = s, .fd = fd, .uid = cred.uid };
	pthread_mutex_lock(&s->mu);
	reap(s);
	bool room = !s->stopping && s->nconns < MAX_CLIENTS;
	if (room && start_thread(&c->thread, serve_conn, c) == 0) {
		c->next = s->conns;
		s->conns = c;
		__atomic_store_n(&s->nconns, s->nconns + 1, __ATOMIC_RELAXED);
		c = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (c) {
		close(fd);
		free(c);
	}
}

static void *accept_loop(void *arg)
{
	struct server *s = arg;
	struct pollfd p[2] = { { .fd = s->listen_fd, .events = POLLIN },
			       { .fd = s->wake[0], .events = POLLIN } };
	while (!stopping(s)) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			take(s, fd);
		else if (errno == EMFILE || errno == ENFILE)
			usleep(10000); /* out of descriptors: not a busy loop */
	}
	return NULL;
}

/* ---- starting and stopping ---- */

static int bind_random_name(struct server *s, char *err, size_t errlen)
{
	for (int tries = 0; tries < 8; tries++) {
		uint8_t r[16];
		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			break;
		int n = snprintf(s->name, sizeof(s->name), "nvmpfs-persist.%d.",
				 (int)getpid());
		for (size_t i = 0; i < sizeof(r); i++)
			n += snprintf(s->name + n, sizeof(s->name) - (size_t)n,
				      "%02x", r[i]);
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		memcpy(a.sun_path + 1, s->name, strlen(s->name));
		socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					    1 + strlen(s->name));
		if (bind(s->listen_fd, (struct sockaddr *)&a, len) == 0)
			return listen(s->listen_fd, 64) == 0 ? 0 : -errno;
		if (errno != EADDRINUSE)
			break;
	}
	int e = errno;
	snprintf(err, errlen, "persist socket: cannot bind an abstract Unix "
		 "socket: %s", strerror(e));
	return -e;
}

static void free_server(struct server *s)
{
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int persist_socket_start(struct nvfs *fs, char *err, size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "persist socket: out of memory");
		return -ENOMEM;
	}
	s->fs = fs;
	s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->mu, NULL);
	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int rc = s->listen_fd < 0 ? -errno : 0;
	if (rc)
		snprintf(err, errlen, "persist socket: %s", strerror(-rc));
	else if (pipe2(s->wake, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "persist socket: pipe: %s", strerror(-rc));
	}
	if (rc == 0)
		rc = bind_random_name(s, err, errlen);
	if (rc == 0 && (rc = start_thread(&s->acceptor, accept_loop, s)) != 0)
		snprintf(err, errlen, "persist socket: cannot start its thread: "
			 "%s", strerror(-rc));
	if (rc) {
		free_server(s);
		return rc;
	}
	srv = s;
	return 0;
}

void persist_socket_stop(void)
{
	struct server *s = srv;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
	/* Wakes the threads in recv or send; those waiting see stopping. */
	for (struct conn *c = s->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
	char b = 0;
	if (write(s->wake[1], &b, 1) < 0) {
		/* A full pipe wakes the acceptor just as well. */
	}
	pthread_join(s->acceptor, NULL);
	while (s->conns) {
		struct conn *c = s->conns;
		s->conns = c->next;
		end_conn(c);
	}
	srv = NULL;
	free_server(s);
}
