// SPDX-License-Identifier: GPL-2.0
/*
 * globalvar: a program not written against the vmon API.  Its global
 * vmon_queue_len is watched from outside (vmon-capture --watch
 * PID:vmon_queue_len>100).  It prints its pid, waits (up to WAIT_MS) until
 * /proc/variable_monitor/watches lists a watch named vmon_queue_len, then N
 * times raises the variable to 200 + i for HOLD_MS and drops it back to 0
 * for HOLD_MS, and prints each value it set.  Run as root (the watches file
 * is root only).
 *
 *   globalvar N HOLD_MS WAIT_MS
 */
#include "vt_common.h"

volatile long vmon_queue_len;

int main(int argc, char **argv)
{
	int n, hold, wait;

	if (argc != 4)
		VT_FAIL("usage: globalvar N HOLD_MS WAIT_MS");
	n = atoi(argv[1]);
	hold = atoi(argv[2]);
	wait = atoi(argv[3]);
	printf("globalvar pid %d\n", getpid());
	fflush(stdout);
	for (int t = 0; vt_watches(0, "vmon_queue_len", NULL, NULL) < 1; t += 10) {
		if (t >= wait)
			VT_FAIL("no watch on vmon_queue_len after %d ms", wait);
		vt_sleep_ms(10);
	}
	printf("watched\n");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		vmon_queue_len = 200 + i;
		printf("raised %d\n", 200 + i);
		fflush(stdout);
		vt_sleep_ms(hold);
		vmon_queue_len = 0;
		vt_sleep_ms(hold);
	}
	printf("done %d\n", n);
	return 0;
}
