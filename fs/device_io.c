/*
 * The daemon's I/O on /dev/fuse (see device_io.h).
 *
 * Why: without FUSE_HANDLE_KILLPRIV_V2 the kernel never marks a FUSE
 * inode "no security bits" (S_NOSEC, which needs SB_NOSEC on the mount),
 * so before every WRITE it asks the daemon for security.capability: a
 * GETXATTR round trip per write, a third of the cost of a 4 KiB write +
 * fdatasync.  With the flag the kernel asks once per inode and leaves the
 * set-ID and capability rules on writes, truncates and chowns to the file
 * system -- which nvmpfs applies itself in full anyway (fs/core/setid.c;
 * ops.c drops the kernel's cached mode when it takes bits away).  libfuse
 * 3.14 (Debian 12) does not know the flag, so the INIT reply gets it
 * here, when the kernel offered it.  Everything else passes untouched.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/fuse.h>

#include "device_io.h"

static atomic_uint_fast64_t init_unique;   /* 0: no INIT seen yet */
static atomic_bool kernel_offers_v2;
static atomic_bool v2_taken;

/* An INIT request: its unique and whether the kernel offers the flag. */
static void note_request(const void *buf, ssize_t n)
{
	const struct fuse_in_header *in = buf;
	if (n < (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags) +
			  sizeof(uint32_t)) || in->opcode != FUSE_INIT)
		return;
	const struct fuse_init_in *arg = (const void *)(in + 1);
	atomic_store(&kernel_offers_v2, (arg->flags & FUSE_HANDLE_KILLPRIV_V2) != 0);
	atomic_store(&init_unique, in->unique);
}

static ssize_t read_device(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t n = read(fd, buf, len);
	if (n > 0 && atomic_load(&init_unique) == 0)
		note_request(buf, n);
	return n;
}

/* The successful INIT reply, gathered (it is small), with the flag set. */
static ssize_t write_init_reply(int fd, const struct iovec *iov, int count)
{
	uint8_t msg[512];
	size_t len = 0;
	for (int i = 0; i < count; i++) {
		if (iov[i].iov_len > sizeof(msg) - len)
			return writev(fd, iov, count);
		memcpy(msg + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	size_t flags_at = sizeof(struct fuse_out_header) +
			  offsetof(struct fuse_init_out, flags);
	if (len < flags_at + sizeof(uint32_t))
		return write(fd, msg, len);
	uint32_t flags;
	memcpy(&flags, msg + flags_at, sizeof(flags));
	flags |= FUSE_HANDLE_KILLPRIV_V2;
	memcpy(msg + flags_at, &flags, sizeof(flags));
	ssize_t n = write(fd, msg, len);
	if (n == (ssize_t)len)
		atomic_store(&v2_taken, true);
	return n;
}

static ssize_t writev_device(int fd, struct iovec *iov, int count,
			     void *userdata)
{
	(void)userdata;
	const struct fuse_out_header *out = iov[0].iov_base;
	uint64_t unique = atomic_load(&init_unique);
	if (unique && count > 0 && iov[0].iov_len >= sizeof(*out) &&
	    out->unique == unique && out->error == 0 &&
	    atomic_load(&kernel_offers_v2) && !atomic_load(&v2_taken))
		return write_init_reply(fd, iov, count);
	return writev(fd, iov, count);
}

int device_io_attach(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = read_device,
		.writev = writev_device,
	};
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
