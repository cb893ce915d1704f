/* Deadlines on the monotonic clock, for waits that must end. */
#include <time.h>

#include "transport.h"

uint64_t nvmr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t nvmr_deadline_ns(int ms)
{
	if (ms < 0)
		return 0;
	return nvmr_now_ns() + (uint64_t)ms * 1000000ull;
}
