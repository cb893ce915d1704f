/*
 * nvmpfs-mirror [-f] --listen ADDR:PORT --key KEYFILE [--transport tcp] POOL
 *
 * The mirror daemon: keeps POOL a byte-for-byte replica of a primary's
 * pool (the nvmpfs daemon with -o mirror=...), makes every batch durable
 * before it acknowledges it, and answers the primary's hash, verify and
 * read requests.  Everything that can be wrong with the key, the pool or
 * the address is found before it daemonizes, and said on the terminal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "channel_internal.h"
#include "mlog.h"
#include "pool_view.h"
#include "server.h"

struct options {
	bool foreground;
	const char *listen;
	const char *key_file;
	const char *transport;
	const char *pool;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nvmpfs-mirror [-f] --listen ADDR:PORT --key KEYFILE "
		"[--transport tcp] POOL\n"
		"\n"
		"Keeps POOL a replica of the pool of the nvmpfs primary that\n"
		"connects (nvmpfs -o mirror=HOST:PORT,mirror_key=KEYFILE).\n"
		"\n"
		"  -f, --foreground     stay in the foreground, log to stderr\n"
		"  --listen ADDR:PORT   where to listen ([IPV6]:PORT; 0.0.0.0 or\n"
		"                       [::] for every address; port 0: any)\n"
		"  --key KEYFILE        the shared key (the same file as the\n"
		"                       primary's; mode 600)\n"
		"  --transport tcp      the transport (tcp, the only one built)\n"
		"  -h, --help           this help\n"
		"\n"
		"See nvmpfs-mirror(8).\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "listen", required_argument, NULL, 'l' },
		{ "key", required_argument, NULL, 'k' },
		{ "transport", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->transport = "tcp";
	int c;
	while ((c = getopt_long(argc, argv, "fh", longs, NULL)) != -1) {
		switch (c) {
		case 'f': o->foreground = true; break;
		case 'l': o->listen = optarg; break;
		case 'k': o->key_file = optarg; break;
		case 't': o->transport = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	const char *missing = !o->listen ? "--listen ADDR:PORT"
			      : !o->key_file ? "--key KEYFILE"
			      : optind >= argc ? "POOL" : NULL;
	if (missing) {
		fprintf(stderr, "nvmpfs-mirror: %s is missing\n", missing);
		usage(stderr);
		return -1;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "nvmpfs-mirror: one POOL only (also got %s)\n",
			argv[optind + 1]);
		return -1;
	}
	o->pool = argv[optind];
	if (strcmp(o->transport, "tcp") != 0) {
		fprintf(stderr, "nvmpfs-mirror: --transport %s: %s\n",
			o->transport, strcmp(o->transport, "fabric") == 0
			? "not built into this nvmpfs-mirror (tcp only)"
			: "unknown transport (tcp)");
		return -1;
	}
	return 0;
}

static struct pool *open_pool(const char *path)
{
	struct pool_open_opts po = { 0 };
	char err[1024];
	struct pool *pool = pool_open(path, &po, err, sizeof(err));
	if (!pool)
		fprintf(stderr, "nvmpfs-mirror: %s\n", err);
	return pool;
}

/* The pool as it is at the start: it must be an nvmpfs pool. */
static int describe_pool(struct pool *pool, char *line, size_t linelen)
{
	struct mirror_pool_view v;
	char err[1024], uuid[37];
	if (mirror_pool_view(pool, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "nvmpfs-mirror: %s\n", err);
		return -1;
	}
	mirror_format_uuid(v.sb.uuid, uuid);
	snprintf(line, linelen, "pool %s: %s, %llu bytes, uuid %s, epoch "
		 "%llu, mode %s", pool->path, mirror_state_name(&v),
		 (unsigned long long)pool->size, uuid,
		 (unsigned long long)v.sb.mirror_epoch, pool_mode_name(pool));
	return 0;
}

static int open_listener(const char *spec, int *fd)
{
	char host[256], port[16], err[1024];
	if (nvmr_split_address(spec, host, sizeof(host), port, sizeof(port),
			       err, sizeof(err)) < 0 ||
	    nvmr_listen(host, port, fd, err, sizeof(err)) < 0) {
		fprintf(stderr, "nvmpfs-mirror: --listen: %s\n", err);
		return -1;
	}
	return 0;
}

/* SIGTERM, SIGINT and SIGHUP arrive through a signalfd in the main loop. */
static int signal_fd(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread starts, so every thread inherits it. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Accepts primaries until a stop signal; returns the signal. */
static int serve_until_signal(struct mirror_server *s, int lfd, int sfd)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			mlog(LOG_ERR, "poll: %s", strerror(errno));
			return 0;
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo != SIGHUP)
				return (int)si.ssi_signo;
		}
		if (p[0].revents) {
			struct nvmr_channel *ch;
			char err[1024];
			if (nvmr_accept(lfd, MIRROR_USER_TIMEOUT_MS, &ch, err,
					sizeof(err)) == 0) {
				server_take(s, ch);
			} else {
				/* Out of descriptors, say: not in a busy loop. */
				mlog(LOG_WARNING, "%s", err);
				usleep(100000);
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct options o;
	struct nvmr_key key;
	char err[1024], line[1024], where[NVMR_PEER_MAX];
	int lfd;
	if (parse_options(argc, argv, &o) < 0)
		return 2;
	if (nvmr_key_load(o.key_file, &key, err, sizeof(err)) < 0) {
		fprintf(stderr, "nvmpfs-mirror: %s\n", err);
		return 1;
	}
	struct pool *pool = open_pool(o.pool);
	if (!pool)
		return 1;
	if (describe_pool(pool, line, sizeof(line)) < 0 ||
	    open_listener(o.listen, &lfd) < 0) {
		pool_close(pool);
		return 1;
	}
	nvmr_tcp_local_address(lfd, where, sizeof(where));
	if (!o.foreground) {
		if (daemon(0, 0) < 0) {
			fprintf(stderr, "nvmpfs-mirror: daemon: %s\n",
				strerror(errno));
			return 1;
		}
		mlog_to_syslog();
	}
	int sfd = signal_fd();
	if (sfd < 0) {
		mlog(LOG_ERR, "signalfd: %s", strerror(errno));
		close(lfd);
		pool_close(pool);
		return 1;
	}
	pool_populate(pool);
	struct mirror_server s;
	server_init(&s, pool, &key);
	memset(&key, 0, sizeof(key));
	mlog(LOG_INFO, "listening on %s; %s", where, line);
	int sig = serve_until_signal(&s, lfd, sfd);
	mlog(LOG_INFO, "stopping (%s)", sig ? strsignal(sig) : "error");
	server_stop(&s);
	close(lfd);
	replica_free(&s.replica);
	memset(&s.key, 0, sizeof(s.key));
	pool_close(pool);
	return sig ? 0 : 1;
}
