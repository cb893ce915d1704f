/*
 * The daemon's command line: our own options are taken out, the options
 * libfuse and the kernel know are passed through, anything else is an
 * error (a typo must not silently change how a pool is mounted).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "options.h"
#include "units.h"

/* Options handed to libfuse as they are (name, or name= prefix). */
static const char *const passthrough[] = {
	"allow_other", "allow_root", "default_permissions", "ro", "rw", "dev",
	"nodev", "suid", "nosuid", "exec", "noexec", "async", "sync",
	"dirsync", "atime", "noatime", "auto_unmount", "fsname=", "subtype=",
	"max_read=", "blksize=", "context=", "fscontext=", "defcontext=",
	"rootcontext=", NULL
};

/* Options mount(8) and fstab may add that mean nothing to us. */
static const char *const ignored[] = {
	"defaults", "_netdev", "nofail", "user", "users", "auto", "noauto",
	"nouser", NULL
};

static bool in_list(const char *const *list, const char *opt)
{
	for (size_t i = 0; list[i]; i++) {
		size_t n = strlen(list[i]);
		if (list[i][n - 1] == '=' ? strncmp(opt, list[i], n) == 0
					  : strcmp(opt, list[i]) == 0)
			return true;
	}
	return false;
}

static int append_kernel_opt(struct daemon_opts *o, const char *opt)
{
	size_t old = o->kernel_opts ? strlen(o->kernel_opts) : 0;
	char *p = realloc(o->kernel_opts, old + strlen(opt) + 2);
	if (!p)
		return -1;
	if (old)
		p[old++] = ',';
	strcpy(p + old, opt);
	o->kernel_opts = p;
	return 0;
}

static int take_option(struct daemon_opts *o, const char *opt)
{
	if (strncmp(opt, "pool=", 5) == 0) {
		o->pool = opt + 5;
		return 0;
	}
	if (strncmp(opt, "size=", 5) == 0) {
		if (parse_size(opt + 5, &o->size) < 0 || o->size == 0) {
			fprintf(stderr, "nvmpfs: option 'size=%s': not a size "
				"(use a number with K, M, G or T)\n", opt + 5);
			return -1;
		}
		return 0;
	}
	if (strcmp(opt, "relatime") == 0) {
		o->atime_mode = NVFS_ATIME_RELATIME;
		return 0;
	}
	if (strcmp(opt, "csum=off") == 0 || strcmp(opt, "csum=on") == 0) {
		o->no_csum = strcmp(opt, "csum=off") == 0;
		return 0;
	}
	if (strcmp(opt, "verify=off") == 0 || strcmp(opt, "verify=on") == 0) {
		o->no_verify = strcmp(opt, "verify=off") == 0;
		return 0;
	}
	if (strcmp(opt, "acl") == 0 || strcmp(opt, "noacl") == 0) {
		o->no_acl = strcmp(opt, "noacl") == 0;
		return 0;
	}
	if (strcmp(opt, "unsafe_pool_perms") == 0) {
		o->unsafe_pool_perms = true;
		return 0;
	}
	if (strcmp(opt, "strictatime") == 0) {
		o->atime_mode = NVFS_ATIME_STRICT;
		return 0;
	}
	if (strcmp(opt, "noatime") == 0)
		o->atime_mode = NVFS_ATIME_NOATIME;
	if (strcmp(opt, "ro") == 0)
		o->read_only = true;
	if (strcmp(opt, "rw") == 0)
		o->read_only = false;
	if (strncmp(opt, "fsname=", 7) == 0)
		o->fsname_given = true;
	if (in_list(ignored, opt))
		return 0;
	if (in_list(passthrough, opt))
		return append_kernel_opt(o, opt);
	fprintf(stderr, "nvmpfs: unknown option '%s' (see nvmpfs(8))\n", opt);
	return -1;
}

/* The options are our own strings, so the pool= pointer stays valid. */
static int take_option_list(struct daemon_opts *o, char *list)
{
	char *save = NULL;
	for (char *opt = strtok_r(list, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save))
		if (*opt && take_option(o, opt) < 0)
			return -1;
	return 0;
}

static int take_positional(struct daemon_opts *o, const char *arg,
			   const char **first)
{
	if (!*first) {
		*first = arg;
		return 0;
	}
	if (!o->mountpoint) {
		o->pool = *first;
		o->mountpoint = arg;
		return 0;
	}
	fprintf(stderr, "nvmpfs: too many arguments at '%s' (usage: nvmpfs "
		"[-f] [-d] [-o OPTIONS] [POOL] MOUNTPOINT)\n", arg);
	return -1;
}

int parse_daemon_args(int argc, char **argv, struct daemon_opts *o)
{
	memset(o, 0, sizeof(*o));
	const char *first = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc = 0;
		if (strcmp(a, "-f") == 0)
			o->foreground = true;
		else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0)
			o->debug = o->foreground = true;
		else if (strcmp(a, "-s") == 0)
			o->single_thread = true;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			o->show_help = true;
		else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)
			o->show_version = true;
		else if (strcmp(a, "-o") == 0) {
			if (++i == argc) {
				fprintf(stderr, "nvmpfs: option '-o' needs a list "
					"of options\n");
				return -1;
			}
			rc = take_option_list(o, argv[i]);
		} else if (strncmp(a, "-o", 2) == 0)
			rc = take_option_list(o, argv[i] + 2);
		else if (a[0] == '-') {
			fprintf(stderr, "nvmpfs: unknown option '%s' (see "
				"nvmpfs(8))\n", a);
			return -1;
		} else
			rc = take_positional(o, a, &first);
		if (rc < 0)
			return -1;
	}
	if (o->show_help || o->show_version)
		return 0;
	if (first && !o->mountpoint)
		o->mountpoint = first;
	if (!o->mountpoint) {
		fprintf(stderr, "nvmpfs: no mount point given (usage: nvmpfs "
			"[-f] [-d] [-o OPTIONS] [POOL] MOUNTPOINT)\n");
		return -1;
	}
	return 0;
}

void free_daemon_opts(struct daemon_opts *o)
{
	free(o->kernel_opts);
	o->kernel_opts = NULL;
}

/* mkdir -p of the folder holding path. */
static int make_parent_dirs(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -1;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "nvmpfs: cannot make folder %s for the "
				"default pool: %s\n", copy, strerror(errno));
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	return 0;
}

char *default_pool_path(void)
{
	char *path = NULL;
	const char *env = getenv("NVMPFS_DEFAULT_POOL");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int n;
	if (env && *env)
		n = asprintf(&path, "%s", env);
	else if (geteuid() == 0)
		n = asprintf(&path, "/var/lib/nvmpfs/default.pool");
	else if (xdg && *xdg)
		n = asprintf(&path, "%s/nvmpfs/default.pool", xdg);
	else if (home && *home)
		n = asprintf(&path, "%s/.local/share/nvmpfs/default.pool", home);
	else {
		fprintf(stderr, "nvmpfs: no pool given and neither HOME nor "
			"NVMPFS_DEFAULT_POOL is set\n");
		return NULL;
	}
	if (n < 0)
		return NULL;
	if (make_parent_dirs(path) < 0) {
		free(path);
		return NULL;
	}
	return path;
}
