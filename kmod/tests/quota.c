// SPDX-License-Identifier: GPL-2.0
/*
 * quota: per-uid quotas and dump rate limits (run as any user).
 *
 *   quota timers N HOLD         one watch on each of N distinct intervals;
 *                               prints "timers ok=K err=E", keeps them until
 *                               the path HOLD exists
 *   quota watches N FORKS HOLD [INTERVAL_NS]
 *                               FORKS children register up to N watches each
 *                               (every 10 ms by default); prints "watches
 *                               total=T err=E", the children keep them until
 *                               HOLD exists
 *   quota flood SECS FORKS NAME PERIOD_MS [INTERVAL_NS]
 *                               FORKS children, each with one watch NAME
 *                               (polled every 1 ms by default) that breaches
 *                               every PERIOD_MS for SECS seconds
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include "vt_common.h"

static long vars[1024];

static int watch(const char *name, long *p, unsigned long interval)
{
	watch_arg wa;

	memset(&wa, 0, sizeof(wa));
	vmon_copy_name(wa.name, name, sizeof(wa.name));
	wa.ptr = p;
	wa.length_byte = sizeof(*p);
	wa.threshold = 0;
	wa.greater_flag = 1;
	wa.time_ns = interval;
	return start_watch(wa);
}

static void hold(const char *path)
{
	struct stat st;

	while (stat(path, &st))
		vt_sleep_ms(50);
}

static int timers(int n, const char *path)
{
	int i, err = 0;

	for (i = 0; i < n; i++) {
		err = watch("timer", &vars[i], 10 * 1000 * 1000 + i * 1000);
		if (err)
			break;
	}
	printf("timers ok=%d err=%d\n", i, -err);
	fflush(stdout);
	hold(path);
	return 0;
}

static int watches(int n, int forks, const char *path, unsigned long interval)
{
	int p[2], i, total = 0, err = 0;

	if (n > 1024 || pipe(p))
		VT_FAIL("watches");
	for (i = 0; i < forks; i++) {
		if (fork() == 0) {
			int k, e = 0, msg[2];

			close(p[0]);
			for (k = 0; k < n; k++) {
				e = watch("quota", &vars[k], interval);
				if (e)
					break;
			}
			msg[0] = k;
			msg[1] = -e;
			if (write(p[1], msg, sizeof(msg)) != sizeof(msg))
				_exit(2);
			hold(path);
			_exit(0);
		}
	}
	close(p[1]);
	for (i = 0; i < forks; i++) {
		int msg[2];

		if (read(p[0], msg, sizeof(msg)) != sizeof(msg))
			VT_FAIL("child died");
		total += msg[0];
		if (msg[1])
			err = msg[1];
	}
	printf("watches total=%d err=%d\n", total, err);
	fflush(stdout);
	while (wait(NULL) > 0)
		;
	return 0;
}

static int flood(int secs, int forks, const char *name, int period_ms,
		 unsigned long interval)
{
	int i;

	for (i = 0; i < forks; i++) {
		if (fork() == 0) {
			int err = watch(name, &vars[0], interval), t;

			if (err)
				VT_FAIL("watch: %s", vmon_strerror(err));
			for (t = 0; t < secs * 1000; t += period_ms) {
				vars[0] = 1;
				vt_sleep_ms(period_ms / 2);
				vars[0] = 0;
				vt_sleep_ms(period_ms - period_ms / 2);
			}
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	printf("flood done\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "timers"))
		return timers(atoi(argv[2]), argv[3]);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "watches"))
		return watches(atoi(argv[2]), atoi(argv[3]), argv[4],
			       argc == 6 ? strtoul(argv[5], NULL, 0) : 10000000UL);
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "flood"))
		return flood(atoi(argv[2]), atoi(argv[3]), argv[4], atoi(argv[5]),
			     argc == 7 ? strtoul(argv[6], NULL, 0) : 1000000UL);
	fprintf(stderr, "usage: see quota.c\n");
	return 2;
}
