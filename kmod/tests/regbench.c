// SPDX-License-Identifier: GPL-2.0
/*
 * regbench: register N watches on one timer, then cancel them one id at a
 * time, while another process opens, registers and closes in a loop.
 *
 *   regbench N
 *
 * Prints "register N ms=T", "cancel N ms=T" and "victim closes=K
 * max_close_ms=M" (the longest close() of the other process meanwhile).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "vt_common.h"

static long vars[8192];
static __u64 ids[8192];

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static watch_arg arg(long *p)
{
	watch_arg wa;

	memset(&wa, 0, sizeof(wa));
	strcpy(wa.name, "regbench");
	wa.ptr = p;
	wa.length_byte = sizeof(*p);
	wa.threshold = 1L << 40;
	wa.greater_flag = 1;
	wa.time_ns = 10 * 1000 * 1000;
	return wa;
}

static void victim(volatile int *stop, volatile double *max, volatile int *n)
{
	static long v;

	while (!*stop) {
		double t;
		int err = start_watch(arg(&v));

		if (err)
			VT_FAIL("victim watch: %s", vmon_strerror(err));
		t = now_ms();
		close(vmon_user_fd);
		vmon_user_fd = -1;
		t = now_ms() - t;
		if (t > *max)
			*max = t;
		(*n)++;
		vt_sleep_ms(5);
	}
}

int main(int argc, char **argv)
{
	struct { int stop, n; double max; } *sh;
	int i, n, err;
	double t;
	pid_t pid;

	if (argc != 2 || (n = atoi(argv[1])) <= 0 || n > 8192)
		VT_FAIL("usage: regbench N (1..8192)");
	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		VT_FAIL("mmap");
	t = now_ms();
	for (i = 0; i < n; i++) {
		err = start_watch_id(arg(&vars[i]), &ids[i]);
		if (err)
			VT_FAIL("watch %d: %s", i, vmon_strerror(err));
	}
	printf("register %d ms=%.0f\n", n, now_ms() - t);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		vmon_user_fd = -1;	/* its own device file */
		victim(&sh->stop, &sh->max, &sh->n);
		_exit(0);
	}
	vt_sleep_ms(200);
	t = now_ms();
	for (i = 0; i < n; i++) {
		err = cancel_watch_id(ids[i]);
		if (err)
			VT_FAIL("cancel %d: %s", i, vmon_strerror(err));
	}
	printf("cancel %d ms=%.0f\n", n, now_ms() - t);
	sh->stop = 1;
	waitpid(pid, NULL, 0);
	printf("victim closes=%d max_close_ms=%.1f\n", sh->n, sh->max);
	return 0;
}
