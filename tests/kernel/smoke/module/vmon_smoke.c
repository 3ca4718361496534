// SPDX-License-Identifier: GPL-2.0
/*
 * vmon_smoke: the kernel-test harness's self-test module.
 *
 * Proves that the harness builds an out-of-tree module for each kernel, loads it in the
 * booted guest, and notices when something goes wrong: mode=1 triggers a WARN (the
 * harness must report the scenario as FAIL), mode=2 panics (the harness must report the
 * scenario as CRASH and still print a summary).
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/utsname.h>

static int mode;
module_param(mode, int, 0444);
MODULE_PARM_DESC(mode, "0: hello, 1: WARN on load, 2: panic on load");

static int __init vmon_smoke_init(void)
{
	pr_info("vmon_smoke: hello from %s mode=%d\n", init_utsname()->release, mode);
	WARN(mode == 1, "vmon_smoke: deliberate warning for the harness self-test\n");
	if (mode == 2)
		panic("vmon_smoke: deliberate panic for the harness self-test\n");
	return 0;
}

static void __exit vmon_smoke_exit(void)
{
	pr_info("vmon_smoke: goodbye\n");
}

module_init(vmon_smoke_init);
module_exit(vmon_smoke_exit);
MODULE_DESCRIPTION("vmon kernel-test harness self-test");
MODULE_LICENSE("GPL");
