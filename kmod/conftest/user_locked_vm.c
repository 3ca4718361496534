// SPDX-License-Identifier: GPL-2.0
/* VMON_HAVE_USER_LOCKED_VM: struct user_struct has locked_vm (NET, IO_URING, ...) */
#include <linux/sched/user.h>
long vmon_conftest(struct user_struct *u);
long vmon_conftest(struct user_struct *u)
{
	return atomic_long_read(&u->locked_vm);
}
