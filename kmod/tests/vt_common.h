/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers for the variable_monitor test programs (run as root unless noted). */
#ifndef _VT_COMMON_H
#define _VT_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../include/monitor_user.h"

#define VT_FAIL(...) do {						\
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);		\
	fprintf(stderr, __VA_ARGS__);					\
	fputc('\n', stderr);						\
	exit(1);							\
} while (0)

static inline void vt_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

/*
 * From /proc/variable_monitor/watches: number of watches owned by owner
 * (0 = any) whose name starts with prefix (NULL = any); *breaches gets
 * the sum of their breach counts, *min_breaches the smallest.
 */
static inline long vt_watches(pid_t owner, const char *prefix,
			      long long *breaches, long long *min_breaches)
{
	FILE *f = fopen("/proc/variable_monitor/watches", "r");
	char line[512], name[64];
	long n = 0;
	long long sum = 0, min = -1;

	if (!f)
		VT_FAIL("open /proc/variable_monitor/watches: %s", strerror(errno));
	if (!fgets(line, sizeof(line), f))
		VT_FAIL("empty watches file");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long id, interval, br;
		int o, t, dead;
		unsigned int len, flags;
		long long thr;

		if (sscanf(line, "%llu %d %d %63s %u %x %lld %llu %llu %d", &id,
			   &o, &t, name, &len, &flags, &thr, &interval, &br,
			   &dead) != 10)
			VT_FAIL("bad watches line: %s", line);
		if (owner && o != owner)
			continue;
		if (prefix && strncmp(name, prefix, strlen(prefix)))
			continue;
		n++;
		sum += br;
		if (min < 0 || (long long)br < min)
			min = br;
	}
	fclose(f);
	if (breaches)
		*breaches = sum;
	if (min_breaches)
		*min_breaches = min;
	return n;
}

/* Wait until the watches matching (owner, prefix) have >= want breaches. */
static inline long long vt_wait_breaches(pid_t owner, const char *prefix,
					 long long want, int timeout_ms)
{
	long long b = 0;

	for (int t = 0; t <= timeout_ms; t += 10) {
		vt_watches(owner, prefix, &b, NULL);
		if (b >= want)
			break;
		vt_sleep_ms(10);
	}
	return b;
}

/* Wait until (owner, prefix) has exactly want watches; returns the count. */
static inline long vt_wait_count(pid_t owner, const char *prefix, long want,
				 int timeout_ms)
{
	long n = -1;

	for (int t = 0; t <= timeout_ms; t += 10) {
		n = vt_watches(owner, prefix, NULL, NULL);
		if (n == want)
			break;
		vt_sleep_ms(10);
	}
	return n;
}

static inline watch_arg vt_arg(const char *name, void *p, int len,
			       long long thr, unsigned long interval_ns)
{
	watch_arg wa;

	memset(&wa, 0, sizeof(wa));
	vmon_copy_name(wa.name, name, sizeof(wa.name));
	wa.ptr = p;
	wa.length_byte = len;
	wa.threshold = thr;
	wa.greater_flag = 1;
	wa.time_ns = interval_ns;
	return wa;
}

#endif /* _VT_COMMON_H */
