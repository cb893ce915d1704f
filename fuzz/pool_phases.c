/*
 * The phases a damaged pool goes through, shared by the libFuzzer target
 * (fuzz/fuzz_pool.c) and the replay of the reproducers that `make check`
 * runs (tests/tools/poolreplay.c); see pool_phases.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "check.h"
#include "fs.h"
#include "nvfs.h"
#include "pool_phases.h"
#include "super.h"

#define BS NVMPFS_BLOCK_SIZE
#define ROOT NVMPFS_ROOT_INO

static bool strict = true;
static char *allow[16];        /* FUZZ_POOL_ALLOW, split at '|' */
static int nallow;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "pool phases: %s: %s\n", what, msg);
	exit(2); /* a setup failure, not a finding */
}

static void quiet_log(const char *msg)
{
	(void)msg;
}

void phases_setup(void)
{
	const char *s = getenv("FUZZ_POOL_STRICT");
	strict = !(s && strcmp(s, "0") == 0);
	const char *a = getenv("FUZZ_POOL_ALLOW");
	if (a && *a) {
		char *copy = strdup(a), *save = NULL;
		for (char *t = strtok_r(copy, "|", &save); t && nallow < 16;
		     t = strtok_r(NULL, "|", &save))
			allow[nallow++] = t;
	}
}

/* ---- the template's tree ---- */

static struct nvfs_ctx ctx(void)
{
	return (struct nvfs_ctx){ .uid = getuid(), .gid = getgid(), .umask = 022 };
}

static uint64_t t_mkdir(struct nvfs *fs, uint64_t parent, const char *name)
{
	struct nvfs_ctx c = ctx();
	struct stat st;
	if (nvfs_mkdir(fs, &c, parent, name, 0755, &st))
		die("template", name);
	return st.st_ino;
}

static uint64_t t_file(struct nvfs *fs, uint64_t parent, const char *name)
{
	struct nvfs_ctx c = ctx();
	struct stat st;
	if (nvfs_mknod(fs, &c, parent, name, S_IFREG | 0644, 0, &st))
		die("template", name);
	return st.st_ino;
}

static void t_write(struct nvfs *fs, uint64_t ino, uint64_t off, size_t len,
		    uint8_t seed)
{
	uint8_t *buf = malloc(len);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
	if (nvfs_write(fs, ino, buf, len, off) != (ssize_t)len)
		die("template", "write");
	free(buf);
}

/* Attributes enough for a tree of several leaves, two values in blocks. */
static void t_xattrs(struct nvfs *fs, uint64_t ino)
{
	struct nvfs_ctx c = ctx();
	static uint8_t value[20000];
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i * 31 + 7);
	char name[32];
	for (int i = 0; i < 120; i++) {
		snprintf(name, sizeof(name), "user.t%03d", i);
		if (nvfs_setxattr(fs, &c, ino, name, value, (size_t)(i * 7 % 90),
				  0))
			die("template", name);
	}
	if (nvfs_setxattr(fs, &c, ino, "trusted.ext1", value, 6000, 0) ||
	    nvfs_setxattr(fs, &c, ino, "trusted.ext2", value, 20000, 0))
		die("template", "large xattr");
}

void phases_populate(struct nvfs *fs)
{
	struct nvfs_ctx c = ctx();
	struct stat st;
	uint64_t a = t_mkdir(fs, ROOT, "a");
	uint64_t b = t_mkdir(fs, a, "b");
	t_xattrs(fs, t_file(fs, ROOT, "xa"));
	uint64_t f1 = t_file(fs, a, "f1");
	t_write(fs, f1, 0, 10000, 1);
	uint64_t f2 = t_file(fs, b, "f2");
	t_write(fs, f2, 0, 3000, 2);
	t_write(fs, f2, 3ull << 20, 5000, 3); /* map of height 2 */
	uint64_t big = t_file(fs, ROOT, "big");
	t_write(fs, big, 0, 300 * 1024, 4);
	if (nvfs_symlink(fs, &c, ROOT, "lnk", "a/f1", &st))
		die("template", "symlink");
	if (nvfs_symlink(fs, &c, b, "up", "../../big", &st))
		die("template", "symlink");
	if (nvfs_link(fs, f1, b, "hl", &st))
		die("template", "link");
	if (nvfs_mknod(fs, &c, ROOT, "fifo", S_IFIFO | 0600, 0, &st))
		die("template", "fifo");
	if (nvfs_setxattr(fs, &c, f1, "user.one", "1", 1, 0) ||
	    nvfs_setxattr(fs, &c, f1, "trusted.two", "twotwo", 6, 0) ||
	    nvfs_setxattr(fs, &c, a, "user.dir", "d", 1, 0))
		die("template", "setxattr");
	uint64_t many = t_mkdir(fs, ROOT, "many");
	char name[64];
	for (int i = 0; i < 90; i++) {
		snprintf(name, sizeof(name), "entry-%02d%.*s", i, i % 30,
			 "..............................");
		uint64_t ino = t_file(fs, many, name);
		if (i % 10 == 0)
			t_write(fs, ino, 0, 100 + (size_t)i, (uint8_t)i);
	}
	t_mkdir(fs, many, "sub");
	/* An unlinked file and a removed directory: slots reused later. */
	t_file(fs, ROOT, "gone");
	nvfs_unlink(fs, ROOT, "gone");
	t_mkdir(fs, ROOT, "gonedir");
	nvfs_rmdir(fs, ROOT, "gonedir");
}

/* ---- (a) the mounted pool: walk and mutate ---- */

struct ent {
	char name[NVMPFS_MAX_NAME + 1];
	uint64_t ino;
	uint64_t next;
};

struct ents {
	struct ent *e;
	size_t n, max;
};

static int collect(void *arg, const char *name, size_t len, uint64_t ino,
		   unsigned type, uint64_t next_off)
{
	(void)type;
	struct ents *l = arg;
	if (l->n == l->max)
		return 1;
	if (len > NVMPFS_MAX_NAME)
		abort(); /* the core handed out a name longer than allowed */
	memcpy(l->e[l->n].name, name, len);
	l->e[l->n].name[len] = '\0';
	l->e[l->n].ino = ino;
	l->e[l->n].next = next_off;
	l->n++;
	return 0;
}

struct walk {
	struct nvfs *fs;
	unsigned budget;          /* inodes still to visit */
	uint64_t file_parent, dir_parent;
	char file_name[NVMPFS_MAX_NAME + 1], dir_name[NVMPFS_MAX_NAME + 1];
	uint64_t file_ino, dir_ino;
};

static uint8_t iobuf[64 * 1024];

static void visit_file(struct walk *w, uint64_t ino, const struct stat *st)
{
	struct nvfs *fs = w->fs;
	if (nvfs_open(fs, ino, O_RDONLY))
		return;
	uint64_t size = (uint64_t)st->st_size;
	for (uint64_t off = 0; off < size && off < 256 * 1024;
	     off += sizeof(iobuf))
		if (nvfs_read(fs, ino, iobuf, sizeof(iobuf), off) <= 0)
			break;
	if (size > 100)
		nvfs_read(fs, ino, iobuf, 4096, size - 100);
	nvfs_read(fs, ino, iobuf, 1000, size / 2);
	int64_t d = nvfs_lseek(fs, ino, 0, SEEK_DATA);
	if (d >= 0) {
		nvfs_read(fs, ino, iobuf, 512, (uint64_t)d);
		nvfs_lseek(fs, ino, d, SEEK_HOLE);
	}
	nvfs_lseek(fs, ino, 0, SEEK_HOLE);
	struct nvfs_range r = { 0, size < 8192 ? size : 8192 };
	size_t nfailed = 0;
	struct nvfs_range failed[4];
	nvfs_flush(fs, ino, &r, 1, NVFS_FLUSH_VERIFY | NVFS_FLUSH_CLAMP,
		   failed, 4, &nfailed, NULL);
	uint64_t lblk = 0;
	struct nvfs_scrub_result sr;
	nvfs_scrub(fs, ino, &lblk, 64, &sr);
	nvfs_release(fs, ino);
}

static void visit_xattrs(struct walk *w, uint64_t ino)
{
	char list[4096], val[4096];
	ssize_t n = nvfs_listxattr(w->fs, ino, NULL, 0);
	n = nvfs_listxattr(w->fs, ino, list, sizeof(list));
	if (n <= 0)
		return;
	if ((size_t)n > sizeof(list))
		abort(); /* listxattr wrote past the buffer it was given */
	for (char *p = list; p < list + n;) {
		size_t left = (size_t)(list + n - p);
		size_t len = strnlen(p, left);
		if (len == left)
			break; /* not terminated */
		nvfs_getxattr(w->fs, ino, p, NULL, 0);
		nvfs_getxattr(w->fs, ino, p, val, sizeof(val));
		nvfs_getxattr(w->fs, ino, p, val, 1);
		p += len + 1;
	}
}

static void walk_dir(struct walk *w, uint64_t dir, unsigned depth);

static void visit(struct walk *w, uint64_t parent, const char *name,
		  uint64_t ino, unsigned depth)
{
	struct nvfs *fs = w->fs;
	struct stat st;
	if (w->budget == 0)
		return;
	w->budget--;
	if (nvfs_getattr(fs, ino, &st))
		return;
	nvfs_generation(fs, ino);
	visit_xattrs(w, ino);
	if (S_ISREG(st.st_mode)) {
		visit_file(w, ino, &st);
		if (!w->file_ino) {
			w->file_ino = ino;
			w->file_parent = parent;
			snprintf(w->file_name, sizeof(w->file_name), "%s", name);
		}
	} else if (S_ISLNK(st.st_mode)) {
		char target[NVMPFS_MAX_SYMLINK + 1];
		nvfs_readlink(fs, ino, target, sizeof(target));
		nvfs_readlink(fs, ino, target, 2);
	} else if (S_ISDIR(st.st_mode)) {
		if (!w->dir_ino) {
			w->dir_ino = ino;
			w->dir_parent = parent;
			snprintf(w->dir_name, sizeof(w->dir_name), "%s", name);
		}
		if (depth < 8)
			walk_dir(w, ino, depth + 1);
	}
}

static void walk_dir(struct walk *w, uint64_t dir, unsigned depth)
{
	struct nvfs *fs = w->fs;
	if (nvfs_opendir(fs, dir))
		return;
	struct ents l = { calloc(128, sizeof(struct ent)), 0, 128 };
	if (!l.e)
		return;
	nvfs_readdir(fs, dir, 0, collect, &l);
	/* Restart from a cookie in the middle, as the kernel does. */
	if (l.n > 3) {
		struct ents r = { calloc(8, sizeof(struct ent)), 0, 8 };
		if (r.e)
			nvfs_readdir(fs, dir, l.e[l.n / 2].next, collect, &r);
		free(r.e);
	}
	struct stat st;
	if (nvfs_lookup(fs, dir, "..", &st) == 0)
		nvfs_forget(fs, st.st_ino, 1);
	for (size_t i = 0; i < l.n; i++) {
		const char *name = l.e[i].name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (nvfs_lookup(fs, dir, name, &st) != 0)
			continue;
		visit(w, dir, name, st.st_ino, depth);
		nvfs_forget(fs, st.st_ino, 1);
	}
	free(l.e);
}

static void mutate(struct walk *w)
{
	struct nvfs *fs = w->fs;
	struct nvfs_ctx c = ctx();
	struct stat st, attr;
	memset(iobuf, 0x6b, sizeof(iobuf));

	/* Something new, moved around and removed again. */
	if (nvfs_mknod(fs, &c, ROOT, "fz_new", S_IFREG | 0644, 0, &st) == 0) {
		uint64_t ino = st.st_ino;
		nvfs_open(fs, ino, O_RDWR);
		nvfs_write(fs, ino, iobuf, 10000, 100);
		nvfs_read(fs, ino, iobuf, 4096, 4000);
		nvfs_setxattr(fs, &c, ino, "user.fz", "v", 1, 0);
		nvfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       4096, 4096);
		nvfs_rename(fs, ROOT, "fz_new", ROOT, "fz_ren", 0);
		if (nvfs_link(fs, ino, ROOT, "fz_link", &st) == 0) {
			nvfs_forget(fs, st.st_ino, 1);
			nvfs_unlink(fs, ROOT, "fz_link");
		}
		attr.st_size = 5000;
		nvfs_setattr(fs, ino, &attr, NVFS_SET_SIZE, &st);
		if (nvfs_mkdir(fs, &c, ROOT, "fz_dir", 0755, &st) == 0) {
			uint64_t d = st.st_ino;
			nvfs_rename(fs, ROOT, "fz_ren", d, "inside", 0);
			nvfs_unlink(fs, d, "inside");
			nvfs_rmdir(fs, ROOT, "fz_dir");
			nvfs_forget(fs, d, 1);
		}
		nvfs_release(fs, ino);
		nvfs_forget(fs, ino, 1);
	}
	/* The attribute tree: grown, changed, shrunk, freed with its file. */
	if (nvfs_lookup(fs, ROOT, "xa", &st) == 0) {
		uint64_t ino = st.st_ino;
		char name[32];
		for (int i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "user.fz%03d", i);
			nvfs_setxattr(fs, &c, ino, name, iobuf,
				      (size_t)(i * 53 % 1500), 0);
		}
		nvfs_setxattr(fs, &c, ino, "user.t005", iobuf, 30000,
			      XATTR_REPLACE);
		nvfs_setxattr(fs, &c, ino, "trusted.ext1", iobuf, 5,
			      XATTR_REPLACE);
		for (int i = 0; i < 120; i += 3) {
			snprintf(name, sizeof(name), "user.t%03d", i);
			nvfs_removexattr(fs, &c, ino, name);
		}
		visit_xattrs(w, ino);
		nvfs_unlink(fs, ROOT, "xa");
		nvfs_forget(fs, ino, 1);
	}
	if (nvfs_symlink(fs, &c, ROOT, "fz_sym", "somewhere", &st) == 0) {
		nvfs_forget(fs, st.st_ino, 1);
		nvfs_unlink(fs, ROOT, "fz_sym");
	}

	/* Changes to what the pool held. */
	if (w->file_ino) {
		uint64_t ino = w->file_ino;
		if (nvfs_open(fs, ino, O_RDWR) == 0) {
			nvfs_write(fs, ino, iobuf, 5000, 3000);
			if (nvfs_getattr(fs, ino, &st) == 0) {
				nvfs_write(fs, ino, iobuf, 100,
					   (uint64_t)st.st_size);
				attr.st_size = st.st_size / 2;
				nvfs_setattr(fs, ino, &attr, NVFS_SET_SIZE, &st);
			}
			nvfs_fsync(fs, ino, false);
			nvfs_setxattr(fs, &c, ino, "user.one", "x", 1, XATTR_REPLACE);
			nvfs_release(fs, ino);
		}
		if (nvfs_rename(fs, w->file_parent, w->file_name, ROOT,
				"fz_moved", 0) == 0)
			nvfs_unlink(fs, ROOT, "fz_moved");
	}
	if (w->dir_ino) {
		uint64_t d = w->dir_ino;
		if (nvfs_mknod(fs, &c, d, "fz_in_dir", S_IFREG | 0600, 0,
			       &st) == 0) {
			nvfs_forget(fs, st.st_ino, 1);
			nvfs_unlink(fs, d, "fz_in_dir");
		}
		nvfs_rename(fs, w->dir_parent, w->dir_name, ROOT, "fz_dmoved",
			    NVFS_RENAME_NOREPLACE);
		nvfs_rmdir(fs, ROOT, "fz_dmoved");
	}
	struct statvfs sv;
	nvfs_statfs(fs, &sv);
	nvfs_syncfs(fs);
}

void phases_mount(const char *path)
{
	struct nvfs_mount_opts mo = { 0 };
	struct nvfs *fs;
	struct nvfs_mount_report rep;
	char err[512];
	if (nvfs_mount(path, &mo, &fs, &rep, err, sizeof(err)) != 0)
		return;
	fs->log = quiet_log;
	/* Both copies are whole once mounted (the mount wrote them). */
	int whole = super_valid_copies(fs->pool);
	struct walk w = { .fs = fs, .budget = 400 };
	visit(&w, ROOT, "", ROOT, 0);
	mutate(&w);
	/* Writes through a damaged block map must not land on metadata (the
	 * unmount rewrites the superblock: look before it). */
	int lost = whole & ~super_valid_copies(fs->pool);
	if (lost) {
		fprintf(stderr, "\n==== core bug: the mount phase spoiled superblock "
			"copy %s\n", lost & 1 ? "A" : "B");
		abort();
	}
	nvfs_unmount(fs);
}

/* ---- (b)-(e) the checker ---- */

struct check_run {
	int rc;
	struct check_result res;
	char err[512];
	char *text;
	size_t text_len;
};

static void run_check(const char *path, struct check_run *r, bool repair)
{
	FILE *out = open_memstream(&r->text, &r->text_len);
	if (!out)
		die("open_memstream", strerror(errno));
	struct check_opts o = { .repair = repair };
	r->err[0] = '\0';
	r->rc = check_pool(path, &o, out, &r->res, r->err,
			   sizeof(r->err));
	fclose(out);
}

static void report_run(const char *what, const struct check_run *r)
{
	fprintf(stderr, "---- %s: rc %d, found %llu, fixed %llu%s%s\n%s", what,
		r->rc, (unsigned long long)r->res.found,
		(unsigned long long)r->res.fixed, r->rc ? ", error: " : "",
		r->rc ? r->err : "", r->text ? r->text : "");
}

/* Whether every line a check reported is a tolerated one. */
static bool all_allowed(const char *text)
{
	if (nallow == 0 || !text)
		return false;
	const char *line = text;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		bool ok = false;
		for (int i = 0; i < nallow && !ok; i++)
			ok = memmem(line, len, allow[i], strlen(allow[i])) != NULL;
		if (!ok)
			return false;
		line += len + (end ? 1 : 0);
	}
	return true;
}

static uint64_t metadata_problems(const struct check_run *run)
{
	return run->res.found - run->res.data_bad;
}

static void fsck_bug(const char *why, const struct check_run *runs,
		     const char *const *names, int n)
{
	fprintf(stderr, "\n==== fsck bug: %s\n", why);
	for (int i = 0; i < n; i++)
		report_run(names[i], &runs[i]);
	fprintf(stderr, "====\n");
	abort();
}

void phases_check(const char *path)
{
	static const char *const names[] = {
		"check -n", "check (repair)", "check -n after repair",
		"check -n after a mount of the repaired pool" };
	struct check_run runs[4] = { 0 };
	run_check(path, &runs[0], false);
	run_check(path, &runs[1], true);
	if (runs[1].rc == 0) {
		run_check(path, &runs[2], false);
		if (runs[2].rc != 0)
			fsck_bug("the repaired pool cannot be checked", runs,
				 names, 3);
		/* Bad data is reported, never repaired: not an fsck bug. */
		if (metadata_problems(&runs[2]) != 0 && !all_allowed(runs[2].text))
			fsck_bug("a check after repair finds problems", runs,
				 names, 3);
		if (strict && metadata_problems(&runs[1]) == runs[1].res.fixed &&
		    metadata_problems(&runs[2]) == 0) {
			struct nvfs_mount_opts mo = { 0 };
			struct nvfs *fs;
			char err[512];
			if (nvfs_mount(path, &mo, &fs, NULL, err,
				       sizeof(err)) != 0) {
				fprintf(stderr, "mount: %s\n", err);
				fsck_bug("a pool fsck repaired and then passed "
					 "does not mount", runs, names, 3);
			}
			fs->log = quiet_log;
			nvfs_unmount(fs);
			run_check(path, &runs[3], false);
			if (runs[3].rc != 0 ||
			    (metadata_problems(&runs[3]) != 0 &&
			     !all_allowed(runs[3].text)))
				fsck_bug("a mount and unmount of a repaired "
					 "pool leaves problems", runs, names, 4);
		}
	}
	for (int i = 0; i < 4; i++)
		free(runs[i].text);
}
