/* Where the core reports problems: the daemon's log, or stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "fs.h"

void nvfs_log(struct nvfs *fs, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fs && fs->log)
		fs->log(msg);
	else
		fprintf(stderr, "nvmpfs: %s\n", msg);
}
