// SPDX-License-Identifier: GPL-2.0
/*
 * variable_monitor: charging long-term pins to RLIMIT_MEMLOCK.
 *
 * Every user watch long-term-pins the folio that holds its variable (a
 * whole 2 MiB THP when the variable sits in one), and the pin outlives
 * munmap().  Such memory is unreclaimable and unmovable, so it is charged
 * the way io_uring charges registered buffers: to the watch owner's
 * user_struct->locked_vm, against the owner's RLIMIT_MEMLOCK, unless the
 * owner has CAP_IPC_LOCK.  A per-user counter (not mm->locked_vm) is what
 * makes the limit hold across fork().
 *
 * A folio is charged once per user however many of that user's watches
 * pin it (2049 watches on one array cost one folio), so each charge is a
 * refcounted (user, folio) entry in a small hash.  A pinned folio cannot
 * be split or migrated, so the folio pointer is a stable key while any of
 * the entry's pins is held.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/hashtable.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/sched/user.h>
#include <linux/sched/signal.h>
#include "vmon_priv.h"
#include "compat.h"

struct vmon_charge {
	struct hlist_node node;
	struct user_struct *user;	/* kept alive by ref */
	void *ref;			/* vmon_uid_hold() */
	struct folio *folio;		/* key only: the pins keep it */
	unsigned long nr_pages;
	unsigned int refs;		/* watches sharing this charge */
};

static DEFINE_MUTEX(vmon_pin_lock);	/* innermost: never held while taking another */
static DEFINE_HASHTABLE(vmon_charges, 10);

/* Add @nr pages to *@locked unless that passes @limit pages (io_uring's rule). */
static int vmon_locked_vm_add(atomic_long_t *locked, unsigned long nr,
			      unsigned long limit)
{
	long cur = atomic_long_read(locked);

	do {
		if ((unsigned long)cur + nr > limit)
			return -EDQUOT;
	} while (!atomic_long_try_cmpxchg(locked, &cur, cur + nr));
	return 0;
}

static struct vmon_charge *vmon_charge_find(struct user_struct *user,
					    struct folio *folio)
{
	struct vmon_charge *c;

	hash_for_each_possible(vmon_charges, c, node, (unsigned long)folio)
		if (c->folio == folio && c->user == user)
			return c;
	return NULL;
}

/**
 * vmon_pin_charge() - charge the folio of a just-pinned page to the caller
 * @page: pinned with FOLL_PIN | FOLL_LONGTERM on behalf of current
 *
 * Context: process context, the caller is the watch owner.
 * Return: the charge, to be passed to vmon_pin_uncharge() when the page is
 * unpinned; NULL when nothing is charged (CAP_IPC_LOCK); ERR_PTR(-EDQUOT)
 * when the folio would take the owner's user past RLIMIT_MEMLOCK, or
 * ERR_PTR(-ENOMEM).
 */
struct vmon_charge *vmon_pin_charge(struct page *page)
{
	struct folio *folio = page_folio(page);
	struct user_struct *user = current_user();
	atomic_long_t *locked = vmon_user_locked_vm(user);
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	struct vmon_charge *c, *fresh;
	int ret;

	if (capable(CAP_IPC_LOCK))
		return NULL;
	if (!locked)		/* kernel without the counter: cannot bound */
		return ERR_PTR(-EDQUOT);
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	if (!fresh)
		return ERR_PTR(-ENOMEM);
	mutex_lock(&vmon_pin_lock);
	c = vmon_charge_find(user, folio);
	if (c) {
		c->refs++;
		mutex_unlock(&vmon_pin_lock);
		kfree(fresh);
		return c;
	}
	c = fresh;
	c->nr_pages = folio_nr_pages(folio);
	ret = vmon_locked_vm_add(locked, c->nr_pages, limit);
	if (ret) {
		mutex_unlock(&vmon_pin_lock);
		kfree(c);
		return ERR_PTR(ret);
	}
	c->user = user;
	c->ref = vmon_uid_hold();
	c->folio = folio;
	c->refs = 1;
	hash_add(vmon_charges, &c->node, (unsigned long)folio);
	atomic64_add(c->nr_pages, &vmon_stats.pinned_pages);
	mutex_unlock(&vmon_pin_lock);
	return c;
}

/**
 * vmon_pin_uncharge() - drop one watch's share of a charge
 * @c: from vmon_pin_charge(); NULL is a no-op
 *
 * Call before (or right after) unpinning the page.  The last share gives
 * the pages back to the user's locked_vm.
 */
void vmon_pin_uncharge(struct vmon_charge *c)
{
	if (!c)
		return;
	mutex_lock(&vmon_pin_lock);
	if (--c->refs) {
		mutex_unlock(&vmon_pin_lock);
		return;
	}
	hash_del(&c->node);
	atomic_long_sub(c->nr_pages, vmon_user_locked_vm(c->user));
	atomic64_sub(c->nr_pages, &vmon_stats.pinned_pages);
	mutex_unlock(&vmon_pin_lock);
	vmon_uid_release(c->ref);
	kfree(c);
}
