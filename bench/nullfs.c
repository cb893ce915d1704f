/*
 * nullfs: the floor for the sync benchmarks.  A trivial FUSE daemon with
 * one in-memory file "f" (up to 256 MiB) whose FSYNC does nothing, so what
 * it costs is the kernel's and libfuse's part of a sync point alone.
 * usage: nullfs [-s] MOUNTPOINT   (foreground; fusermount3 -u to stop)
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_INO 2
#define MAX_SIZE (256u << 20)

static char *data;
static size_t size;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_size = (off_t)size;
	}
}

static void n_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (parent != FUSE_ROOT_ID || strcmp(name, "f") != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct fuse_entry_param e = { .ino = FILE_INO, .attr_timeout = 1,
				      .entry_timeout = 1 };
	fill_stat(FILE_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void n_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct stat st;
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, 1);
}

static void n_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		      int to_set, struct fuse_file_info *fi)
{
	(void)fi;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if ((size_t)attr->st_size > MAX_SIZE) {
			fuse_reply_err(req, EFBIG);
			return;
		}
		size = (size_t)attr->st_size;
	}
	struct stat st;
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, 1);
}

static void n_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void n_read(fuse_req_t req, fuse_ino_t ino, size_t n, off_t off,
		   struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	pthread_mutex_lock(&lock);
	size_t avail = (size_t)off < size ? size - (size_t)off : 0;
	fuse_reply_buf(req, data + off, n < avail ? n : avail);
	pthread_mutex_unlock(&lock);
}

static void n_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t n,
		    off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if ((size_t)off + n > MAX_SIZE) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	pthread_mutex_lock(&lock);
	memcpy(data + off, buf, n);
	if ((size_t)off + n > size)
		size = (size_t)off + n;
	pthread_mutex_unlock(&lock);
	fuse_reply_write(req, n);
}

static void n_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void n_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = n_lookup, .getattr = n_getattr, .setattr = n_setattr,
	.open = n_open, .read = n_read, .write = n_write, .fsync = n_fsync,
	.flush = n_ok, .release = n_ok,
};

int main(int argc, char **argv)
{
	int single = argc > 2 && strcmp(argv[1], "-s") == 0;
	if (argc < 2 + single) {
		fprintf(stderr, "usage: nullfs [-s] MOUNTPOINT\n");
		return 1;
	}
	data = calloc(1, MAX_SIZE);
	char *fargv[] = { argv[0], "-o", "fsname=nullfs,subtype=nullfs", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!data || !se || fuse_session_mount(se, argv[1 + single]) != 0)
		return 1;
	fuse_set_signal_handlers(se);
	int rc;
	if (single) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_remove_signal_handlers(se);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return rc ? 1 : 0;
}
