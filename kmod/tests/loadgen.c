// SPDX-License-Identifier: GPL-2.0
/*
 * loadgen: R running tasks (busy loops, comm vmon_busy) and D tasks that
 * count towards load (vfork parents waiting in TASK_KILLABLE, comm
 * vmon_dwait) for SECS seconds.
 *
 *   loadgen R D SECS
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "vt_common.h"

static void dwait(int secs)
{
	pid_t c;

	prctl(PR_SET_NAME, "vmon_dwait");
	c = vfork();
	if (c == 0) {
		struct timespec ts = { secs, 0 };

		syscall(SYS_nanosleep, &ts, NULL);
		_exit(0);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	int r, d, secs, i;
	pid_t *kids;

	if (argc != 4)
		VT_FAIL("usage: loadgen R D SECS");
	r = atoi(argv[1]);
	d = atoi(argv[2]);
	secs = atoi(argv[3]);
	kids = calloc(r + d + 1, sizeof(*kids));
	for (i = 0; i < r + d; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			VT_FAIL("fork: %s", strerror(errno));
		if (kids[i] == 0) {
			if (i >= r)
				dwait(secs);
			prctl(PR_SET_NAME, "vmon_busy");
			alarm(secs);
			for (;;)
				asm volatile("" ::: "memory");
		}
	}
	printf("loadgen running=%d uninterruptible=%d for %ds\n", r, d, secs);
	fflush(stdout);
	for (i = 0; i < r + d; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}
