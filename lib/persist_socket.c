/*
 * libnvmpfs: persisting through the daemon's persist socket (see
 * persist_socket.h and, for the trust model, fs/persist_socket.c).
 *
 * Connections: each endpoint keeps up to MAX_CONNS, each used by one
 * thread at a time for one round trip (a request, its reply), so that
 * threads persisting together do not wait behind each other's mirror
 * round trip.  A thread that finds none free and no room for another
 * uses the ioctl.  A connection is checked once, when made: the process
 * answering must be the daemon the lease reply named (its pid and uid),
 * or nothing is sent there -- the token is never shown to anyone else.
 *
 * fork: the child has no direct mapping (direct_map.c), and must not
 * share the parent's connections (their replies would go to whichever
 * process reads first): it closes its copies of all of them.
 *
 * Endpoints are not freed: a mapping's copy (direct_map.c's lookup) may
 * still be in use by a persist while the last mapping goes.  Each is a
 * few hundred bytes, one per daemon the process has mapped from.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "persist_socket.h"

#define MAX_CONNS 16

struct psock_endpoint {
	char name[NVMPFS_PERSIST_SOCKET_MAX];
	uint32_t pid, uid;        /* who must answer */
	unsigned refs;            /* mappings using it */
	int fd[MAX_CONNS];        /* -1: a free slot */
	bool busy[MAX_CONNS];     /* a thread holds it (or is connecting) */
	struct psock_endpoint *next;
};

static pthread_mutex_t pmu = PTHREAD_MUTEX_INITIALIZER;
static struct psock_endpoint *endpoints;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void close_idle(struct psock_endpoint *e)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (!e->busy[i] && e->fd[i] >= 0) {
			close(e->fd[i]);
			e->fd[i] = -1;
		}
}

static void lock_before_fork(void)
{
	pthread_mutex_lock(&pmu);
}

static void unlock_in_parent(void)
{
	pthread_mutex_unlock(&pmu);
}

/* No thread of the parent runs here: busy connections are ours to close. */
static void drop_in_child(void)
{
	for (struct psock_endpoint *e = endpoints; e; e = e->next) {
		memset(e->busy, 0, sizeof(e->busy));
		close_idle(e);
		e->refs = 0;
	}
	pthread_mutex_unlock(&pmu);
}

static void install_atfork(void)
{
	pthread_atfork(lock_before_fork, unlock_in_parent, drop_in_child);
}

struct psock_endpoint *psock_get(const struct nvmpfs_ioc_lease *l)
{
	pthread_once(&fork_once, install_atfork);
	char name[NVMPFS_PERSIST_SOCKET_MAX];
	memcpy(name, l->persist_socket, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	if (!name[0])
		return NULL;
	pthread_mutex_lock(&pmu);
	struct psock_endpoint *e = endpoints;
	while (e && (strcmp(e->name, name) != 0 || e->pid != l->daemon_pid ||
		     e->uid != l->daemon_uid))
		e = e->next;
	if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
		memcpy(e->name, name, sizeof(name));
		e->pid = l->daemon_pid;
		e->uid = l->daemon_uid;
		for (int i = 0; i < MAX_CONNS; i++)
			e->fd[i] = -1;
		e->next = endpoints;
		endpoints = e;
	}
	if (e)
		e->refs++;
	pthread_mutex_unlock(&pmu);
	return e;
}

void psock_put(struct psock_endpoint *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&pmu);
	if (e->refs && --e->refs == 0)
		close_idle(e); /* the daemon sees its client go */
	pthread_mutex_unlock(&pmu);
}

/* A connection to the endpoint's daemon, checked, or -1. */
static int connect_checked(const struct psock_endpoint *e)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(e->name);
	memcpy(a.sun_path + 1, e->name, n);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	struct ucred peer;
	socklen_t plen = sizeof(peer);
	if (connect(fd, (struct sockaddr *)&a, len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) < 0 ||
	    (uint32_t)peer.pid != e->pid || (uint32_t)peer.uid != e->uid) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A slot whose connection this thread may use (connected), or -1. */
static int take_slot(struct psock_endpoint *e)
{
	int slot = -1;
	pthread_mutex_lock(&pmu);
	for (int i = 0; i < MAX_CONNS && slot < 0; i++)
		if (!e->busy[i] && e->fd[i] >= 0)
			slot = i;
	for (int i = 0; i < MAX_CONNS && slot < 0; i++)
		if (!e->busy[i])
			slot = i;
	if (slot >= 0)
		e->busy[slot] = true;
	pthread_mutex_unlock(&pmu);
	if (slot >= 0 && e->fd[slot] < 0) {
		int fd = connect_checked(e);
		pthread_mutex_lock(&pmu);
		e->fd[slot] = fd;
		if (fd < 0)
			e->busy[slot] = false;
		pthread_mutex_unlock(&pmu);
		if (fd < 0)
			slot = -1;
	}
	return slot;
}

/* Gives the slot back; a connection that failed is closed. */
static void give_slot(struct psock_endpoint *e, int slot, bool failed)
{
	pthread_mutex_lock(&pmu);
	if (failed || e->refs == 0) {
		close(e->fd[slot]);
		e->fd[slot] = -1;
	}
	e->busy[slot] = false;
	pthread_mutex_unlock(&pmu);
}

/* One request, one reply; false when the connection failed. */
static bool round_trip(int fd, const struct nvmpfs_persist_request *q,
		       size_t size, struct nvmpfs_persist_reply *r)
{
	if (send(fd, q, size, MSG_NOSIGNAL) != (ssize_t)size)
		return false;
	ssize_t n;
	do
		n = recv(fd, r, sizeof(*r), 0);
	while (n < 0 && errno == EINTR);
	return n == sizeof(*r);
}

bool psock_persist(struct psock_endpoint *e, uint64_t lease_id,
		   const uint8_t token[NVMPFS_PERSIST_TOKEN_SIZE],
		   const struct nvmpfs_range *r, size_t count, int *rc)
{
	if (count > NVMPFS_MAX_RANGES)
		return false;
	int slot = take_slot(e);
	if (slot < 0)
		return false;
	struct nvmpfs_persist_request q;
	q.lease_id = lease_id;
	memcpy(q.token, token, sizeof(q.token));
	q.count = (uint32_t)count;
	q.reserved = 0;
	memcpy(q.ranges, r, count * sizeof(*r));
	struct nvmpfs_persist_reply reply;
	int saved = errno;
	bool ok = round_trip(e->fd[slot], &q, NVMPFS_PERSIST_REQUEST_SIZE(count),
			     &reply);
	errno = saved;
	give_slot(e, slot, !ok);
	/* Refused or cut short by the daemon's end: the ioctl decides. */
	if (!ok || reply.rc == -EPERM || reply.rc == -EINTR)
		return false;
	*rc = reply.rc;
	return true;
}
