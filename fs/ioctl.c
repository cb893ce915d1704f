/*
 * The ioctls of libnvmpfs and nvmpfsctl (include/nvmpfs.h): each is one
 * request in, one reply out, translated to one call of the core.
 *
 * The kernel sends an ioctl on any open file, whatever its open mode.
 * Those that act as a writer would (flush is a sync point and, with
 * verify, records bad ranges; scrub records bad ranges) need a descriptor open
 * for writing, as write(2) does, and fail with EBADF on one open
 * read-only -- except for root.  Remount is root's alone.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "lease_ioctl.h"
#include "nvfs.h"
#include "nvmpfs.h"
#include "ops.h"
#include "persist_socket.h"
#include "sender.h"

/* A long request stops when its caller goes away (FUSE INTERRUPT). */
static bool caller_gone(void *req)
{
	return fuse_req_interrupted(req);
}

/*
 * FlushAndVerify on the mirror too: its copies of the blocks of the
 * ranges are checked against their checksums; the ones it holds wrong are
 * appended to f's failed ranges.  Nothing to do without an attached
 * mirror (the flag NVMPFS_FLUSH_MIRROR_CHECKED stays clear).
 */
static int verify_on_mirror(struct nvfs *fs, fuse_ino_t ino,
			    const struct nvfs_range *ranges,
			    struct nvmpfs_ioc_flush *f)
{
	struct mirror *m = ops_mirror();
	if (!m || !mirror_attached(m))
		return 0;
	struct nvfs_block_sum *sums;
	size_t n;
	int rc = nvfs_block_sums(fs, ino, ranges, f->count, &sums, &n);
	uint64_t *bad = NULL;
	size_t nbad = 0;
	if (rc == 0)
		rc = mirror_verify(m, sums, n, &bad, &nbad);
	if (rc == 0) {
		f->flags |= NVMPFS_FLUSH_MIRROR_CHECKED;
		for (size_t i = 0; i < nbad; i++)
			for (size_t j = 0; j < n; j++)
				if (sums[j].pblk == bad[i] &&
				    f->nfailed < NVMPFS_MAX_RANGES) {
					f->ranges[f->nfailed++] = (struct nvmpfs_range){
						sums[j].off, 4096 };
					f->nfailed_mirror++;
					break;
				}
	}
	free(sums);
	free(bad);
	/* A mirror lost meanwhile is the mirror's business (degraded); the
	 * local answer stands. */
	return rc == -ENOMEM ? rc : 0;
}

static void ioctl_flush(fuse_req_t req, struct nvfs *fs, fuse_ino_t ino,
			const void *in, size_t in_size)
{
	struct nvmpfs_ioc_flush *f = malloc(sizeof(*f));
	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(f, in, in_size < sizeof(*f) ? in_size : sizeof(*f));
	if (in_size < sizeof(*f) || f->count > NVMPFS_MAX_RANGES ||
	    (f->flags & ~NVMPFS_FLUSH_VERIFY)) {
		free(f);
		fuse_reply_err(req, EINVAL);
		return;
	}
	struct nvfs_range ranges[NVMPFS_MAX_RANGES];
	for (uint32_t i = 0; i < f->count; i++)
		ranges[i] = (struct nvfs_range){ f->ranges[i].off,
						 f->ranges[i].len };
	size_t nfailed = 0;
	struct nvfs_range failed[NVMPFS_MAX_RANGES];
	unsigned flags = (f->flags & NVMPFS_FLUSH_VERIFY) ? NVFS_FLUSH_VERIFY : 0;
	struct nvfs_cancel cancel = { caller_gone, req };
	int rc = nvfs_flush(fs, ino, ranges, f->count, flags, failed,
			    NVMPFS_MAX_RANGES, &nfailed, &cancel);
	rc = ops_sync_point(req, rc);
	if (rc) {
		free(f);
		fuse_reply_err(req, -rc);
		return;
	}
	f->nfailed = (uint32_t)(nfailed < NVMPFS_MAX_RANGES ? nfailed
							   : NVMPFS_MAX_RANGES);
	f->nfailed_mirror = 0;
	for (size_t i = 0; i < f->nfailed; i++)
		f->ranges[i] = (struct nvmpfs_range){ failed[i].off,
						      failed[i].len };
	if (flags & NVFS_FLUSH_VERIFY)
		rc = verify_on_mirror(fs, ino, ranges, f);
	if (rc) {
		free(f);
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_ioctl(req, 0, f, sizeof(*f));
	free(f);
}

static void ioctl_attrs(fuse_req_t req, struct nvfs *fs)
{
	struct nvmpfs_attributes a = {
		.optimized_flush_capable = 1,
		.flush_and_verify_capable = nvfs_checksums_on(fs),
		.async_flush_capable = 1,
		.interrupted_store_atomicity = 8,
		.fundamental_error_range = 4096,
		.fundamental_error_range_offset = 0,
		.max_ranges_per_flush = NVMPFS_MAX_RANGES,
		.mirrored = ops_mirror() && mirror_attached(ops_mirror()),
	};
	fuse_reply_ioctl(req, 0, &a, sizeof(a));
}

static void ioctl_bad(fuse_req_t req, struct nvfs *fs, fuse_ino_t ino)
{
	struct nvmpfs_ioc_bad *b = calloc(1, sizeof(*b));
	struct nvfs_range r[NVMPFS_MAX_RANGES];
	if (!b) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = nvfs_bad_ranges(fs, ino, r, NVMPFS_MAX_RANGES);
	if (n < 0) {
		free(b);
		fuse_reply_err(req, (int)-n);
		return;
	}
	b->total = (uint32_t)n;
	b->count = n < NVMPFS_MAX_RANGES ? (uint32_t)n : NVMPFS_MAX_RANGES;
	for (uint32_t i = 0; i < b->count; i++)
		b->ranges[i] = (struct nvmpfs_range){ r[i].off, r[i].len };
	fuse_reply_ioctl(req, 0, b, sizeof(*b));
	free(b);
}

static void ioctl_scrub(fuse_req_t req, struct nvfs *fs, fuse_ino_t ino,
			const void *in, size_t in_size)
{
	struct nvmpfs_ioc_scrub s;
	if (in_size < sizeof(s)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(&s, in, sizeof(s));
	uint64_t next = s.start_block;
	struct nvfs_scrub_result res;
	int rc = nvfs_scrub(fs, ino, &next, s.max_blocks ? s.max_blocks : 1024,
			    &res);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	s.next_block = next;
	s.blocks_checked = res.blocks_checked;
	s.blocks_unverified = res.blocks_unverified;
	s.mismatches = res.mismatches;
	s.healed = (uint32_t)res.healed;
	s.done = res.done;
	fuse_reply_ioctl(req, 0, &s, sizeof(s));
}

uint32_t pool_mode_code(const char *mode)
{
	if (strcmp(mode, "pmem") == 0)
		return NVMPFS_POOL_MODE_PMEM;
	if (strcmp(mode, "pmem-forced") == 0)
		return NVMPFS_POOL_MODE_PMEM_FORCED;
	return NVMPFS_POOL_MODE_MSYNC;
}

static void ioctl_remount(fuse_req_t req, struct nvfs *fs, fuse_ino_t ino,
			  const void *in, size_t in_size)
{
	struct nvmpfs_ioc_remount r;
	if (fuse_req_ctx(req)->uid != 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (in_size < sizeof(r) || ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(&r, in, sizeof(r));
	if (r.read_only > 1 || r.reserved[0] || r.reserved[1] || r.reserved[2]) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int rc = nvfs_set_read_only(fs, r.read_only);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

static void ioctl_mirror(fuse_req_t req, struct nvfs *fs)
{
	struct nvmpfs_ioc_mirror out = { .state = NVMPFS_MIRROR_NONE };
	struct mirror *m = ops_mirror();
	if (m) {
		struct mirror_status st;
		mirror_get_status(m, &st);
		out.state = (uint32_t)st.state; /* the same numbers */
		out.sealed = st.sealed;
		snprintf(out.peer, sizeof(out.peer), "%s", st.peer);
		out.epoch = st.epoch;
		out.resync_done = st.resync_done;
		out.resync_total = st.resync_total;
		out.resync_bytes_per_s = st.resync_bytes_per_s;
		out.out_of_sync = st.out_of_sync;
		out.last_rtt_us = st.last_rtt_us;
		out.batches_sent = st.batches_sent;
		out.sends = st.sends;
		out.batches_acked = st.batches_acked;
		out.bytes_sent = st.bytes_sent;
		out.attaches = st.attaches;
		out.losses = st.losses;
		out.acked_seq = st.acked_seq;
		out.last_seq = st.last_seq;
		struct nvfs_stats fst;
		nvfs_get_stats(fs, &fst);
		out.heals = fst.blocks_healed;
		out.resync_sent = st.resync_sent;
		out.remote_bad = st.remote_bad;
	}
	fuse_reply_ioctl(req, 0, &out, sizeof(out));
}

static void ioctl_stats(fuse_req_t req, struct nvfs *fs)
{
	struct nvfs_stats st;
	nvfs_get_stats(fs, &st);
	struct nvmpfs_ioc_stats out = {
		.drains = st.drains, .commits = st.commits, .writes = st.writes,
		.bytes_written = st.bytes_written, .fsyncs = st.fsyncs,
		.sync_points = st.sync_points, .sync_drains = st.sync_drains,
		.ranges_flushed = st.ranges_flushed,
		.bytes_flushed = st.bytes_flushed,
		.blocks_verified = st.blocks_verified,
		.verify_failures = st.verify_failures,
		.sync_ns = st.sync_ns,
		.syncs = st.syncs,
		.background_drains = st.background_drains,
		.hot_extents = st.hot_extents,
		.pool_mode = pool_mode_code(nvfs_pool_mode(fs)),
		.persist_clients = persist_socket_clients(),
	};
	fuse_reply_ioctl(req, 0, &out, sizeof(out));
}

/* The open mode ops.c kept in fi->fh at open. */
static bool may_change(fuse_req_t req, const struct fuse_file_info *fi)
{
	return fuse_req_ctx(req)->uid == 0 ||
	       (fi && (fi->fh & O_ACCMODE) != O_RDONLY);
}

void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz)
{
	(void)arg;
	(void)out_bufsz;
	struct nvfs *fs = fuse_req_userdata(req);
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	bool changes = cmd == NVMPFS_IOC_FLUSH || cmd == NVMPFS_IOC_SCRUB ||
		       cmd == NVMPFS_IOC_ADOPT;
	if (changes && !may_change(req, fi)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	switch (cmd) {
	case NVMPFS_IOC_FLUSH: ioctl_flush(req, fs, ino, in_buf, in_bufsz); break;
	case NVMPFS_IOC_ATTRS: ioctl_attrs(req, fs); break;
	case NVMPFS_IOC_BAD: ioctl_bad(req, fs, ino); break;
	case NVMPFS_IOC_SCRUB: ioctl_scrub(req, fs, ino, in_buf, in_bufsz); break;
	case NVMPFS_IOC_STATS: ioctl_stats(req, fs); break;
	case NVMPFS_IOC_MIRROR: ioctl_mirror(req, fs); break;
	case NVMPFS_IOC_REMOUNT:
		ioctl_remount(req, fs, ino, in_buf, in_bufsz);
		break;
	case NVMPFS_IOC_LEASE:
	case NVMPFS_IOC_LEASE_V1:
		ioctl_lease(req, fs, ino, fi, in_buf, in_bufsz);
		break;
	case NVMPFS_IOC_UNLEASE: ioctl_unlease(req, fs, fi, in_buf, in_bufsz); break;
	case NVMPFS_IOC_PERSIST: ioctl_persist(req, fs, fi, in_buf, in_bufsz); break;
	case NVMPFS_IOC_ADOPT: ioctl_adopt(req, fs, ino, in_buf, in_bufsz); break;
	default: fuse_reply_err(req, ENOTTY);
	}
}
