// SPDX-License-Identifier: GPL-2.0
/*
 * reapchurn: processes whose threads run while their leader sleeps, killed
 * and reaped at once, for SECS seconds.  While a dump describes such a
 * thread (the first task of its process the dump meets is then not the
 * leader), its process may be gone and its leader freed: the dump must not
 * follow the thread's group_leader or real_parent then.
 *
 *   reapchurn SECS THREADS    prints "cycles=N"
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include "vt_common.h"

static void *spin(void *arg)
{
	for (volatile unsigned long i = 0;; i++)
		;
	return arg;
}

static void child(int threads)
{
	pthread_t tid;

	for (int i = 0; i < threads; i++)
		if (pthread_create(&tid, NULL, spin, NULL))
			_exit(1);
	pthread_join(tid, NULL);	/* the leader sleeps (S), never a candidate */
	_exit(0);
}

int main(int argc, char **argv)
{
	struct timespec t0, t;
	long secs, cycles = 0;
	int threads;

	if (argc != 3)
		VT_FAIL("usage: reapchurn SECS THREADS");
	secs = atol(argv[1]);
	threads = atoi(argv[2]);
	if (secs <= 0 || threads <= 0 || threads > 64)
		VT_FAIL("bad arguments");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	srand(getpid());
	do {
		pid_t pid = fork();

		if (pid < 0)
			VT_FAIL("fork: %s", strerror(errno));
		if (!pid)
			child(threads);
		vt_sleep_ms(1 + rand() % 8);
		kill(pid, SIGKILL);
		if (waitpid(pid, NULL, 0) != pid)
			VT_FAIL("waitpid: %s", strerror(errno));
		cycles++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < secs);
	printf("cycles=%ld\n", cycles);
	return 0;
}
