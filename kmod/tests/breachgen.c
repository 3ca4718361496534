// SPDX-License-Identifier: GPL-2.0
/*
 * breachgen: breaches at a given rate, for the drain benchmark.  One watch
 * (threshold 50, polled every INTERVAL_NS) on a variable that goes above and
 * back below the threshold RATE times a second for SECS seconds, while
 * THREADS extra threads sleep, so that every dump describes THREADS + 1
 * tasks of this process plus the system's R and D tasks.  Run with
 * /proc/variable_monitor/dump_reset_sec at 0 so every edge dumps.  The
 * interval must be well below half the period or edges are missed; the
 * module's stats, not this program, say what happened.
 *
 *   breachgen RATE SECS THREADS INTERVAL_NS
 */
#include <pthread.h>
#include "vt_common.h"

static int var;

static void *sleeper(void *arg)
{
	for (;;)
		vt_sleep_ms(3600 * 1000L);
	return arg;
}

static void add_ns(struct timespec *t, long ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
}

int main(int argc, char **argv)
{
	long rate, secs, threads, half, n;
	unsigned long interval;
	struct timespec t;
	pthread_t th;
	int ret;

	if (argc != 5)
		VT_FAIL("usage: breachgen RATE SECS THREADS INTERVAL_NS");
	rate = atol(argv[1]);
	secs = atol(argv[2]);
	threads = atol(argv[3]);
	interval = strtoul(argv[4], NULL, 0);
	if (rate <= 0 || rate > 100000 || secs <= 0 || threads < 0)
		VT_FAIL("RATE 1..100000, SECS > 0, THREADS >= 0");
	for (long i = 0; i < threads; i++)
		if (pthread_create(&th, NULL, sleeper, NULL))
			VT_FAIL("pthread_create %ld", i);
	ret = start_watch(vt_arg("breachgen", &var, 4, 50, interval));
	if (ret)
		VT_FAIL("start_watch: %s", vmon_strerror(ret));
	half = 500000000L / rate;
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (n = 0; n < rate * secs; n++) {
		__atomic_store_n(&var, 100, __ATOMIC_RELAXED);
		add_ns(&t, half);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
		__atomic_store_n(&var, 0, __ATOMIC_RELAXED);
		add_ns(&t, half);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
	}
	printf("breachgen toggled %ld times, %ld threads\n", n, threads);
	return cancel_watch() ? 1 : 0;
}
