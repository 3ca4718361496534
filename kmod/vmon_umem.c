// SPDX-License-Identifier: GPL-2.0
/*
 * variable_monitor: reading other processes' user memory from the dump
 * worker without ever waiting on them.
 *
 * A dump runs exactly when something is stuck, and the thing stuck is
 * often a task that holds, or is queued behind, its mm's mmap_lock (a
 * fault on a frozen or hung filesystem, a FUSE or userfaultfd page).
 * access_process_vm() takes that lock and faults pages in, so one such
 * process would stall the single dump worker, every later dump and
 * rmmod.  Here the worker instead adopts the target's mm with
 * kthread_use_mm(), like io_uring's SQ thread and vhost do, and copies
 * with copy_from_user_nofault(): page faults are disabled, so a page that
 * is not resident is simply not read (the fault handler gives up before
 * it touches mmap_lock or the VMA lock), and nothing is ever faulted in,
 * swapped in or read ahead on another user's behalf.  The only lock taken
 * on a target mm is mmap_read_trylock(), to tell "past the end of the
 * mapping" from "not resident now" after a short read.
 *
 * Threads of one process are sampled one after another, so the adopted
 * mm is kept until a task of another process is read: one mm switch per
 * process, not per copy.  Single user: the dump work item, which is never
 * run concurrently with itself.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
#include <linux/delay.h>
#include <linux/timekeeping.h>
#include "vmon_priv.h"
#include "compat.h"

#define VMON_MMAP_WAIT_NS	(2 * NSEC_PER_MSEC)

static struct mm_struct *vmon_umm;	/* adopted mm, holds an mm_users ref */

/**
 * vmon_umem_detach() - give back the mm adopted by vmon_umem_attach()
 *
 * Must be called before the dump work returns: a kworker may not keep a
 * user mm between work items.  No-op when nothing is attached.
 */
void vmon_umem_detach(void)
{
	struct mm_struct *mm = vmon_umm;

	if (!mm)
		return;
	vmon_umm = NULL;
	kthread_unuse_mm(mm);
	/* the process may have exited meanwhile: let a kworker tear it down */
	mmput_async(mm);
}

/**
 * vmon_umem_attach() - make @t's user memory what vmon_umem_read() reads
 * @t: the task whose memory is read next; referenced by the caller
 *
 * Takes no lock of @t's mm and never sleeps on it (get_task_mm() takes
 * only task_lock()).  Keeps the current mm if @t shares it.
 *
 * Return: @t's mm, referenced until the next attach or detach; NULL for
 * kernel threads and processes past exit_mm() (nothing is attached then).
 */
struct mm_struct *vmon_umem_attach(struct task_struct *t)
{
	struct mm_struct *mm;

	if (t->flags & PF_KTHREAD)
		return NULL;
	/* we hold a reference on vmon_umm: the pointer cannot be reused */
	if (vmon_umm && READ_ONCE(t->mm) == vmon_umm)
		return vmon_umm;
	mm = get_task_mm(t);
	vmon_umem_detach();
	if (!mm)
		return NULL;
	kthread_use_mm(mm);
	vmon_umm = mm;
	return mm;
}

/**
 * vmon_mmap_trylock() - take @mm's mmap_lock for read within a small bound
 * @mm: any mm; need not be the attached one
 *
 * Retries mmap_read_trylock() every 100-200 us until VMON_MMAP_WAIT_NS
 * (2 ms) have passed, by the clock, so a loaded machine that oversleeps
 * costs one sleep more, not ten.  A trylock fails while a writer holds or
 * waits for the lock, so a task stalled with the lock held (or a reader
 * stalled ahead of a writer) makes the caller skip that mm rather than
 * wait with it.
 *
 * Return: true with the lock held for read.
 */
bool vmon_mmap_trylock(struct mm_struct *mm)
{
	u64 end = ktime_get_ns() + VMON_MMAP_WAIT_NS;

	for (;;) {
		if (mmap_read_trylock(mm))
			return true;
		if (ktime_get_ns() >= end)
			return false;
		usleep_range(100, 200);
	}
}

/*
 * After a short read at @uaddr: is it mapped, so that it was the page
 * (not resident, or protected) and not the end of the mapping?  Never
 * waits: a contended mmap_lock counts as "could not be read now".
 */
static bool vmon_umem_mapped(unsigned long uaddr)
{
	bool mapped;

	if (!mmap_read_trylock(vmon_umm))
		return true;
	mapped = vma_lookup(vmon_umm, uaddr) != NULL;
	mmap_read_unlock(vmon_umm);
	return mapped;
}

/* Bytes from @uaddr to the end of its page, at most @len. */
/**
 * vmon_umem_code_addrs() - whether addresses all lie in executable mappings
 * @addrs: user addresses (return addresses of a frame-pointer walk)
 * @n: how many
 *
 * One mmap_read_trylock(), no wait: a busy lock answers false, which only
 * costs the caller its shortcut.  Consecutive return addresses mostly fall
 * in the same mapping, so the last VMA is tried first.
 *
 * Return: true when every address is inside a VM_EXEC mapping of the
 * attached mm.
 */
bool vmon_umem_code_addrs(const u64 *addrs, unsigned int n)
{
	struct vm_area_struct *vma = NULL;
	unsigned int i;
	bool ok = true;

	if (!vmon_umm || !mmap_read_trylock(vmon_umm))
		return false;
	for (i = 0; i < n && ok; i++) {
		if (!vma || addrs[i] < vma->vm_start || addrs[i] >= vma->vm_end)
			vma = vma_lookup(vmon_umm, addrs[i]);
		ok = vma && (vma->vm_flags & VM_EXEC);
	}
	mmap_read_unlock(vmon_umm);
	return ok;
}

static u32 vmon_umem_chunk(unsigned long uaddr, u32 len)
{
	return min_t(unsigned long, len, PAGE_SIZE - offset_in_page(uaddr));
}

/**
 * vmon_umem_read() - copy user memory of the attached task, never waiting
 * @dst: kernel buffer of @len bytes
 * @uaddr: user address in the attached task's mm
 * @len: bytes wanted
 * @nowait: set to true when the copy stopped at memory that is mapped but
 *	could not be read without a fault or a lock wait (left untouched
 *	otherwise); may be NULL
 *
 * Copies page by page and stops at the first page that cannot be read
 * with page faults disabled.  Never faults, never takes mmap_lock or a
 * VMA lock for waiting, so it is bounded whatever the target does.
 *
 * Return: the number of bytes copied from the start of the range.
 */
u32 vmon_umem_read(void *dst, u64 uaddr, u32 len, bool *nowait)
{
	u32 done = 0, chunk;

	if (!vmon_umm || !len)
		return 0;
	while (done < len) {
		chunk = vmon_umem_chunk(uaddr + done, len - done);
		if (copy_from_user_nofault(dst + done,
					   (const void __user *)(uaddr + done),
					   chunk))
			break;
		done += chunk;
	}
	if (done < len && nowait && vmon_umem_mapped(uaddr + done))
		*nowait = true;
	return done;
}
