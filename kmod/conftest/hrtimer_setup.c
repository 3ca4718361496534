// SPDX-License-Identifier: GPL-2.0
/* VMON_HAVE_HRTIMER_SETUP: hrtimer_setup() exists (6.13+) */
#include <linux/hrtimer.h>
void vmon_conftest(struct hrtimer *t, enum hrtimer_restart (*fn)(struct hrtimer *));
void vmon_conftest(struct hrtimer *t, enum hrtimer_restart (*fn)(struct hrtimer *))
{
	hrtimer_setup(t, fn, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
}
