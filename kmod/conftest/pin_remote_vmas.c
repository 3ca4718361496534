// SPDX-License-Identifier: GPL-2.0
/* VMON_HAVE_PIN_REMOTE_VMAS: pin_user_pages_remote() still takes vmas (< 6.5) */
#include <linux/mm.h>
long vmon_conftest(void);
long vmon_conftest(void)
{
	struct vm_area_struct **vmas = NULL;

	return pin_user_pages_remote(NULL, 0, 1, 0, NULL, vmas, NULL);
}
