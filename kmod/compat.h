/* SPDX-License-Identifier: GPL-2.0 */
/*
 * variable_monitor: every kernel-version difference lives here.
 *
 * VMON_HAVE_* come from conftest.h, which the Makefile generates by
 * compiling the probes in conftest/ against the target kernel (distros
 * backport, so a version number is not enough).  Supported: 6.1 and later.
 */
#ifndef _VMON_COMPAT_H
#define _VMON_COMPAT_H

#include <linux/version.h>
#include <linux/mm.h>
#include <linux/hrtimer.h>
#include <linux/sched.h>
#include "conftest.h"

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "variable_monitor needs Linux 6.1 or later (TASK_FROZEN, maple tree VMA iterator)"
#endif

/* 6.5 dropped the vmas argument. */
static inline long vmon_pin_user_pages_remote(struct mm_struct *mm,
					      unsigned long addr,
					      unsigned long nr,
					      unsigned int gup,
					      struct page **pages)
{
#ifdef VMON_HAVE_PIN_REMOTE_VMAS
	return pin_user_pages_remote(mm, addr, nr, gup, pages, NULL, NULL);
#else
	return pin_user_pages_remote(mm, addr, nr, gup, pages, NULL);
#endif
}

/* 6.13 added hrtimer_setup(); 6.15 removed hrtimer_init(). */
static inline void vmon_hrtimer_setup(struct hrtimer *t,
				      enum hrtimer_restart (*fn)(struct hrtimer *),
				      clockid_t clock, enum hrtimer_mode mode)
{
#ifdef VMON_HAVE_HRTIMER_SETUP
	hrtimer_setup(t, fn, clock, mode);
#else
	hrtimer_init(t, clock, mode);
	t->function = fn;
#endif
}

/* PREEMPT_RT: blocked on a sleeping spinlock; the real state is saved. */
static inline bool vmon_state_is_rtlock(unsigned int state)
{
#ifdef TASK_RTLOCK_WAIT
	return state & TASK_RTLOCK_WAIT;
#else
	return false;
#endif
}

/* 6.1 made frozen a state bit (TASK_FROZEN); before, PF_FROZEN. */
static inline bool vmon_state_is_frozen(struct task_struct *t,
					unsigned int state)
{
#ifdef TASK_FROZEN
	return state & TASK_FROZEN;
#else
	return t->flags & PF_FROZEN;
#endif
}

/*
 * user_struct->locked_vm, shared with io_uring, RDMA and vfio, exists when
 * one of them is configured (always on Debian).  NULL: no counter.
 */
#include <linux/sched/user.h>
static inline atomic_long_t *vmon_user_locked_vm(struct user_struct *user)
{
#ifdef VMON_HAVE_USER_LOCKED_VM
	return &user->locked_vm;
#else
	return NULL;
#endif
}

#endif /* _VMON_COMPAT_H */
