/*
 * nvmpfs: mounts a pool.  The pool is opened (and recovered, if the last
 * run crashed) before anything is mounted, so every pool error is reported
 * on the terminal; the daemon goes to the background only once the mount
 * is in place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "deadmount.h"
#include "device_io.h"
#include "mounttab.h"
#include "options.h"
#include "ops.h"
#include "persist_socket.h"
#include "workers.h"
#include "pool_perms.h"
#include "sender.h"
#include "poolwait.h"
#include "remount.h"

static void usage(void)
{
	printf("usage: nvmpfs [-f] [-d] [-s] [-o OPTIONS] [POOL] MOUNTPOINT\n"
	       "       nvmpfs [POOL] MOUNTPOINT -o remount,ro|rw\n"
	       "\n"
	       "Mounts the nvmpfs pool POOL (made on first use; without POOL,\n"
	       "the default pool) on MOUNTPOINT, or switches the running mount\n"
	       "read-only or read-write.\n"
	       "\n"
	       "  -f              stay in the foreground\n"
	       "  -d              debug output (implies -f)\n"
	       "  -s              one worker thread\n"
	       "  -o pool=PATH    the pool (same as the POOL argument)\n"
	       "  -o size=SIZE    size of a new pool (default 1G)\n"
	       "  -o ro           read-only\n"
	       "  -o noatime|relatime|strictatime   access time updates\n"
	       "  -o nodiratime     no access time updates of directories\n"
	       "  -o csum=off       no checksums of written blocks\n"
	       "  -o verify=off     do not check checksums on read\n"
	       "  -o noacl          no POSIX ACLs\n"
	       "  -o unsafe_pool_perms  mount a pool that other users may\n"
	       "                    read or write (they read every file's data)\n"
	       "  -o mirror=HOST:PORT,mirror_key=KEYFILE   replicate to an\n"
	       "                    nvmpfs-mirror; with it:\n"
	       "     mirror_timeout=MS (2000)  no acknowledgement for this long:\n"
	       "                    the mirror is lost\n"
	       "     mirror_policy=degrade|block  when it is lost, sync points\n"
	       "                    go on (changes marked for resync) or wait\n"
	       "     mirror_sync=points|all  which calls wait for the mirror\n"
	       "     resync_rate=MB/s  cap on resync traffic (0: none)\n"
	       "     mirror_seal=on|off  AES-256-GCM on the wire\n"
	       "     mirror_hold=MS (5)  batches no sync point waits for yet\n"
	       "                    may wait this long to leave together\n"
	       "  -o persist_socket=auto|on|off  the socket through which\n"
	       "                    programs with NVMPFS_DIRECT_PERSIST=socket\n"
	       "                    persist direct mappings (auto: with a mirror)\n"
	       "  -o allow_other, default_permissions, fsname=, subtype= and the\n"
	       "     generic mount options (nosuid, noexec, sync, nosymfollow ...)\n"
	       "\n"
	       "See nvmpfs(8).\n");
}

/* Problems found while serving: the terminal in the foreground, else syslog. */
static bool log_to_stderr = true;

static void daemon_log(const char *msg)
{
	if (log_to_stderr)
		fprintf(stderr, "nvmpfs: %s\n", msg);
	else
		syslog(LOG_WARNING, "%s", msg);
}

/*
 * Which persist path the pool runs, said on the terminal where it matters
 * (real persistent memory, or the slow path), and always in the log.
 */
static void report_mode(const char *pool, struct nvfs *fs)
{
	const char *mode = nvfs_pool_mode(fs);
	char line[1024];
	if (strcmp(mode, "pmem") == 0)
		snprintf(line, sizeof(line), "%s: persistent memory mapped with "
			 "MAP_SYNC: flushes with CPU instructions (mode pmem)",
			 pool);
	else if (strcmp(mode, "pmem-forced") == 0)
		snprintf(line, sizeof(line), "%s: PMEM_IS_PMEM_FORCE is set: "
			 "flushes with CPU instructions as if this were "
			 "persistent memory (mode pmem-forced; for tests)", pool);
	else
		snprintf(line, sizeof(line), "%s: not persistent memory (the "
			 "kernel refused MAP_SYNC): every drain is an fdatasync "
			 "of the pool file, shared by concurrent calls (mode "
			 "msync); a pool on a DAX file system runs the fast path",
			 pool);
	if (strcmp(mode, "pmem-forced") != 0)
		fprintf(stderr, "nvmpfs: %s\n", line);
	syslog(LOG_INFO, "%s", line);
}

static void report_recovery(const char *pool, const struct nvfs_mount_report *r)
{
	if (r->created)
		fprintf(stderr, "nvmpfs: made a new pool %s\n", pool);
	if (!r->created && !r->was_clean)
		fprintf(stderr, "nvmpfs: %s was not unmounted cleanly; recovered: "
			"%d journal records rolled back, %llu orphan inodes "
			"freed, %llu truncates finished%s%.0llu%s\n", pool,
			r->undone_records,
			(unsigned long long)r->orphans_freed,
			(unsigned long long)r->truncates_finished,
			r->creates_settled ? ", " : "",
			(unsigned long long)r->creates_settled,
			r->creates_settled ? " creates cut short settled" : "");
	if (r->torn_blocks)
		fprintf(stderr, "nvmpfs: %s: %llu blocks were being written at "
			"the crash: their data is kept, unverified (no "
			"checksum) until rewritten\n", pool,
			(unsigned long long)r->torn_blocks);
}

/*
 * The mount's source: the pool's absolute path, so that the mount table
 * names it whatever the folder of the caller (the checks of deadmount.c,
 * poolwait.c and remount.c look for it there), with commas and
 * backslashes escaped for libfuse's option parser.
 */
static char *fsname_of(const char *pool)
{
	char *abs = realpath(pool, NULL);
	const char *p = abs ? abs : pool;
	char *out = malloc(2 * strlen(p) + 1), *w = out;
	for (; out && *p; p++) {
		if (*p == ',' || *p == '\\')
			*w++ = '\\';
		*w++ = *p;
	}
	if (out)
		*w = '\0';
	free(abs);
	return out;
}

static struct fuse_session *start_session(const struct daemon_opts *o,
					  const char *pool, struct nvfs *fs)
{
	char *opts = NULL;
	char *fsname = o->fsname_given ? NULL : fsname_of(pool);
	if (!o->fsname_given && !fsname)
		return NULL;
	int n = asprintf(&opts, "default_permissions,subtype=nvmpfs%s%s%s%s",
			 fsname ? ",fsname=" : "", fsname ? fsname : "",
			 o->kernel_opts ? "," : "",
			 o->kernel_opts ? o->kernel_opts : "");
	free(fsname);
	if (n < 0)
		return NULL;
	char *argv[] = { "nvmpfs", "-o", opts, o->debug ? "-d" : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, argv);
	struct fuse_session *se =
		fuse_session_new(&args, &nvmpfs_ops, sizeof(nvmpfs_ops), fs);
	fuse_opt_free_args(&args);
	free(opts);
	if (se)
		ops_set_session(se);
	return se;
}

/*
 * Workers: at most this many requests are processed at once (sync points
 * waiting for the mirror, drains of a pool on disk); only a few of them
 * read requests while the load is light (workers.h).  Every worker is
 * joined before serve returns, so that the core's per-thread exit work
 * (pool.c, drain_at_exit) is done before the unmount frees the pool.
 */
#define WORKER_THREADS 32

static int serve(struct fuse_session *se, const struct daemon_opts *o)
{
	if (o->single_thread)
		return fuse_session_loop(se);
	nvfs_set_wait_hook(workers_may_block);
	int rc = workers_serve(se, WORKER_THREADS);
	nvfs_set_wait_hook(NULL);
	return rc;
}

/* Tries the mount again until the lock is free or the time is up. */
static int retry_while_busy(const char *pool, const struct nvfs_mount_opts *mo,
			    struct nvfs **fs, struct nvfs_mount_report *report,
			    char *err, size_t errlen)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int rc;
	do {
		usleep(20 * 1000);
		rc = nvfs_mount(pool, mo, fs, report, err, errlen);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (rc == -EBUSY && now.tv_sec - start.tv_sec < POOL_WAIT_SECONDS);
	if (rc == -EBUSY)
		snprintf(err, errlen, "%s: the previous nvmpfs of this pool has "
			 "not let go of it after %d s; pool is in use", pool,
			 POOL_WAIT_SECONDS);
	return rc;
}

static void explain_busy(const char *pool)
{
	struct mount_entry e;
	if (mounttab_find_pool(pool, &e)) {
		fprintf(stderr, "nvmpfs: %s is mounted on %s\n", pool, e.target);
		mount_entry_free(&e);
	}
}

/*
 * Opens (and recovers) the pool.  An unmount returns before its daemon has
 * let go of the pool: a mount right after it waits for that daemon.
 */
static struct nvfs *open_pool(const struct daemon_opts *o, const char *pool)
{
	struct nvfs_mount_opts mo = {
		.read_only = o->read_only,
		.create = true,
		.create_size = o->size ? o->size : NVMPFS_DEFAULT_POOL_SIZE,
		.atime_mode = o->atime_mode,
		.no_diratime = o->no_diratime,
		.no_csum = o->no_csum,
		.no_verify = o->no_verify,
		.no_acl = o->no_acl,
		.mirrored = o->mirror.addr != NULL,
	};
	struct nvfs *fs;
	struct nvfs_mount_report report;
	char err[1024];
	if (pool_perms_check(pool, o->unsafe_pool_perms, err, sizeof(err)) < 0) {
		fprintf(stderr, "nvmpfs: %s\n", err);
		return NULL;
	}
	int rc = nvfs_mount(pool, &mo, &fs, &report, err, sizeof(err));
	if (rc == -EBUSY && pool_held_by_exiting_daemon(pool)) {
		fprintf(stderr, "nvmpfs: waiting for the previous nvmpfs of %s "
			"to exit\n", pool);
		rc = retry_while_busy(pool, &mo, &fs, &report, err, sizeof(err));
	} else if (rc == -EBUSY) {
		/* The holder may have let go since: once more, then it is in use. */
		rc = nvfs_mount(pool, &mo, &fs, &report, err, sizeof(err));
	}
	if (rc < 0) {
		fprintf(stderr, "nvmpfs: %s\n", err);
		if (rc == -EBUSY)
			explain_busy(pool);
		return NULL;
	}
	openlog("nvmpfs", LOG_PID, LOG_DAEMON);
	report_recovery(pool, &report);
	report_mode(pool, fs);
	nvfs_set_log(fs, daemon_log);
	return fs;
}

/*
 * nosymfollow is a flag of the mount that libfuse cannot pass: it is set
 * once the mount is in place (before the daemon serves: no request of the
 * file system is needed for it).
 */
static int apply_nosymfollow(const char *mnt)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSYMFOLLOW };
	if (mount_setattr(AT_FDCWD, mnt, 0, &attr, sizeof(attr)) == 0)
		return 0;
	fprintf(stderr, "nvmpfs: %s: cannot set nosymfollow on the mount: %s\n",
		mnt, strerror(errno));
	return -1;
}

/* The mirror, once the daemon serves (its threads start after the fork). */
static struct mirror *start_mirror(struct nvfs *fs, const struct mirror_opts *mo)
{
	struct mirror *m = NULL;
	char err[512];
	if (!mo->host[0])
		return NULL;
	if (mirror_start(fs, mo, &m, err, sizeof(err)) < 0) {
		daemon_log(err);
		return NULL;
	}
	ops_set_mirror(m);
	return m;
}

/*
 * The persist socket (persist_socket.h): with a mirror configured, where
 * a persist of a direct mapping must go through the daemon, unless
 * persist_socket=off; without one only with persist_socket=on (to
 * compare the paths).  A mount without it still works: programs persist
 * through the ioctl.
 */
static void start_persist_socket(struct nvfs *fs, const struct daemon_opts *o)
{
	char err[256];
	bool want = o->persist_socket == PERSIST_SOCKET_ON ||
		    (o->persist_socket == PERSIST_SOCKET_AUTO &&
		     ops_mirror_configured());
	if (want && persist_socket_start(fs, err, sizeof(err)) < 0)
		daemon_log(err);
}

/*
 * The pool is made clean while the mirror still listens, so that the
 * mirror's copy is clean too; then the mirror goes, then the pool.
 */
static void finish(struct nvfs *fs, struct mirror *m)
{
	persist_socket_stop();
	if (m) {
		nvfs_make_clean(fs);
		ops_set_mirror(NULL);
		mirror_stop(m);
	}
	nvfs_unmount(fs);
}

static int run(const struct daemon_opts *o, const char *pool)
{
	struct mirror_opts mo;
	if (mirror_opts_build(&o->mirror, &mo) < 0)
		return 2;
	if (clear_dead_mount(o->mountpoint, pool) < 0)
		return 1;
	struct nvfs *fs = open_pool(o, pool);
	if (!fs)
		return 2;
	struct mirror *m = NULL;
	struct fuse_session *se = start_session(o, pool, fs);
	if (!se) {
		nvfs_unmount(fs);
		return 1;
	}
	int rc = 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, o->mountpoint) != 0) {
		fprintf(stderr, "nvmpfs: cannot mount on %s\n", o->mountpoint);
		goto out_signals;
	}
	if ((o->flags_on & MS_NOSYMFOLLOW) && apply_nosymfollow(o->mountpoint))
		goto out_unmount;
	/* Only a cost if it fails: a GETXATTR before every WRITE. */
	if (device_io_attach(se) != 0)
		fprintf(stderr, "nvmpfs: %s: the kernel will ask for "
			"security.capability before every write (custom FUSE "
			"I/O refused)\n", o->mountpoint);
	fuse_daemonize(o->foreground);
	log_to_stderr = o->foreground;
	nvfs_start(fs);
	m = start_mirror(fs, &mo);
	start_persist_socket(fs, o);
	rc = serve(se, o) == 0 ? 0 : 1;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	finish(fs, m);
	return rc;
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	if (parse_daemon_args(argc, argv, &o) < 0)
		return 1;
	if (o.show_help) {
		usage();
		return 0;
	}
	if (o.show_version) {
		printf("nvmpfs %s (libfuse %s)\n", PACKAGE_VERSION,
		       fuse_pkgversion());
		return 0;
	}
	if (o.remount) {
		int rc = remount_running(&o);
		free_daemon_opts(&o);
		return rc;
	}
	char *pool = o.pool ? strdup(o.pool) : default_pool_path();
	if (!pool)
		return 2;
	int rc = run(&o, pool);
	free(pool);
	free_daemon_opts(&o);
	return rc;
}
