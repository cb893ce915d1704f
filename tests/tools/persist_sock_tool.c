/*
 * persist_sock_tool: speaks the daemon's persist socket by hand (the wire
 * format of include/nvmpfs.h) to show what it refuses (tests/nvmpfs/191).
 * Prints deterministic lines only: errno names, never names, ids, tokens
 * or pids.  Exit status 0 when the commands ran, 2 for usage errors and
 * failures of the tool itself.
 *
 *   pstool forge FILE LEN SAVE READY WAITFOR
 *       takes two leases of [0, LEN) of FILE (open read-write twice: A
 *       and B) with NVMPFS_IOC_LEASE, connects to the socket A's reply
 *       names and sends, printing each answer: a good request of A; a
 *       wrong token; B's id with A's token; an id nobody has; a count
 *       over NVMPFS_MAX_RANGES; a range outside the lease; reserved set;
 *       a good one again; then a datagram cut short (the connection must
 *       close), and a good request on a new connection, of A and of B.
 *       Then writes what a thief would need (name, A's id and token) to
 *       SAVE, makes READY and waits for WAITFOR (the leases live until
 *       then).
 *   pstool replay SAVE LEN
 *       connects to the saved socket and sends A's request with the
 *       saved token (run as another user: refused).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nvmpfs.h"

static void die(const char *what)
{
	fprintf(stderr, "pstool: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: pstool forge FILE LEN SAVE READY WAITFOR\n"
		"       pstool replay SAVE LEN\n");
	exit(2);
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EINTR: return "EINTR";
	default: return strerror(e);
	}
}

struct saved {
	char name[NVMPFS_PERSIST_SOCKET_MAX];
	uint32_t pid;
	uint64_t lease_id;
	uint8_t token[NVMPFS_PERSIST_TOKEN_SIZE];
};

static int connect_to(const char *name)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strnlen(name, sizeof(a.sun_path) - 1);
	memcpy(a.sun_path + 1, name, n);
	if (connect(fd, (struct sockaddr *)&a,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0) {
		printf("connect: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends size bytes of q; prints the answer, or that the connection closed. */
static void ask(int fd, const char *what, const struct nvmpfs_persist_request *q,
		size_t size)
{
	if (send(fd, q, size, MSG_NOSIGNAL) != (ssize_t)size) {
		printf("%s: send: %s\n", what, strerror(errno));
		return;
	}
	struct nvmpfs_persist_reply r;
	ssize_t n = recv(fd, &r, sizeof(r), 0);
	if (n == 0)
		printf("%s: connection closed\n", what);
	else if (n != sizeof(r))
		printf("%s: reply of %zd bytes\n", what, n);
	else
		printf("%s: %s\n", what, errname(-r.rc));
}

static struct nvmpfs_ioc_lease *lease(int fd, uint64_t len)
{
	struct nvmpfs_ioc_lease *l = calloc(1, sizeof(*l));
	if (!l)
		die("calloc");
	l->len = len;
	l->flags = NVMPFS_LEASE_WRITABLE;
	if (ioctl(fd, NVMPFS_IOC_LEASE, l) < 0)
		die("NVMPFS_IOC_LEASE");
	return l;
}

static struct nvmpfs_persist_request good(const struct nvmpfs_ioc_lease *l,
					  uint64_t len)
{
	struct nvmpfs_persist_request q;
	memset(&q, 0, sizeof(q));
	q.lease_id = l->lease_id;
	memcpy(q.token, l->persist_token, sizeof(q.token));
	q.count = 1;
	q.ranges[0] = (struct nvmpfs_range){ 0, len };
	return q;
}

static void forged(int fd, const struct nvmpfs_ioc_lease *a,
		   const struct nvmpfs_ioc_lease *b, uint64_t len)
{
	const size_t one = NVMPFS_PERSIST_REQUEST_SIZE(1);
	struct nvmpfs_persist_request q = good(a, len);
	ask(fd, "good request", &q, one);
	q.token[7] ^= 0x10;
	ask(fd, "wrong token", &q, one);
	q = good(a, len);
	q.lease_id = b->lease_id;
	ask(fd, "another lease's id", &q, one);
	q.lease_id = a->lease_id + b->lease_id + 1000;
	ask(fd, "an id nobody has", &q, one);
	q = good(a, len);
	q.count = NVMPFS_MAX_RANGES + 1;
	ask(fd, "count too big", &q, NVMPFS_PERSIST_REQUEST_SIZE(0));
	q = good(a, len);
	q.ranges[0] = (struct nvmpfs_range){ len - 8, 4096 + 16 };
	ask(fd, "range outside the lease", &q, one);
	q = good(a, len);
	q.reserved = 1;
	ask(fd, "reserved set", &q, one);
	q = good(a, len);
	ask(fd, "good request again", &q, one);
	ask(fd, "datagram cut short", &q, one - 1);
}

static void forge(const struct nvmpfs_ioc_lease *a,
		  const struct nvmpfs_ioc_lease *b, uint64_t len, char **argv);

static int cmd_forge(char **argv)
{
	uint64_t len = strtoull(argv[1], NULL, 0);
	int fa = open(argv[0], O_RDWR), fb = open(argv[0], O_RDWR);
	if (fa < 0 || fb < 0 || len == 0)
		die(argv[0]);
	struct nvmpfs_ioc_lease *a = lease(fa, len), *b = lease(fb, len);
	bool offered = a->persist_flags & NVMPFS_LEASE_PERSIST_SOCKET;
	printf("socket offered: %s\n", offered ? "yes" : "no");
	if (offered)
		forge(a, b, len, argv);
	free(a);
	free(b);
	close(fa);
	close(fb);
	return 0;
}

static void forge(const struct nvmpfs_ioc_lease *a,
		  const struct nvmpfs_ioc_lease *b, uint64_t len, char **argv)
{
	int fd = connect_to(a->persist_socket);
	if (fd < 0)
		return;
	struct ucred peer;
	socklen_t plen = sizeof(peer);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) < 0)
		die("SO_PEERCRED");
	printf("the daemon answers: %s\n",
	       (uint32_t)peer.pid == a->daemon_pid ? "yes" : "no");
	forged(fd, a, b, len);
	close(fd);
	fd = connect_to(a->persist_socket);
	struct nvmpfs_persist_request q = good(a, len);
	if (fd >= 0)
		ask(fd, "new connection, lease A", &q, NVMPFS_PERSIST_REQUEST_SIZE(1));
	q = good(b, len);
	if (fd >= 0)
		ask(fd, "new connection, lease B", &q, NVMPFS_PERSIST_REQUEST_SIZE(1));
	close(fd);
	struct saved s = { .pid = a->daemon_pid, .lease_id = a->lease_id };
	memcpy(s.name, a->persist_socket, sizeof(s.name));
	memcpy(s.token, a->persist_token, sizeof(s.token));
	int sf = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (sf < 0 || write(sf, &s, sizeof(s)) != sizeof(s))
		die(argv[2]);
	close(sf);
	int rf = open(argv[3], O_WRONLY | O_CREAT, 0644);
	if (rf < 0)
		die(argv[3]);
	close(rf);
	for (int i = 0; i < 120 * 100 && access(argv[4], F_OK) != 0; i++)
		usleep(10000);
}

static int cmd_replay(char **argv)
{
	struct saved s;
	int sf = open(argv[0], O_RDONLY);
	if (sf < 0 || read(sf, &s, sizeof(s)) != sizeof(s))
		die(argv[0]);
	close(sf);
	s.name[sizeof(s.name) - 1] = '\0';
	int fd = connect_to(s.name);
	if (fd < 0)
		return 0;
	struct nvmpfs_persist_request q;
	memset(&q, 0, sizeof(q));
	q.lease_id = s.lease_id;
	memcpy(q.token, s.token, sizeof(q.token));
	q.count = 1;
	q.ranges[0] = (struct nvmpfs_range){ 0, strtoull(argv[1], NULL, 0) };
	ask(fd, "the token replayed", &q, NVMPFS_PERSIST_REQUEST_SIZE(1));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 7 && strcmp(argv[1], "forge") == 0)
		return cmd_forge(argv + 2);
	if (argc == 4 && strcmp(argv[1], "replay") == 0)
		return cmd_replay(argv + 2);
	usage();
}
