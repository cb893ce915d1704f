/*
 * libnvmpfs: direct mappings (nvmpfs_map_direct, nvmpfs_persist,
 * nvmpfs_is_direct; the man page libnvmpfs(3) has the whole story).
 *
 * Mapping: the daemon leases the range (NVMPFS_IOC_LEASE, through our
 * own dup of the caller's descriptor, which we keep until the unmap: the
 * lease belongs to that open file, and ends when it is released -- at our
 * unmap, or when the process dies).  The reply names the pool file and
 * the pool extents under the range.  We open the pool ourselves: the
 * kernel's permission check on the pool file decides who may map (EPERM
 * for everyone else; the daemon never hands out pool access), check that
 * it is the daemon's pool (the superblock's uuid), and hold a shared OFD
 * lock on its first byte until the unmap: a new daemon refuses to mount
 * the pool while such a lock lives (fs/core/pool.c), so that a daemon crash
 * never lets another file have our blocks.  The range is reserved
 * (PROT_NONE), then each extent is mapped over it at its pool offset,
 * with MAP_SYNC where the kernel allows it.
 *
 * Persisting: by the pool's mode as the daemon reports it -- cache-line
 * flushes and one fence (libpmem's pmem_flush / pmem_drain) on
 * persistent memory (pmem, or pmem-forced for tests), msync(MS_SYNC) of
 * the pool pages otherwise; or a round trip to the daemon when the pool
 * has a mirror or NVMPFS_DIRECT_PERSIST asks for it: through the
 * daemon's persist socket when NVMPFS_DIRECT_PERSIST=socket asks for it
 * and the lease reply offers it (persist_socket.c; not the default, see
 * SOCKET_BY_DEFAULT), else, or when the socket cannot carry a request,
 * NVMPFS_IOC_PERSIST on our descriptor of the file.
 *
 * The registry of mappings is read at every persist: a per-thread copy
 * of the last mapping used, valid while the registry's generation has not
 * moved, spares the lock on the fast path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "direct_map.h"
#include "nvmpfs.h"
#include "nvmpfs/layout.h"
#include "persist_socket.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

#define PAGE 4096u

/*
 * Which way a daemon persist goes when the environment does not say: the
 * ioctl.  bench/dax_bench measured both (kinds socket and ioctl, README
 * "Performance"): one persist at a time they cost the same within the
 * noise (two wakeups each); back to back the socket did 1.2-1.4x the
 * persists a second on a loaded machine, but the ioctl did 2.7-3.3x the
 * socket's on a quiet one (three runs), where the socket's server thread
 * is woken on an idle CPU for every request.
 */
#define SOCKET_BY_DEFAULT false

enum persist_kind {
	PERSIST_NONE,        /* read-only: nothing to persist */
	PERSIST_CPU,         /* flushes and a fence */
	PERSIST_MSYNC,       /* msync of the pool pages */
	PERSIST_DAEMON,      /* the persist socket or NVMPFS_IOC_PERSIST */
};

struct direct_map {
	char *addr;
	size_t len;          /* mapped: whole pages */
	uint64_t off;        /* file offset of addr */
	uint64_t lease_id;
	int file_fd;         /* our dup of the caller's descriptor */
	int pool_fd;         /* holds the OFD lock */
	enum persist_kind kind;
	struct psock_endpoint *sock; /* PERSIST_DAEMON through the socket */
	uint8_t token[NVMPFS_PERSIST_TOKEN_SIZE]; /* the lease's, for sock */
	unsigned long lease_cmd;     /* NVMPFS_IOC_LEASE, or _V1 (older daemon) */
};

static pthread_mutex_t dmu = PTHREAD_MUTEX_INITIALIZER;
static struct direct_map *dmaps;
static size_t ndmaps, cap_dmaps;
static uint64_t generation;         /* moves at every change of dmaps */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/*
 * initial-exec: one load off the thread pointer, not a call to
 * __tls_get_addr, on the path of every persist (a few dozen bytes of the
 * static TLS glibc keeps for libraries, also when dlopen'ed).
 */
static __thread struct {
	uint64_t gen;
	bool valid;
	struct direct_map m;
} last_used __attribute__((tls_model("initial-exec")));

static bool within(const struct direct_map *m, const char *a, size_t len)
{
	return a >= m->addr && len <= m->len &&
	       (size_t)(a - m->addr) <= m->len - len;
}

/* Index of the mapping holding [a, a+len) (dmu held), or -1. */
static ssize_t index_of(const char *a, size_t len)
{
	for (size_t i = 0; i < ndmaps; i++)
		if (within(&dmaps[i], a, len))
			return (ssize_t)i;
	return -1;
}

/* A copy of the mapping holding [addr, addr + len). */
static bool lookup(const void *addr, size_t len, struct direct_map *out)
{
	const char *a = addr;
	uint64_t gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
	if (last_used.valid && last_used.gen == gen &&
	    within(&last_used.m, a, len)) {
		*out = last_used.m;
		return true;
	}
	pthread_mutex_lock(&dmu);
	ssize_t i = index_of(a, len);
	if (i >= 0)
		*out = dmaps[i];
	gen = generation;
	pthread_mutex_unlock(&dmu);
	if (i < 0)
		return false;
	last_used.m = *out;
	last_used.gen = gen;
	last_used.valid = true;
	return true;
}

bool direct_holds(const void *addr, size_t len)
{
	struct direct_map m;
	return lookup(addr, len, &m);
}

int nvmpfs_is_direct(const void *addr)
{
	return direct_holds(addr, 1);
}

/* ---- persisting ---- */

static int msync_pages(const char *a, size_t len)
{
	uintptr_t start = (uintptr_t)a & ~(uintptr_t)(PAGE - 1);
	return msync((void *)start, (uintptr_t)a + len - start, MS_SYNC);
}

/*
 * One round trip: the daemon flushes the ranges (file offsets), drains,
 * and answers once the mirror has them.  The socket when the mapping has
 * one and it carries the request; the ioctl otherwise -- never a success
 * that was not the daemon's.
 */
static int persist_daemon(const struct direct_map *m,
			  const struct nvmpfs_range *r, size_t count)
{
	int rc;
	if (m->sock && psock_persist(m->sock, m->lease_id, m->token, r, count,
				     &rc)) {
		if (rc == 0)
			return 0;
		errno = -rc;
		return -1;
	}
	struct nvmpfs_ioc_persist p;
	memset(&p, 0, offsetof(struct nvmpfs_ioc_persist, ranges));
	p.lease_id = m->lease_id;
	p.count = (uint32_t)count;
	memcpy(p.ranges, r, count * sizeof(*r));
	return ioctl(m->file_fd, NVMPFS_IOC_PERSIST, &p) < 0 ? -1 : 0;
}

static struct nvmpfs_range file_range(const struct direct_map *m,
				      const char *a, size_t len)
{
	return (struct nvmpfs_range){ m->off + (uint64_t)(a - m->addr), len };
}

bool direct_persist(const void *addr, size_t len, int *rc)
{
	struct direct_map m;
	if (!lookup(addr, len, &m))
		return false;
	const char *a = addr;
	*rc = 0;
	switch (m.kind) {
	case PERSIST_NONE:
		break;
	case PERSIST_CPU:
		pmem_persist(a, len);
		break;
	case PERSIST_MSYNC:
		*rc = msync_pages(a, len);
		break;
	case PERSIST_DAEMON: {
		struct nvmpfs_range r = file_range(&m, a, len);
		*rc = persist_daemon(&m, &r, 1);
		break;
	}
	}
	return true;
}

/* The daemon ranges of one lease among ranges[from..), sent together. */
static int flush_via_daemon(const struct nvmpfs_addr_range *ranges,
			    size_t count, const struct direct_map *maps,
			    bool *done, size_t from)
{
	struct nvmpfs_range r[NVMPFS_MAX_RANGES];
	size_t n = 0;
	for (size_t i = from; i < count; i++) {
		if (done[i] || maps[i].kind != PERSIST_DAEMON ||
		    maps[i].lease_id != maps[from].lease_id ||
		    maps[i].file_fd != maps[from].file_fd)
			continue;
		r[n++] = file_range(&maps[i], ranges[i].addr, ranges[i].len);
		done[i] = true;
	}
	return persist_daemon(&maps[from], r, n);
}

int direct_flush(const struct nvmpfs_addr_range *ranges, size_t count,
		 const bool *direct)
{
	struct direct_map maps[NVMPFS_MAX_RANGES];
	bool done[NVMPFS_MAX_RANGES] = { false };
	bool fence = false;
	for (size_t i = 0; i < count; i++) {
		if (!direct[i])
			continue;
		if (!lookup(ranges[i].addr, ranges[i].len, &maps[i])) {
			errno = EINVAL; /* unmapped meanwhile */
			return -1;
		}
		if (maps[i].kind == PERSIST_CPU) {
			pmem_flush(ranges[i].addr, ranges[i].len);
			fence = true;
		} else if (maps[i].kind == PERSIST_MSYNC &&
			   msync_pages(ranges[i].addr, ranges[i].len) < 0) {
			return -1;
		}
	}
	if (fence)
		pmem_drain();
	for (size_t i = 0; i < count; i++)
		if (direct[i] && !done[i] && maps[i].kind == PERSIST_DAEMON &&
		    flush_via_daemon(ranges, count, maps, done, i) < 0)
			return -1;
	return 0;
}

/* ---- mapping ---- */

/*
 * A child of fork has no direct mapping (MADV_DONTFORK): it forgets them
 * and lets go of its copies of their descriptors.  The registry is locked
 * across the fork, so the child never sees it half-changed.
 */
static void lock_before_fork(void)
{
	pthread_mutex_lock(&dmu);
}

static void unlock_in_parent(void)
{
	pthread_mutex_unlock(&dmu);
}

static void forget_in_child(void)
{
	for (size_t i = 0; i < ndmaps; i++) {
		close(dmaps[i].pool_fd);
		close(dmaps[i].file_fd);
	}
	ndmaps = 0;
	generation++;
	last_used.valid = false;
	pthread_mutex_unlock(&dmu);
}

static void install_atfork(void)
{
	pthread_atfork(lock_before_fork, unlock_in_parent, forget_in_child);
}

static int take_lease(int fd, struct direct_map *m, uint64_t len,
		      bool writable, struct nvmpfs_ioc_lease *l)
{
	m->file_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (m->file_fd < 0)
		return -errno;
	l->off = m->off;
	l->len = len;
	l->flags = writable ? NVMPFS_LEASE_WRITABLE : 0;
	m->lease_cmd = NVMPFS_IOC_LEASE;
	int rc = ioctl(m->file_fd, m->lease_cmd, l);
	if (rc < 0 && errno == ENOTTY) {
		/* A daemon from before the persist socket knows the older size. */
		m->lease_cmd = NVMPFS_IOC_LEASE_V1;
		rc = ioctl(m->file_fd, m->lease_cmd, l);
	}
	if (rc < 0)
		return -errno;
	m->lease_id = l->lease_id;
	return 0;
}

/* Opens the pool as the caller may (the gate), checks it, locks it. */
static int open_pool(struct direct_map *m, struct nvmpfs_ioc_lease *l,
		     bool writable)
{
	l->pool_path[sizeof(l->pool_path) - 1] = '\0';
	m->pool_fd = open(l->pool_path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (m->pool_fd < 0)
		return errno == EACCES ? -EPERM : -errno;
	uint8_t uuid[16];
	ssize_t n = pread(m->pool_fd, uuid, sizeof(uuid),
			  offsetof(struct nvmpfs_super, uuid));
	if (n < 0)
		return -errno;
	if (n != sizeof(uuid) || memcmp(uuid, l->pool_uuid, sizeof(uuid)))
		return -ESTALE; /* another file now has the pool's name */
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 1 };
	if (fcntl(m->pool_fd, F_OFD_SETLK, &fl) < 0)
		return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
	return 0;
}

static int map_piece(char *at, size_t len, bool writable, int fd,
		     uint64_t pool_off, bool *synced)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	if (writable && mmap(at, len, prot, MAP_FIXED | MAP_SHARED_VALIDATE |
			     MAP_SYNC, fd, (off_t)pool_off) != MAP_FAILED)
		return 0;
	*synced = false;
	if (mmap(at, len, prot, MAP_FIXED | MAP_SHARED, fd, (off_t)pool_off) ==
	    MAP_FAILED)
		return -errno;
	return 0;
}

/*
 * Maps every extent of the lease over the reserved range, asking the
 * daemon for more when one reply did not carry them all.
 */
static int map_extents(struct direct_map *m, struct nvmpfs_ioc_lease *l,
		       bool writable, bool *synced)
{
	void *base = mmap(NULL, m->len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	m->addr = base;
	*synced = writable;
	uint64_t covered = 0;
	for (uint32_t idx = 0;;) {
		for (uint32_t i = 0; i < l->nextents; i++, idx++) {
			const struct nvmpfs_lease_extent *e = &l->extents[i];
			if (e->file_off != m->off + covered || e->len == 0 ||
			    e->len % PAGE || e->len > m->len - covered)
				return -EIO; /* not what the lease promises */
			int rc = map_piece(m->addr + covered, e->len, writable,
					   m->pool_fd, e->pool_off, synced);
			if (rc)
				return rc;
			covered += e->len;
		}
		if (idx >= l->total_extents || l->nextents == 0)
			break;
		l->first = idx;
		if (ioctl(m->file_fd, m->lease_cmd, l) < 0)
			return -errno;
	}
	if (covered != m->len)
		return -EIO;
	/* A child of fork must not store into blocks after our lease ends. */
	madvise(m->addr, m->len, MADV_DONTFORK);
	return 0;
}

/* NVMPFS_DIRECT_PERSIST: how a writable mapping persists. */
enum persist_force { FORCE_NONE, FORCE_DAEMON, FORCE_SOCKET, FORCE_IOCTL };

static int persist_force(enum persist_force *f)
{
	const char *v = getenv("NVMPFS_DIRECT_PERSIST");
	if (!v || !*v || strcmp(v, "auto") == 0)
		*f = FORCE_NONE;
	else if (strcmp(v, "daemon") == 0)
		*f = FORCE_DAEMON;
	else if (strcmp(v, "socket") == 0)
		*f = FORCE_SOCKET;
	else if (strcmp(v, "ioctl") == 0)
		*f = FORCE_IOCTL;
	else
		return -EINVAL;
	return 0;
}

static int choose_persist(const struct nvmpfs_ioc_lease *l, bool writable,
			  bool synced, struct direct_map *m)
{
	enum persist_force force;
	if (persist_force(&force))
		return -EINVAL;
	if (!writable)
		m->kind = PERSIST_NONE;
	else if ((l->persist_flags & NVMPFS_LEASE_PERSIST_VIA_DAEMON) ||
		 force != FORCE_NONE)
		m->kind = PERSIST_DAEMON;
	else if (l->pool_mode == NVMPFS_POOL_MODE_PMEM_FORCED ||
		 (l->pool_mode == NVMPFS_POOL_MODE_PMEM && synced))
		m->kind = PERSIST_CPU;
	else
		m->kind = PERSIST_MSYNC;
	bool socket = force == FORCE_SOCKET ||
		      (SOCKET_BY_DEFAULT && force != FORCE_IOCTL);
	if (m->kind == PERSIST_DAEMON && socket &&
	    (l->persist_flags & NVMPFS_LEASE_PERSIST_SOCKET)) {
		/* Without memory for it, the ioctl. */
		m->sock = psock_get(l);
		memcpy(m->token, l->persist_token, sizeof(m->token));
	}
	return 0;
}

static int remember(const struct direct_map *m)
{
	pthread_mutex_lock(&dmu);
	if (ndmaps == cap_dmaps) {
		size_t cap = cap_dmaps ? cap_dmaps * 2 : 8;
		struct direct_map *a = realloc(dmaps, cap * sizeof(*a));
		if (!a) {
			pthread_mutex_unlock(&dmu);
			return -ENOMEM;
		}
		dmaps = a;
		cap_dmaps = cap;
	}
	dmaps[ndmaps++] = *m;
	__atomic_add_fetch(&generation, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&dmu);
	return 0;
}

/* Undoes whatever of a mapping exists: mapping, lock, lease, descriptor. */
static void release(const struct direct_map *m)
{
	if (m->addr)
		munmap(m->addr, m->len);
	if (m->pool_fd >= 0)
		close(m->pool_fd);
	if (m->lease_id) {
		struct nvmpfs_ioc_unlease u = { .lease_id = m->lease_id };
		ioctl(m->file_fd, NVMPFS_IOC_UNLEASE, &u);
	}
	if (m->file_fd >= 0)
		close(m->file_fd);
	psock_put(m->sock);
}

static int check_args(int fd, size_t len, off_t off, bool *writable)
{
	if (len == 0 || off < 0 || off % PAGE || len > SIZE_MAX - PAGE ||
	    (uint64_t)off > UINT64_MAX - len || sysconf(_SC_PAGESIZE) != PAGE)
		return -EINVAL;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if ((flags & O_ACCMODE) == O_WRONLY)
		return -EACCES; /* as mmap: a mapping reads */
	*writable = (flags & O_ACCMODE) == O_RDWR;
	return 0;
}

void *nvmpfs_map_direct(int fd, size_t len, off_t off)
{
	bool writable = false, synced = false;
	int rc = check_args(fd, len, off, &writable);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	pthread_once(&atfork_once, install_atfork);
	struct direct_map m = { .len = (len + PAGE - 1) / PAGE * PAGE,
				.off = (uint64_t)off, .file_fd = -1,
				.pool_fd = -1 };
	struct nvmpfs_ioc_lease *l = calloc(1, sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	rc = take_lease(fd, &m, len, writable, l);
	if (rc == 0)
		rc = open_pool(&m, l, writable);
	if (rc == 0)
		rc = map_extents(&m, l, writable, &synced);
	if (rc == 0)
		rc = choose_persist(l, writable, synced, &m);
	if (rc == 0)
		rc = remember(&m);
	free(l);
	if (rc) {
		release(&m);
		errno = -rc;
		return NULL;
	}
	return m.addr;
}

bool direct_unmap(void *addr, size_t len, int *rc)
{
	struct direct_map m;
	pthread_mutex_lock(&dmu);
	ssize_t i = index_of(addr, 1);
	if (i < 0) {
		pthread_mutex_unlock(&dmu);
		return false;
	}
	m = dmaps[i];
	size_t whole = len <= SIZE_MAX - PAGE ? (len + PAGE - 1) / PAGE * PAGE : 0;
	if (m.addr != (char *)addr || whole != m.len) {
		/* Part of a direct mapping: not supported. */
		pthread_mutex_unlock(&dmu);
		errno = EINVAL;
		*rc = -1;
		return true;
	}
	dmaps[i] = dmaps[--ndmaps];
	__atomic_add_fetch(&generation, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&dmu);
	release(&m);
	*rc = 0;
	return true;
}
