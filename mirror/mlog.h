/* The mirror daemon's log: stderr in the foreground, else syslog. */
#ifndef NVMPFS_MIRROR_MLOG_H
#define NVMPFS_MIRROR_MLOG_H

#include <stdbool.h>
#include <syslog.h>

void mlog_to_syslog(void);
/* Nothing logged from now on (the fuzz target runs thousands of sessions). */
void mlog_silence(void);
void mlog(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
