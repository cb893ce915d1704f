/*
 * Waits: the core tells its host when the calling thread is about to wait
 * for something other than its own work -- an fdatasync shared with other
 * callers, a freeze, the reclaim thread, the mirror.  A host that serves
 * requests with few threads starts another one meanwhile (fs/workers.c),
 * so that the request the wait depends on, or any other, finds a thread.
 */
#include "nvfs.h"

static void (*wait_hook)(void);

void nvfs_set_wait_hook(void (*hook)(void))
{
	__atomic_store_n(&wait_hook, hook, __ATOMIC_RELEASE);
}

void nvfs_about_to_wait(void)
{
	void (*hook)(void) = __atomic_load_n(&wait_hook, __ATOMIC_ACQUIRE);
	if (hook)
		hook();
}
