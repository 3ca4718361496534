// SPDX-License-Identifier: GPL-2.0
/*
 * execrace: race remote-watch registration against the target's exec of a
 * setuid binary (run as an unprivileged user).
 *
 *   execrace ITER SUID_PROG HOLD
 *
 * ITER times: fork a child that execs SUID_PROG ("quota timers 0 HOLD":
 * setuid root, it waits for HOLD) after a short, varying spin, while the
 * parent registers watches on the child's variable as fast as it can until
 * the exec has happened.  Prints "execrace iter=N registered=R": every one
 * of those R watches must have ended at the exec (the scenario counts the
 * survivors in /proc/variable_monitor/watches).
 */
#include <sys/wait.h>
#include "vt_common.h"

static volatile long var;

int main(int argc, char **argv)
{
	int iter, i, registered = 0;
	char exe[64], link[256];

	if (argc != 4)
		VT_FAIL("usage: execrace ITER SUID_PROG HOLD");
	iter = atoi(argv[1]);
	for (i = 0; i < iter; i++) {
		pid_t pid = fork();
		watch_arg wa;

		if (pid == 0) {
			for (volatile long k = 0; k < (i % 50) * 2000; k++)
				;
			if (!freopen("/dev/null", "w", stdout))
				_exit(126);
			execl(argv[2], argv[2], "timers", "0", argv[3], (char *)NULL);
			_exit(127);
		}
		memset(&wa, 0, sizeof(wa));
		strcpy(wa.name, "execrace");
		wa.task_id = pid;
		wa.ptr = (void *)&var;
		wa.length_byte = sizeof(var);
		wa.threshold = 1L << 40;
		wa.greater_flag = 1;
		wa.time_ns = 10 * 1000 * 1000;
		snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
		for (int tries = 0; tries < 100000; tries++) {
			ssize_t n;

			if (!start_watch(wa))
				registered++;
			n = readlink(exe, link, sizeof(link) - 1);
			if (n > 0) {
				link[n] = 0;
				if (strstr(link, "suid"))
					break;
			} else if (n < 0 && errno == EACCES) {
				break;	/* setuid image: not ours to look at */
			}
		}
	}
	printf("execrace iter=%d registered=%d\n", iter, registered);
	fflush(stdout);
	vt_sleep_ms(1000);	/* reaping is asynchronous */
	printf("done\n");
	fflush(stdout);
	/* keep the fd (and any surviving watch) until the scenario has looked */
	while (access(argv[3], F_OK))
		vt_sleep_ms(50);
	return 0;
}
