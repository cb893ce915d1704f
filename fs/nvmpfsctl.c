/*
 * nvmpfsctl: statistics, scrub, flush/verify and bad ranges of an nvmpfs
 * mount, for people (aligned text) and machines (--json).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "livewalk.h"
#include "nvmpfs.h"
#include "role.h"

static bool json;

static void usage(FILE *to)
{
	fprintf(to,
		"usage: nvmpfsctl [--json] COMMAND ...\n"
		"  stats MOUNTPOINT             counters of the mount\n"
		"  status MOUNTPOINT            the mirror: state, resync, lag\n"
		"  promote [--force] POOL       make a mirror's pool a primary's\n"
		"                               (--force: even caught mid-resync)\n"
		"  demote POOL                  make an old primary's pool a mirror's\n"
		"  scrub [--adopt] MOUNTPOINT [PATH...]\n"
		"                               verify every block's checksum; with\n"
		"                               --adopt, blocks without one get the\n"
		"                               checksum of what they hold first\n"
		"  flush FILE [OFF:LEN...]      optimized flush (default: whole file)\n"
		"  verify FILE [OFF:LEN...]     flush and verify; lists failed ranges\n"
		"  bad FILE                     known bad ranges of a file\n"
		"  attrs FILE                   NVM.PM.FILE attributes\n");
}

static int open_target(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "nvmpfsctl: %s: %s\n", path, strerror(errno));
	return fd;
}

/*
 * flush, verify and scrub change state (checksums, bad ranges): the daemon
 * wants a descriptor open for writing, unless the caller is root.  Root
 * opens read-only, which leaves no trace (no close-after-write events);
 * others fall back to read-only, and get the daemon's EBADF explained.
 */
static int open_for_change(const char *path)
{
	if (geteuid() != 0) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	return open_target(path, O_RDONLY);
}

static int ioctl_error(const char *path, const char *what)
{
	if (errno == ENOTTY)
		fprintf(stderr, "nvmpfsctl: %s: not on an nvmpfs mount\n", path);
	else if (errno == EBADF)
		fprintf(stderr, "nvmpfsctl: %s: %s needs write access to the "
			"file (or root)\n", path, what);
	else
		fprintf(stderr, "nvmpfsctl: %s: %s: %s\n", path, what,
			strerror(errno));
	return 2;
}

struct field {
	const char *name;
	uint64_t v;
};

/*
 * Named values: one JSON object, or aligned "name value" lines; a word
 * (word_name: word) may come first.
 */
static void print_named(const char *word_name, const char *word,
			const struct field *f, size_t n, int width)
{
	const char *sep = "{";
	if (word_name && json)
		printf("{\"%s\": \"%s\"", word_name, word);
	else if (word_name)
		printf("%-*s %s\n", width, word_name, word);
	if (word_name)
		sep = ", ";
	for (size_t i = 0; i < n; i++, sep = ", ") {
		if (json)
			printf("%s\"%s\": %llu", sep, f[i].name,
			       (unsigned long long)f[i].v);
		else
			printf("%-*s %llu\n", width, f[i].name,
			       (unsigned long long)f[i].v);
	}
	if (json)
		printf("}\n");
}

static void print_fields(const struct field *f, size_t n, int width)
{
	print_named(NULL, NULL, f, n, width);
}

static int cmd_stats(const char *mnt)
{
	int fd = open_target(mnt, O_RDONLY);
	if (fd < 0)
		return 2;
	struct nvmpfs_ioc_stats s;
	int rc = ioctl(fd, NVMPFS_IOC_STATS, &s);
	close(fd);
	if (rc < 0)
		return ioctl_error(mnt, "stats");
	static const char *const modes[] = { "pmem", "pmem-forced", "msync" };
	const char *mode = s.pool_mode < 3 ? modes[s.pool_mode] : "unknown";
	const struct field f[] = {
		{ "drains", s.drains },
		{ "background_drains", s.background_drains },
		{ "commits", s.commits },
		{ "writes", s.writes }, { "bytes_written", s.bytes_written },
		{ "fsyncs", s.fsyncs }, { "sync_points", s.sync_points },
		{ "sync_drains", s.sync_drains },
		{ "ranges_flushed", s.ranges_flushed },
		{ "bytes_flushed", s.bytes_flushed },
		{ "blocks_verified", s.blocks_verified },
		{ "verify_failures", s.verify_failures },
		{ "sync_ns", s.sync_ns },
		{ "syncs", s.syncs },
		{ "hot_extents", s.hot_extents },
		{ "persist_clients", s.persist_clients },
	};
	print_named("pool_mode", mode, f, sizeof(f) / sizeof(f[0]), 16);
	return 0;
}

/* ---- status: the mirror ---- */

static const char *mirror_state(uint32_t s)
{
	static const char *const names[] = { "none", "connecting", "syncing",
					     "synced", "degraded" };
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

/* Seconds left at the measured rate, or 0 when unknown. */
static uint64_t eta_seconds(const struct nvmpfs_ioc_mirror *m)
{
	if (!m->resync_bytes_per_s || m->resync_done >= m->resync_total ||
	    m->state != NVMPFS_MIRROR_SYNCING)
		return 0;
	return (m->resync_total - m->resync_done) * 4096 / m->resync_bytes_per_s;
}

static void status_json(const struct nvmpfs_ioc_mirror *m)
{
	printf("{\"mirror\": {\"state\": \"%s\", \"peer\": \"%s\", "
	       "\"sealed\": %s, \"epoch\": %llu, \"resync_done\": %llu, "
	       "\"resync_total\": %llu, \"resync_bytes_per_s\": %llu, "
	       "\"resync_eta_s\": %llu, \"out_of_sync\": %llu, "
	       "\"last_rtt_us\": %llu, \"batches_sent\": %llu, "
	       "\"batches_acked\": %llu, \"bytes_sent\": %llu, "
	       "\"attaches\": %llu, \"losses\": %llu, \"lag_batches\": %llu, "
	       "\"heals\": %llu, \"remote_bad\": %llu, \"resync_sent\": %llu, "
	       "\"sends\": %llu}}\n",
	       mirror_state(m->state), m->state ? m->peer : "",
	       m->sealed ? "true" : "false", (unsigned long long)m->epoch,
	       (unsigned long long)m->resync_done,
	       (unsigned long long)m->resync_total,
	       (unsigned long long)m->resync_bytes_per_s,
	       (unsigned long long)eta_seconds(m),
	       (unsigned long long)m->out_of_sync,
	       (unsigned long long)m->last_rtt_us,
	       (unsigned long long)m->batches_sent,
	       (unsigned long long)m->batches_acked,
	       (unsigned long long)m->bytes_sent,
	       (unsigned long long)m->attaches, (unsigned long long)m->losses,
	       (unsigned long long)(m->last_seq - m->acked_seq),
	       (unsigned long long)m->heals, (unsigned long long)m->remote_bad,
	       (unsigned long long)m->resync_sent,
	       (unsigned long long)m->sends);
}

static void status_text(const struct nvmpfs_ioc_mirror *m)
{
	printf("%-16s %s\n", "mirror", mirror_state(m->state));
	if (!m->state)
		return;
	printf("%-16s %s%s\n", "peer", m->peer, m->sealed ? " (sealed)" : "");
	printf("%-16s %llu\n", "epoch", (unsigned long long)m->epoch);
	printf("%-16s %llu of %llu blocks (%llu resent)", "resync",
	       (unsigned long long)m->resync_done,
	       (unsigned long long)m->resync_total,
	       (unsigned long long)m->resync_sent);
	if (m->resync_bytes_per_s && m->state == NVMPFS_MIRROR_SYNCING)
		printf(", %.1f MB/s, %llu s left",
		       (double)m->resync_bytes_per_s / 1e6,
		       (unsigned long long)eta_seconds(m));
	printf("\n%-16s %llu blocks\n", "out of sync",
	       (unsigned long long)m->out_of_sync);
	printf("%-16s %llu us\n", "last round trip",
	       (unsigned long long)m->last_rtt_us);
	printf("%-16s %llu sent, %llu acknowledged, %llu bytes, in %llu "
	       "sends\n", "batches", (unsigned long long)m->batches_sent,
	       (unsigned long long)m->batches_acked,
	       (unsigned long long)m->bytes_sent, (unsigned long long)m->sends);
	printf("%-16s %llu attaches, %llu losses\n", "connection",
	       (unsigned long long)m->attaches, (unsigned long long)m->losses);
	printf("%-16s %llu healed from the mirror, %llu bad on the mirror\n",
	       "verify", (unsigned long long)m->heals,
	       (unsigned long long)m->remote_bad);
}

static int cmd_status(const char *mnt)
{
	int fd = open_target(mnt, O_RDONLY);
	if (fd < 0)
		return 2;
	struct nvmpfs_ioc_mirror m;
	int rc = ioctl(fd, NVMPFS_IOC_MIRROR, &m);
	close(fd);
	if (rc < 0)
		return ioctl_error(mnt, "status");
	m.peer[sizeof(m.peer) - 1] = '\0';
	if (json)
		status_json(&m);
	else
		status_text(&m);
	return 0;
}

/* ---- promote, demote: a pool's role in a mirrored pair ---- */

static int cmd_promote(const char *pool, bool force)
{
	char err[4600];
	uint64_t before, after, data_bad = 0;
	if (role_promote(pool, force, &before, &after, &data_bad, err,
			 sizeof(err)) < 0) {
		fprintf(stderr, "nvmpfsctl: %s\n", err);
		return 2;
	}
	if (json) {
		printf("{\"promoted\": \"%s\", \"epoch\": %llu, "
		       "\"old_epoch\": %llu, \"bad_data_blocks\": %llu}\n",
		       pool, (unsigned long long)after,
		       (unsigned long long)before, (unsigned long long)data_bad);
		return 0;
	}
	printf("%s promoted: epoch %llu -> %llu; mount it with nvmpfs. "
	       "Its old primary is refused as a mirror until it is "
	       "demoted (nvmpfsctl demote).\n", pool,
	       (unsigned long long)before, (unsigned long long)after);
	if (data_bad)
		printf("%llu data blocks fail their checksums: reads of them "
		       "fail with EIO; after mounting, 'nvmpfsctl scrub' names "
		       "their files (restore those from elsewhere).\n",
		       (unsigned long long)data_bad);
	return 0;
}

static int cmd_demote(const char *pool)
{
	char err[512];
	uint64_t epoch;
	if (role_demote(pool, &epoch, err, sizeof(err)) < 0) {
		fprintf(stderr, "nvmpfsctl: %s\n", err);
		return 2;
	}
	if (json)
		printf("{\"demoted\": \"%s\", \"epoch\": %llu}\n", pool,
		       (unsigned long long)epoch);
	else
		printf("%s demoted (epoch %llu): it mounts no more; serve it with "
		       "nvmpfs-mirror and the primary copies every block that "
		       "differs.\n", pool, (unsigned long long)epoch);
	return 0;
}

/* ---- scrub ---- */

struct scrub_totals {
	uint64_t files, bytes_total, bytes_done;
	uint64_t blocks_checked, blocks_unverified, mismatches, healed;
	uint64_t blocks_adopted, blocks_leased;
	int errors;
	bool counting, tty, adopt;
};
static struct scrub_totals tot;

static void show_progress(void)
{
	if (!tot.tty || tot.bytes_total == 0)
		return;
	unsigned pct = (unsigned)(tot.bytes_done * 100 / tot.bytes_total);
	int bar = (int)(pct / 4);
	fprintf(stderr, "\rscrub [%-25.*s] %3u%%  %llu MiB of %llu MiB", bar,
		"#########################", pct,
		(unsigned long long)(tot.bytes_done >> 20),
		(unsigned long long)(tot.bytes_total >> 20));
}

/*
 * Blocks without a checksum get the checksum of what they hold: their
 * contents are accepted (a crash left them unverified).  Blocks a program
 * maps directly and may still store into are left alone, and counted.
 */
static int adopt_file(const char *path, int fd)
{
	struct nvmpfs_ioc_adopt a = { .max_blocks = 4096 };
	do {
		if (ioctl(fd, NVMPFS_IOC_ADOPT, &a) < 0) {
			ioctl_error(path, "scrub --adopt");
			return -1;
		}
		tot.blocks_adopted += a.blocks_adopted;
		tot.blocks_leased += a.blocks_leased;
		a.start_block = a.next_block;
	} while (!a.done);
	return 0;
}


/* Opened from the folder the walk found it in (see open_for_change). */
static int open_to_scrub(int dirfd, const char *name)
{
	if (geteuid() != 0) {
		int fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	return openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

static void scrub_file(int dirfd, const char *name, const char *path,
		       const struct stat *st)
{
	int fd = open_to_scrub(dirfd, name);
	struct stat now;
	/*
	 * Removed or moved since the walk listed it (another file, a
	 * folder may have its name now): it is not there to check.
	 */
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return;
	if (fd < 0 || fstat(fd, &now) < 0) {
		fprintf(stderr, "nvmpfsctl: %s: %s\n", path, strerror(errno));
		tot.errors++;
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!S_ISREG(now.st_mode)) {
		close(fd);
		return;
	}
	if (tot.adopt && adopt_file(path, fd) < 0) {
		tot.errors++;
		close(fd);
		return;
	}
	struct nvmpfs_ioc_scrub s = { .max_blocks = 4096 };
	do {
		if (ioctl(fd, NVMPFS_IOC_SCRUB, &s) < 0) {
			ioctl_error(path, "scrub");
			tot.errors++;
			break;
		}
		tot.blocks_checked += s.blocks_checked;
		tot.blocks_unverified += s.blocks_unverified;
		tot.mismatches += s.mismatches;
		tot.healed += s.healed;
		if (s.healed)
			fprintf(stderr, "%snvmpfsctl: %s: %u bad blocks healed "
				"from the mirror\n", tot.tty ? "\n" : "", path,
				s.healed);
		if (s.mismatches > s.healed)
			fprintf(stderr, "%snvmpfsctl: %s: %llu bad blocks (see "
				"'nvmpfsctl bad %s')\n", tot.tty ? "\n" : "",
				path, (unsigned long long)(s.mismatches - s.healed),
				path);
		uint64_t done = s.next_block * 4096;
		uint64_t before = (s.start_block) * 4096;
		tot.bytes_done += (done < (uint64_t)st->st_size ? done
								: (uint64_t)st->st_size) -
				  (before < (uint64_t)st->st_size ? before
								  : (uint64_t)st->st_size);
		s.start_block = s.next_block;
		show_progress();
	} while (!s.done);
	close(fd);
	tot.files++;
}

static int visit(int dirfd, const char *name, const char *path,
		 const struct stat *st, void *arg)
{
	(void)arg;
	if (tot.counting)
		tot.bytes_total += (uint64_t)st->st_size;
	else
		scrub_file(dirfd, name, path, st);
	return 0;
}

static int cmd_scrub(int argc, char **argv)
{
	tot.tty = isatty(STDERR_FILENO);
	for (int pass = 0; pass < 2; pass++) {
		tot.counting = pass == 0;
		/* the first pass only counts: its errors show in the second */
		for (int i = 1; i < argc; i++)
			livewalk(argv[i], visit, NULL,
				 tot.counting ? NULL : &tot.errors);
	}
	if (tot.tty)
		fputc('\n', stderr);
	if (json && tot.adopt)
		printf("{\"files\": %llu, \"bytes\": %llu, \"blocks_checked\": "
		       "%llu, \"blocks_unverified\": %llu, \"mismatches\": %llu, "
		       "\"healed\": %llu, \"blocks_adopted\": %llu, "
		       "\"blocks_leased\": %llu, \"errors\": %d}\n",
		       (unsigned long long)tot.files,
		       (unsigned long long)tot.bytes_done,
		       (unsigned long long)tot.blocks_checked,
		       (unsigned long long)tot.blocks_unverified,
		       (unsigned long long)tot.mismatches,
		       (unsigned long long)tot.healed,
		       (unsigned long long)tot.blocks_adopted,
		       (unsigned long long)tot.blocks_leased, tot.errors);
	else if (json)
		printf("{\"files\": %llu, \"bytes\": %llu, \"blocks_checked\": "
		       "%llu, \"blocks_unverified\": %llu, \"mismatches\": %llu, "
		       "\"healed\": %llu, \"errors\": %d}\n",
		       (unsigned long long)tot.files,
		       (unsigned long long)tot.bytes_done,
		       (unsigned long long)tot.blocks_checked,
		       (unsigned long long)tot.blocks_unverified,
		       (unsigned long long)tot.mismatches,
		       (unsigned long long)tot.healed, tot.errors);
	else if (tot.adopt)
		printf("adopt: %llu blocks without a checksum given one, %llu "
		       "under a direct mapping left unverified\n",
		       (unsigned long long)tot.blocks_adopted,
		       (unsigned long long)tot.blocks_leased);
	if (!json)
		printf("scrub: %llu files, %llu bytes, %llu blocks checked, %llu "
		       "without checksum, %llu mismatches\n",
		       (unsigned long long)tot.files,
		       (unsigned long long)tot.bytes_done,
		       (unsigned long long)tot.blocks_checked,
		       (unsigned long long)tot.blocks_unverified,
		       (unsigned long long)tot.mismatches);
	if (!json && tot.healed)
		printf("scrub: %llu of the mismatches healed from the mirror\n",
		       (unsigned long long)tot.healed);
	return tot.errors ? 2 : tot.mismatches > tot.healed ? 1 : 0;
}

/* ---- flush, verify, bad ranges ---- */

static int parse_ranges(int fd, int argc, char **argv, struct nvmpfs_range *r,
			size_t *count)
{
	*count = 0;
	if (argc == 0) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -1;
		r[0] = (struct nvmpfs_range){ 0, (uint64_t)st.st_size };
		*count = 1;
		return 0;
	}
	if (argc > NVMPFS_MAX_RANGES) {
		fprintf(stderr, "nvmpfsctl: at most %d ranges\n", NVMPFS_MAX_RANGES);
		return -1;
	}
	for (int i = 0; i < argc; i++) {
		unsigned long long off, len;
		char extra;
		if (sscanf(argv[i], "%llu:%llu%c", &off, &len, &extra) != 2) {
			fprintf(stderr, "nvmpfsctl: '%s': a range is OFFSET:LENGTH\n",
				argv[i]);
			return -1;
		}
		r[(*count)++] = (struct nvmpfs_range){ off, len };
	}
	return 0;
}

static void print_ranges(const char *label, const struct nvmpfs_range *r,
			 size_t n, size_t total)
{
	if (json) {
		printf("{\"%s\": [", label);
		for (size_t i = 0; i < n; i++)
			printf("%s{\"offset\": %llu, \"length\": %llu}", i ? ", " : "",
			       (unsigned long long)r[i].off,
			       (unsigned long long)r[i].len);
		printf("], \"total\": %zu}\n", total);
		return;
	}
	printf("%s: %zu\n", label, total);
	for (size_t i = 0; i < n; i++)
		printf("  offset %llu length %llu\n", (unsigned long long)r[i].off,
		       (unsigned long long)r[i].len);
}

/*
 * The failed ranges of a verify; with a mirror that checked too, the last
 * res->nfailed_mirror of them are the mirror's.
 */
static void print_verify(const struct nvmpfs_range *r,
			 const struct nvmpfs_verify_result *res)
{
	size_t n = res->nfailed < NVMPFS_MAX_RANGES ? res->nfailed
						    : NVMPFS_MAX_RANGES;
	if (!res->mirror_checked) {
		print_ranges("failed_ranges", r, n, res->nfailed);
		return;
	}
	size_t first_mirror = n - (res->nfailed_mirror < n ? res->nfailed_mirror : n);
	if (json) {
		printf("{\"failed_ranges\": [");
		for (size_t i = 0; i < n; i++)
			printf("%s{\"offset\": %llu, \"length\": %llu, "
			       "\"where\": \"%s\"}", i ? ", " : "",
			       (unsigned long long)r[i].off,
			       (unsigned long long)r[i].len,
			       i >= first_mirror ? "mirror" : "local");
		printf("], \"total\": %zu, \"mirror_checked\": true, "
		       "\"failed_on_mirror\": %zu}\n", res->nfailed,
		       res->nfailed_mirror);
		return;
	}
	printf("failed_ranges: %zu\n", res->nfailed);
	for (size_t i = 0; i < n; i++)
		printf("  offset %llu length %llu%s\n",
		       (unsigned long long)r[i].off,
		       (unsigned long long)r[i].len,
		       i >= first_mirror ? " (on the mirror)" : "");
	printf("mirror: checked, %zu failed there%s\n", res->nfailed_mirror,
	       res->nfailed_mirror ? " (resent to it)" : "");
}

static int cmd_flush(int argc, char **argv, bool verify)
{
	int fd = open_for_change(argv[1]);
	if (fd < 0)
		return 2;
	struct nvmpfs_range r[NVMPFS_MAX_RANGES], failed[NVMPFS_MAX_RANGES];
	size_t count;
	struct nvmpfs_verify_result res = { 0 };
	int rc = parse_ranges(fd, argc - 2, argv + 2, r, &count);
	if (rc == 0)
		rc = verify ? nvmpfs_optimized_flush_and_verify_mirror(
				      fd, r, count, failed, NVMPFS_MAX_RANGES, &res)
			    : nvmpfs_optimized_flush(fd, r, count);
	int saved = errno;
	close(fd);
	if (rc < 0) {
		errno = saved;
		return ioctl_error(argv[1], verify ? "verify" : "flush");
	}
	if (verify)
		print_verify(failed, &res);
	else if (json)
		printf("{\"flushed_ranges\": %zu}\n", count);
	return res.nfailed ? 1 : 0;
}

static int cmd_bad(const char *path)
{
	int fd = open_target(path, O_RDONLY);
	if (fd < 0)
		return 2;
	struct nvmpfs_range r[NVMPFS_MAX_RANGES];
	ssize_t n = nvmpfs_bad_ranges(fd, r, NVMPFS_MAX_RANGES);
	close(fd);
	if (n < 0)
		return ioctl_error(path, "bad ranges");
	print_ranges("bad_ranges", r, n < NVMPFS_MAX_RANGES ? (size_t)n
							    : NVMPFS_MAX_RANGES,
		     (size_t)n);
	return n ? 1 : 0;
}

static int cmd_attrs(const char *path)
{
	int fd = open_target(path, O_RDONLY);
	if (fd < 0)
		return 2;
	struct nvmpfs_attributes a;
	int rc = nvmpfs_get_attributes(fd, &a);
	close(fd);
	if (rc < 0)
		return ioctl_error(path, "attributes");
	const struct field f[] = {
		{ "optimized_flush_capable", a.optimized_flush_capable },
		{ "flush_and_verify_capable", a.flush_and_verify_capable },
		{ "async_flush_capable", a.async_flush_capable },
		{ "interrupted_store_atomicity", a.interrupted_store_atomicity },
		{ "fundamental_error_range", a.fundamental_error_range },
		{ "fundamental_error_range_offset", a.fundamental_error_range_offset },
		{ "max_ranges_per_flush", a.max_ranges_per_flush },
		{ "mirrored", a.mirrored },
	};
	print_fields(f, sizeof(f) / sizeof(f[0]), 32);
	return 0;
}

/* --json may come after the command too (nvmpfsctl status MNT --json). */
static int take_trailing_json(int argc, char **argv)
{
	int n = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	argc = take_trailing_json(argc, argv);
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "nvmpfsctl: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	argc -= i;
	argv += i;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[0];
	if (strcmp(cmd, "promote") == 0 && argc == 2)
		return cmd_promote(argv[1], false);
	if (strcmp(cmd, "promote") == 0 && argc == 3 &&
	    strcmp(argv[1], "--force") == 0)
		return cmd_promote(argv[2], true);
	if (strcmp(cmd, "demote") == 0 && argc == 2)
		return cmd_demote(argv[1]);
	if (strcmp(cmd, "status") == 0 && argc == 2)
		return cmd_status(argv[1]);
	if (strcmp(cmd, "stats") == 0 && argc == 2)
		return cmd_stats(argv[1]);
	if (strcmp(cmd, "scrub") == 0 && strcmp(argv[1], "--adopt") == 0) {
		tot.adopt = true;
		argc--;
		argv++;
		if (argc < 2) {
			usage(stderr);
			return 2;
		}
	}
	if (strcmp(cmd, "scrub") == 0)
		return argc == 2 ? cmd_scrub(argc, argv) : cmd_scrub(argc - 1, argv + 1);
	if (strcmp(cmd, "flush") == 0)
		return cmd_flush(argc, argv, false);
	if (strcmp(cmd, "verify") == 0)
		return cmd_flush(argc, argv, true);
	if (strcmp(cmd, "bad") == 0 && argc == 2)
		return cmd_bad(argv[1]);
	if (strcmp(cmd, "attrs") == 0 && argc == 2)
		return cmd_attrs(argv[1]);
	fprintf(stderr, "nvmpfsctl: unknown command or wrong arguments: %s\n", cmd);
	usage(stderr);
	return 2;
}
