/* The mirror daemon's log (see mlog.h). */
#include <stdarg.h>
#include <stdio.h>

#include "mlog.h"

static bool use_syslog, silent;

void mlog_to_syslog(void)
{
	openlog("nvmpfs-mirror", LOG_PID, LOG_DAEMON);
	use_syslog = true;
}

void mlog_silence(void)
{
	silent = true;
}

void mlog(int priority, const char *fmt, ...)
{
	char line[1024];
	if (silent)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (use_syslog)
		syslog(priority, "%s", line);
	else
		fprintf(stderr, "nvmpfs-mirror: %s\n", line);
}
