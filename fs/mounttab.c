/*
 * Reading /proc/self/mountinfo.  A line is
 *   ID PARENT MAJ:MIN ROOT TARGET MOUNT-OPTIONS [OPTIONAL...] - TYPE SOURCE
 *   SUPER-OPTIONS
 * with space, tab, newline and backslash in paths written as \ooo.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mounttab.h"

char *mountpoint_path(const char *mnt)
{
	char *full = realpath(mnt, NULL);
	if (full || errno != ENOTCONN)
		return full;
	/* A dead FUSE mount: resolve the folder above it instead. */
	char *a = strdup(mnt), *b = strdup(mnt);
	char *dir = NULL, *out = NULL;
	if (a && b && (dir = realpath(dirname(a), NULL)) != NULL) {
		const char *base = basename(b);
		if (asprintf(&out, "%s%s%s", dir,
			     strcmp(dir, "/") == 0 ? "" : "/", base) < 0)
			out = NULL;
	}
	free(dir);
	free(a);
	free(b);
	return out;
}

/* Undoes the \ooo escapes of a mountinfo field, in place. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' &&
		    r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Splits one line into its entry; false for a line it cannot read. */
static bool parse_line(char *line, struct mount_entry *e)
{
	char *save = NULL, *f[5] = { NULL };
	char *tok = strtok_r(line, " \n", &save);
	for (int i = 0; tok && i < 5; i++) {
		f[i] = tok;
		tok = strtok_r(NULL, " \n", &save);
	}
	if (!f[4])
		return false;
	while (tok && strcmp(tok, "-") != 0)
		tok = strtok_r(NULL, " \n", &save);
	char *type = tok ? strtok_r(NULL, " \n", &save) : NULL;
	char *source = type ? strtok_r(NULL, " \n", &save) : NULL;
	if (!source)
		return false;
	unescape(f[4]);
	unescape(type);
	unescape(source);
	e->target = f[4];
	e->fstype = type;
	e->source = source;
	return true;
}

static bool copy_entry(const struct mount_entry *from, struct mount_entry *to)
{
	to->target = strdup(from->target);
	to->fstype = strdup(from->fstype);
	to->source = strdup(from->source);
	if (to->target && to->fstype && to->source)
		return true;
	mount_entry_free(to);
	return false;
}

typedef bool (*entry_match)(const struct mount_entry *e, const void *arg);

/* The last matching entry: of stacked mounts, the one on top. */
static bool find_last(entry_match match, const void *arg,
		      struct mount_entry *out)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	struct mount_entry e;
	while (getline(&line, &cap, f) > 0) {
		if (!parse_line(line, &e) || !match(&e, arg))
			continue;
		if (found)
			mount_entry_free(out);
		found = copy_entry(&e, out);
	}
	free(line);
	fclose(f);
	return found;
}

static bool target_is(const struct mount_entry *e, const void *target)
{
	return strcmp(e->target, target) == 0;
}

bool mounttab_find_target(const char *target, struct mount_entry *out)
{
	return find_last(target_is, target, out);
}

bool source_is_pool(const char *source, const char *pool)
{
	struct stat a, b;
	if (strcmp(source, pool) == 0)
		return true;
	return stat(source, &a) == 0 && stat(pool, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static bool nvmpfs_of_pool(const struct mount_entry *e, const void *pool)
{
	return strcmp(e->fstype, "fuse.nvmpfs") == 0 &&
	       source_is_pool(e->source, pool);
}

bool mounttab_find_pool(const char *pool, struct mount_entry *out)
{
	return find_last(nvmpfs_of_pool, pool, out);
}

void mount_entry_free(struct mount_entry *e)
{
	free(e->target);
	free(e->fstype);
	free(e->source);
	e->target = e->fstype = e->source = NULL;
}
