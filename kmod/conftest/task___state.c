// SPDX-License-Identifier: GPL-2.0
/* VMON_HAVE_TASK___STATE: task_struct.state is __state (5.14+) */
#include <linux/sched.h>
unsigned int vmon_conftest(struct task_struct *t);
unsigned int vmon_conftest(struct task_struct *t)
{
	return READ_ONCE(t->__state);
}
