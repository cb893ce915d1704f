/*
 * Power-failure simulation for the crash tests (see pool.h).
 *
 * The shadow holds what the media would hold: it starts as a copy of the
 * pool and takes each drained range.  Bytes of the mapping that differ from
 * the shadow are stores that had not reached the media; at the chosen drain
 * each 8-byte word of them is kept or lost at random, which is exactly the
 * freedom real persistent memory has (aligned 8-byte stores are atomic,
 * nothing else is ordered before a drain).
 *
 * NVMPFS_CRASH_GRAIN=1, 2 or 4 tears below that, per piece of so many
 * bytes: media weaker than the file system assumes, for tests that must
 * show their checks of torn words can fail.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool.h"

#ifdef NVMPFS_CRASH_SIM

struct crash_sim {
	uint8_t *shadow;
	uint64_t crash_at;     /* drain number that crashes */
	uint64_t seen;
	uint64_t rng;
	int tear;              /* 1: keep each pending word at random */
	unsigned grain;        /* bytes that reach the media whole: 8, 4, 2, 1 */
};

static uint64_t next_random(struct crash_sim *sim)
{
	/* xorshift64*: enough for choosing words. */
	sim->rng ^= sim->rng >> 12;
	sim->rng ^= sim->rng << 25;
	sim->rng ^= sim->rng >> 27;
	return sim->rng * 2685821657736338717ull;
}

int crash_sim_init(struct pool *pool, char *err, size_t errlen)
{
	const char *at = getenv("NVMPFS_CRASH_AT");
	if (!at || !*at)
		return 0;
	struct crash_sim *sim = calloc(1, sizeof(*sim));
	if (!sim)
		goto nomem;
	sim->shadow = malloc(pool->size);
	if (!sim->shadow) {
		free(sim);
		goto nomem;
	}
	memcpy(sim->shadow, pool->base, pool->size);
	sim->crash_at = strtoull(at, NULL, 0);
	const char *seed = getenv("NVMPFS_CRASH_SEED");
	sim->rng = (seed ? strtoull(seed, NULL, 0) : 1) | 1;
	const char *mode = getenv("NVMPFS_CRASH_MODE");
	sim->tear = !(mode && strcmp(mode, "drop") == 0);
	const char *grain = getenv("NVMPFS_CRASH_GRAIN");
	char *end = NULL;
	sim->grain = grain && *grain ? (unsigned)strtoul(grain, &end, 10) : 8;
	if ((end && *end) || (sim->grain != 1 && sim->grain != 2 &&
			      sim->grain != 4 && sim->grain != 8)) {
		snprintf(err, errlen, "%s: NVMPFS_CRASH_GRAIN is '%s': it must "
			 "be 1, 2, 4 or 8 (bytes)", pool->path, grain);
		free(sim->shadow);
		free(sim);
		return -1;
	}
	pool->sim = sim;
	return 0;
nomem:
	snprintf(err, errlen, "%s: no memory for the crash simulation shadow",
		 pool->path);
	return -1;
}

/* Keeps each differing piece of one pending word at random. */
static void tear_word(struct crash_sim *sim, uint8_t *media,
		      const uint8_t *cache, uint64_t *kept, uint64_t *lost)
{
	for (unsigned b = 0; b < 8; b += sim->grain) {
		if (memcmp(media + b, cache + b, sim->grain) == 0)
			continue;
		if (sim->tear && (next_random(sim) & 1)) {
			memcpy(media + b, cache + b, sim->grain);
			(*kept)++;
		} else {
			(*lost)++;
		}
	}
}

static void power_fail(struct pool *pool)
{
	struct crash_sim *sim = pool->sim;
	uint64_t words = pool->size / 8;
	uint64_t *media = (uint64_t *)sim->shadow;
	const uint64_t *cache = (const uint64_t *)pool->base;
	uint64_t kept = 0, lost = 0;
	for (uint64_t i = 0; i < words; i++)
		if (media[i] != cache[i])
			tear_word(sim, (uint8_t *)&media[i],
				  (const uint8_t *)&cache[i], &kept, &lost);
	memcpy(pool->base, sim->shadow, pool->size);
	msync(pool->base, pool->size, MS_SYNC);
	fprintf(stderr,
		"nvmpfs: crash simulation: power failure at drain %llu "
		"(%llu unflushed %u-byte pieces kept, %llu lost)\n",
		(unsigned long long)sim->seen, (unsigned long long)kept,
		sim->grain, (unsigned long long)lost);
	kill(getpid(), SIGKILL);
	_exit(137);
}

/*
 * Drains of several threads take turns here: the count of drains is the
 * pool's, and the shadow takes each thread's own ranges only.
 */
void crash_sim_drain(struct pool *pool, const struct pool_range *ranges,
		     size_t count)
{
	struct crash_sim *sim = pool->sim;
	pthread_mutex_lock(&pool->sim_mu);
	if (++sim->seen == sim->crash_at)
		power_fail(pool);
	for (size_t i = 0; i < count; i++)
		memcpy(sim->shadow + ranges[i].off, pool->base + ranges[i].off,
		       ranges[i].len);
	pthread_mutex_unlock(&pool->sim_mu);
}

void crash_sim_free(struct pool *pool)
{
	if (!pool->sim)
		return;
	free(pool->sim->shadow);
	free(pool->sim);
	pool->sim = NULL;
}

#else /* !NVMPFS_CRASH_SIM: the installed daemon never simulates crashes */

int crash_sim_init(struct pool *pool, char *err, size_t errlen)
{
	const char *at = getenv("NVMPFS_CRASH_AT");
	if (!at || !*at)
		return 0;
	snprintf(err, errlen, "%s: NVMPFS_CRASH_AT is set, but this nvmpfs was "
		 "built without the crash simulation (configure "
		 "--enable-crash-sim); unset it", pool->path);
	return -1;
}

void crash_sim_drain(struct pool *pool, const struct pool_range *ranges,
		     size_t count)
{
	(void)pool;
	(void)ranges;
	(void)count;
}

void crash_sim_free(struct pool *pool)
{
	pool->sim = NULL;
}

#endif
