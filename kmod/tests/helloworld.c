// SPDX-License-Identifier: GPL-2.0
/*
 * helloworld: the original's test, scaled up.  Watches N ints (default
 * 2049) in one process with START_WATCH_INT (threshold 100), then makes
 * them breach in turn, 16 at a time, and checks in
 * /proc/variable_monitor/watches that every one of them breached.
 *
 *   helloworld [N] [HOLD_SECS]
 */
#include "vt_common.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2049;
	int hold = argc > 2 ? atoi(argv[2]) : 0;
	long long min = 0, sum = 0;
	int *vars = calloc(n, sizeof(*vars));
	char name[16];
	int i, ret;

	if (!vars || n <= 0)
		VT_FAIL("bad N");
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "hw%d", i);
		ret = START_WATCH_INT(name, &vars[i], 100);
		if (ret)
			VT_FAIL("watch %d: %s", i, vmon_strerror(ret));
	}
	if (vt_watches(getpid(), "hw", NULL, NULL) != n)
		VT_FAIL("expected %d watches registered", n);
	printf("registered %d\n", n);
	fflush(stdout);
	/*
	 * The first batch's breach starts the run's one dump (dump_reset_sec):
	 * a long first sleep lets the dump find this thread asleep in
	 * nanosleep however late its worker runs (tests/e2e/check.sh asserts
	 * that chain), not reading the watches table after the last batch.
	 */
	for (i = 0; i < n; i++) {
		vars[i] = 101 + i;
		if (i % 16 == 15)
			vt_sleep_ms(i == 15 ? 300 : 5);
	}
	for (int t = 0; t < 3000; t++) {
		vt_watches(getpid(), "hw", &sum, &min);
		if (min >= 1)
			break;
		vt_sleep_ms(10);
	}
	if (min < 1)
		VT_FAIL("not every watch breached: min breaches %lld, sum %lld", min, sum);
	printf("breached %d sum %lld\n", n, sum);
	fflush(stdout);
	vt_sleep_ms(hold * 1000L);
	ret = cancel_watch();
	if (ret)
		VT_FAIL("cancel_watch: %s", vmon_strerror(ret));
	if (vt_watches(getpid(), NULL, NULL, NULL) != 0)
		VT_FAIL("watches left after cancel_watch");
	printf("cancelled\n");
	return 0;
}
