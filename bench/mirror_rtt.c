/*
 * mirror_rtt: the replication transport's own round trips, what a
 * mirrored sync point cannot go below.  Attaches to an nvmpfs-mirror as
 * the primary of POOL (a pool file of the mirror's size: only its
 * superblock is read, its identity given in the handshake), then times,
 * one message at a time:
 *   ping          PING -> PONG: the bare round trip of the channel
 *   batch N       one BATCH of N ranges of 4 KiB -> ACK: the round trip,
 *                 the transfer of N x 4 KiB, and the mirror's apply and
 *                 drain of them
 *   batches N     N BATCHes of one 4 KiB range each, corked -> the ACK of
 *                 the last: the same bytes as N writes' drains send
 * and prints, per kind, "KIND median_us=M p90_us=P".
 *
 *   mirror_rtt --key KEYFILE [--seal] HOST:PORT POOL ITERATIONS N...
 *
 * The batches write into the second half of the mirror's pool: use a
 * mirror (and pool) of its own, never the mirror of a mounted primary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "include/nvmpfs/layout.h"
#include "mirror/channel.h"
#include "mirror/parse.h"

#define BLOCK 4096u
#define TIMEOUT_MS 5000

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "mirror_rtt: %s: %s\n", what, detail);
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The pool's identity, from its newer superblock copy. */
static void identity_of(const char *path, struct nvmr_pool_id *id)
{
	struct nvmpfs_super sb[2];
	struct stat st;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    pread(fd, &sb[0], sizeof(sb[0]), 0) != sizeof(sb[0]) ||
	    pread(fd, &sb[1], sizeof(sb[1]), BLOCK) != sizeof(sb[1]))
		die(path, "cannot read its superblocks");
	close(fd);
	const struct nvmpfs_super *s =
		sb[1].magic == NVMPFS_MAGIC && (sb[0].magic != NVMPFS_MAGIC ||
		sb[1].generation > sb[0].generation) ? &sb[1] : &sb[0];
	if (s->magic != NVMPFS_MAGIC)
		die(path, "not an nvmpfs pool");
	memcpy(id->uuid, s->uuid, sizeof(id->uuid));
	id->block_count = s->block_count;
	id->pool_size = (uint64_t)st.st_size;
	id->epoch = s->mirror_epoch;
	id->epoch_tag = s->epoch_tag;
	id->generation = s->generation;
}

static void expect(struct nvmr_channel *ch, uint16_t want, const uint8_t **p,
		   size_t *len)
{
	char err[512];
	uint16_t type;
	if (nvmr_recv(ch, TIMEOUT_MS, &type, p, len, err, sizeof(err)) < 0)
		die("receive", err);
	if (type != want)
		die("receive", "an unexpected message type");
}

static double ping(struct nvmr_channel *ch)
{
	static const char token[] = "mirror_rtt";
	struct iovec iov = { (void *)token, sizeof(token) };
	const uint8_t *p;
	size_t len;
	double t0 = now_us();
	if (nvmr_send(ch, NVMR_PING, &iov, 1) < 0)
		die("send", "PING");
	expect(ch, NVMR_PONG, &p, &len);
	return now_us() - t0;
}

/* The i-th 4 KiB range of a kind: 64 KiB apart in the pool's second half,
 * never merged. */
static struct nvmr_range range_at(const struct nvmr_pool_id *id, uint32_t i)
{
	return (struct nvmr_range){ id->pool_size / 2 + (uint64_t)i * 16 * BLOCK,
				    BLOCK };
}

static double batch(struct nvmr_channel *ch, const struct nvmr_pool_id *id,
		    uint64_t seq, uint32_t n, const uint8_t *data)
{
	static struct nvmr_range r[NVMR_MAX_RANGES];
	for (uint32_t i = 0; i < n; i++)
		r[i] = range_at(id, i);
	struct nvmr_batch b = { .batch_seq = seq, .nranges = n };
	struct iovec iov[3] = { { &b, sizeof(b) }, { r, n * sizeof(r[0]) },
				{ (void *)data, (size_t)n * BLOCK } };
	const uint8_t *p;
	size_t len;
	struct nvmr_ack ack;
	char err[256];
	double t0 = now_us();
	if (nvmr_send(ch, NVMR_BATCH, iov, 3) < 0)
		die("send", "BATCH");
	expect(ch, NVMR_ACK, &p, &len);
	double t = now_us() - t0;
	if (nvmr_parse_ack(p, len, &ack, err, sizeof(err)) < 0)
		die("ACK", err);
	if (ack.applied != seq)
		die("ACK", "not of the batch sent");
	return t;
}

/*
 * N BATCHes of one 4 KiB range each, corked, then the ACK of the last:
 * what a primary sends when N writes' drains wait for one sync point.
 */
static double batches(struct nvmr_channel *ch, const struct nvmr_pool_id *id,
		      uint64_t *seq, uint32_t n, const uint8_t *data)
{
	const uint8_t *p;
	size_t len;
	struct nvmr_ack ack = { 0 };
	char err[256];
	uint64_t last = *seq + n - 1;
	double t0 = now_us();
	for (uint32_t i = 0; i < n; i++) {
		struct nvmr_range r = range_at(id, i);
		struct nvmr_batch b = { .batch_seq = (*seq)++, .nranges = 1 };
		struct iovec iov[3] = { { &b, sizeof(b) }, { &r, sizeof(r) },
					{ (void *)data, BLOCK } };
		nvmr_send_more(ch, i + 1 < n);
		if (nvmr_send(ch, NVMR_BATCH, iov, 3) < 0)
			die("send", "BATCH");
	}
	while (ack.applied != last) {
		expect(ch, NVMR_ACK, &p, &len);
		if (nvmr_parse_ack(p, len, &ack, err, sizeof(err)) < 0)
			die("ACK", err);
	}
	return now_us() - t0;
}

static void report(const char *kind, double *t, unsigned iters)
{
	qsort(t, iters, sizeof(*t), cmp_double);
	printf("%s median_us=%.2f p90_us=%.2f\n", kind, t[iters / 2],
	       t[iters * 9 / 10]);
}

int main(int argc, char **argv)
{
	const char *keyfile = NULL;
	bool seal = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--key") && i + 1 < argc)
			keyfile = argv[++i];
		else if (!strcmp(argv[i], "--seal"))
			seal = true;
		else
			break;
	}
	if (!keyfile || argc - i < 4) {
		fprintf(stderr, "usage: mirror_rtt --key KEYFILE [--seal] "
			"HOST:PORT POOL ITERATIONS N...\n");
		return 2;
	}
	char err[1024], host[256], port[16];
	struct nvmr_key key;
	struct nvmr_pool_id id = { 0 };
	if (nvmr_key_load(keyfile, &key, err, sizeof(err)) < 0)
		die("key", err);
	if (nvmr_split_address(argv[i], host, sizeof(host), port, sizeof(port),
			       err, sizeof(err)) < 0)
		die("address", err);
	identity_of(argv[i + 1], &id);
	unsigned iters = (unsigned)atoi(argv[i + 2]);
	if (iters < 1)
		die("ITERATIONS", "must be at least 1");

	struct nvmr_channel *ch;
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	if (nvmr_connect(host, port, TIMEOUT_MS, TIMEOUT_MS, &ch, err,
			 sizeof(err)) < 0 ||
	    nvmr_handshake_primary(ch, &key, &id, seal, &reply, &ready, err,
				   sizeof(err)) < 0)
		die(argv[i], err);

	/* The kinds take turns message by message, so that the machine's
	 * moods (a sleeping core's wake-up, a neighbour's load) hit them
	 * alike. */
	int kinds = argc - (i + 3);
	uint32_t n[kinds];
	double *t[kinds + 1], *ts[kinds];
	for (int k = 0; k < kinds; k++) {
		n[k] = (uint32_t)atoi(argv[i + 3 + k]);
		if (n[k] < 1 || n[k] > 1024)
			die(argv[i + 3 + k], "ranges must be 1..1024");
	}
	for (int k = 0; k <= kinds; k++)
		t[k] = calloc(iters, sizeof(double));
	for (int k = 0; k < kinds; k++)
		ts[k] = calloc(iters, sizeof(double));
	uint8_t *data = malloc((size_t)1024 * BLOCK);
	memset(data, 0x5a, (size_t)1024 * BLOCK);
	uint64_t seq = ready.applied + 1;
	for (unsigned it = 0; it < iters; it++) {
		t[kinds][it] = ping(ch);
		for (int k = 0; k < kinds; k++) {
			t[k][it] = batch(ch, &id, seq++, n[k], data);
			ts[k][it] = batches(ch, &id, &seq, n[k], data);
		}
	}
	report("ping", t[kinds], iters);
	for (int k = 0; k < kinds; k++) {
		char kind[32];
		snprintf(kind, sizeof(kind), "batch%u", n[k]);
		report(kind, t[k], iters);
		snprintf(kind, sizeof(kind), "batches%u", n[k]);
		report(kind, ts[k], iters);
	}
	for (int k = 0; k <= kinds; k++)
		free(t[k]);
	for (int k = 0; k < kinds; k++)
		free(ts[k]);
	free(data);
	nvmr_close(ch);
	return 0;
}
