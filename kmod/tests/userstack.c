// SPDX-License-Identifier: GPL-2.0
/*
 * userstack: the main thread recurses customFunction1 -> customFunction2 ->
 * customFunction3 -> customFunction1 ... DEPTH times and sleeps at the
 * bottom (bottom_sleep: a raw nanosleep syscall, so no libc frame hides the
 * chain); a
 * second thread makes a watched variable breach meanwhile.  The dump must
 * show the main thread's user chain bottom_sleep 3 2 1 3 2 1 ... main.
 *
 *   userstack [DEPTH=3] [SLEEP_SECS=3]
 */
#include <pthread.h>
#include <sys/syscall.h>
#include "vt_common.h"

static int watched;
static int sleep_secs = 3;

__attribute__((noinline)) int customFunction1(int d);

__attribute__((noinline)) static int bottom_sleep(void)
{
	struct timespec ts = { sleep_secs, 0 };
	long ret;

	asm volatile("syscall" : "=a"(ret)
		     : "0"((long)SYS_nanosleep), "D"(&ts), "S"(0L)
		     : "rcx", "r11", "memory");
	return (int)ret;
}

__attribute__((noinline)) int customFunction3(int d)
{
	int r;

	if (d > 0)
		r = customFunction1(d - 1);
	else
		r = bottom_sleep();
	asm volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) int customFunction2(int d)
{
	int r = customFunction3(d);

	asm volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) int customFunction1(int d)
{
	int r = customFunction2(d);

	asm volatile("" ::: "memory");
	return r + 1;
}

static void *breacher(void *arg)
{
	vt_sleep_ms(500);
	__atomic_store_n(&watched, 1, __ATOMIC_SEQ_CST);
	return arg;
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? atoi(argv[1]) : 3;
	pthread_t th;
	int ret;

	if (argc > 2)
		sleep_secs = atoi(argv[2]);
	printf("customFunction1=%p customFunction2=%p customFunction3=%p main=%p pid=%d\n",
	       (void *)customFunction1, (void *)customFunction2,
	       (void *)customFunction3, (void *)main, getpid());
	fflush(stdout);
	ret = START_WATCH_INT("userstack", &watched, 0);
	if (ret)
		VT_FAIL("START_WATCH_INT: %s", vmon_strerror(ret));
	pthread_create(&th, NULL, breacher, NULL);
	/* bottom_sleep returns 0 (+3 per level) */
	ret = customFunction1(depth);
	pthread_join(th, NULL);
	cancel_watch();
	printf("done %d\n", ret);
	return 0;
}
