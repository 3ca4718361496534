/* SPDX-License-Identifier: GPL-2.0 */
/*
 * variable_monitor: every kernel-version difference lives here.
 *
 * VMON_HAVE_* come from conftest.h, which the Makefile generates by
 * compiling the probes in conftest/ against the target kernel (distros
 * backport, so a version number is not enough).  Supported: 5.10 and later
 * (tested: Debian 5.10, 6.1, 6.12 and 7.2, each also with PREEMPT_RT).
 * Helpers the kernel lacks are defined under its own name when the probe
 * says it is absent, so call sites read as upstream; vmon_* wrappers are
 * for the differences that are not a missing helper.
 */
#ifndef _VMON_COMPAT_H
#define _VMON_COMPAT_H

#include <linux/version.h>
#include <linux/mm.h>
#include <linux/hrtimer.h>
#include <linux/sched.h>
#include "conftest.h"

/*
 * 5.8: mmap_read_trylock(), kthread_use_mm(), copy_from_user_nofault();
 * 5.9: pin_user_pages_remote() without a task; 5.10.y (5.11 upstream):
 * signal->exec_update_lock.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 10, 0)
#error "variable_monitor needs Linux 5.10 or later"
#endif

/* 5.17 renamed PDE_DATA() to pde_data(). */
#include <linux/proc_fs.h>
#ifndef VMON_HAVE_PDE_DATA
#define pde_data(inode)	PDE_DATA(inode)
#endif

/* 5.14 renamed task_struct.state (volatile long) to __state (unsigned int). */
static inline unsigned int vmon_read_task_state(struct task_struct *t)
{
#ifdef VMON_HAVE_TASK___STATE
	return READ_ONCE(t->__state);
#else
	return READ_ONCE(t->state);
#endif
}

/*
 * 6.1 replaced the mm->mmap list by the maple tree and its iterator.
 * Both walk in address order; the caller holds mmap_lock.
 */
#ifdef VMON_HAVE_VMA_ITERATOR
#define VMON_VMA_ITERATOR(name, mm)	VMA_ITERATOR(name, mm, 0)
#define vmon_for_each_vma(name, vma)	for_each_vma(name, vma)
#else
#define VMON_VMA_ITERATOR(name, mm)	struct mm_struct *name = (mm)
#define vmon_for_each_vma(name, vma) \
	for ((vma) = (name)->mmap; (vma); (vma) = (vma)->vm_next)
#endif

/* 5.14: the VMA that contains addr, or NULL (find_vma() may return a later one). */
#ifndef VMON_HAVE_VMA_LOOKUP
static inline struct vm_area_struct *vma_lookup(struct mm_struct *mm,
						unsigned long addr)
{
	struct vm_area_struct *vma = find_vma(mm, addr);

	if (vma && addr < vma->vm_start)
		vma = NULL;
	return vma;
}
#endif

/*
 * 5.16 added folios.  Before, a compound page's head plays the part: it is
 * what a pin holds, and the charge only needs a stable key and a size.
 */
#ifndef VMON_HAVE_FOLIO
struct folio;

static inline struct folio *page_folio(struct page *page)
{
	return (struct folio *)compound_head(page);
}

static inline long folio_nr_pages(struct folio *folio)
{
	return compound_nr((struct page *)folio);
}
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

/*
 * PREEMPT_RT: blocked on a sleeping spinlock; the real state is saved.
 * 5.15 added TASK_RTLOCK_WAIT.  5.10-rt's sleeping spinlocks wait in
 * TASK_UNINTERRUPTIBLE, so there such a task is reported as D.
 */
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

/*
 * A charge keeps the owner's user_struct alive.  free_uid() is exported
 * from 5.11 on; before, hold the owner's cred instead, whose ->user it is
 * (put_cred() is exported everywhere).  Call from the owner's context.
 */
#include <linux/cred.h>
static inline void *vmon_uid_hold(void)
{
#ifdef VMON_HAVE_EXPORT_FREE_UID
	return get_uid(current_user());
#else
	return (void *)get_current_cred();
#endif
}

static inline void vmon_uid_release(void *ref)
{
#ifdef VMON_HAVE_EXPORT_FREE_UID
	free_uid(ref);
#else
	put_cred(ref);
#endif
}

#endif /* _VMON_COMPAT_H */
