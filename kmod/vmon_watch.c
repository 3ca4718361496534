// SPDX-License-Identifier: GPL-2.0
/*
 * variable_monitor: watches and their timers.
 *
 * Locking: vmon_mutex serializes every change of watches, owners and
 * timers.  vmon_lock (raw, taken by the exit/exec tracepoint probes, which
 * run with preemption off) additionally guards the owner hash and the
 * remote list.  A timer walks its RCU-published array of struct vmon_hot
 * from hard-irq context and never takes a lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/hashtable.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/seq_file.h>
#include <linux/capability.h>
#include <linux/pid.h>
#include <linux/binfmts.h>
#include <linux/security.h>
#include "vmon_priv.h"
#include "compat.h"
#include "vmon_trace.h"

struct vmon_owner {
	struct hlist_node hnode;
	struct list_head watches;	/* vmon_watch.onode */
	struct list_head dnode;		/* private, while being freed */
	pid_t tgid;
	unsigned int nr;
	bool dead;
	atomic64_t next_dump_ns;	/* dump cooldown; hard-irq */
};

/*
 * Per-uid accounting of unprivileged owners (the device was opened
 * without CAP_PERFMON/CAP_SYS_ADMIN): their watches and timers, and their
 * share of the dump rate.  Per uid, not per process, so fork() does not
 * multiply them.  Privileged owners are limited only by the global caps,
 * of which reserved_watches/reserved_timers are kept for them.  Under
 * vmon_mutex; the timer reads dump_tat only.
 */
struct vmon_user {
	struct hlist_node hnode;
	struct list_head dnode;		/* private, while being freed */
	kuid_t uid;
	unsigned int watches;
	unsigned int timers;
	atomic64_t dump_tat;		/* rate share, see vmon_rate_take() */
	atomic64_t line_tat;		/* its dmesg breach lines */
};

static DEFINE_MUTEX(vmon_mutex);
static DEFINE_RAW_SPINLOCK(vmon_lock);
static DEFINE_HASHTABLE(vmon_owners, 8);
static DEFINE_HASHTABLE(vmon_users, 6);
static unsigned int vmon_nr_user_watches, vmon_nr_user_timers;
static atomic64_t vmon_rate_all = ATOMIC64_INIT(0);	/* every dump */
static atomic64_t vmon_rate_users = ATOMIC64_INIT(0);	/* unprivileged ones */
/*
 * Watches on another process's memory, per target process, hashed by its
 * tgid: an exit or exec anywhere in the system looks at its own bucket,
 * not at every remote watch (under vmon_lock, with preemption off).
 */
struct vmon_target {
	struct hlist_node hnode;
	struct list_head watches;	/* vmon_watch.rnode */
	pid_t tgid;
	unsigned int nr;
};
static DEFINE_HASHTABLE(vmon_targets, 10);
static LIST_HEAD(vmon_timers);
static unsigned int vmon_nr_watches, vmon_nr_timers;
static atomic_t vmon_live_watches = ATOMIC_INIT(0);
static bool vmon_active = true;		/* vmon_set_active(), under vmon_mutex */
static u64 vmon_active_since;		/* CLOCK_BOOTTIME ns of the last change */
static atomic64_t vmon_next_id = ATOMIC64_INIT(0);
static bool vmon_closing;

static void vmon_reap_fn(struct work_struct *work);
static DECLARE_WORK(vmon_reap_work, vmon_reap_fn);

/* ---------------------------------------------------------- timer tick */

static s64 vmon_read_value(const struct vmon_hot *h)
{
	bool u = h->flags & VMON_WATCH_UNSIGNED;

	switch (h->length) {
	case 1:
		return u ? (s64)READ_ONCE(*(const u8 *)h->kaddr) :
			   (s64)READ_ONCE(*(const s8 *)h->kaddr);
	case 2:
		return u ? (s64)READ_ONCE(*(const u16 *)h->kaddr) :
			   (s64)READ_ONCE(*(const s16 *)h->kaddr);
	case 4:
		return u ? (s64)READ_ONCE(*(const u32 *)h->kaddr) :
			   (s64)READ_ONCE(*(const s32 *)h->kaddr);
	default:
		return READ_ONCE(*(const s64 *)h->kaddr);
	}
}

static bool vmon_breached(const struct vmon_hot *h, u32 flags, s64 v)
{
	if (flags & VMON_WATCH_UNSIGNED) {
		if (flags & VMON_WATCH_GREATER)
			return (u64)v > (u64)h->threshold;
		return (u64)v < (u64)h->threshold;
	}
	if (flags & VMON_WATCH_GREATER)
		return v > h->threshold;
	return v < h->threshold;
}

/* a < b, as the watch compares its values */
static bool vmon_value_lt(u32 flags, s64 a, s64 b)
{
	return flags & VMON_WATCH_UNSIGNED ? (u64)a < (u64)b : a < b;
}

/*
 * The change of a VMON_WATCH_RATE watch: v minus the lowest (">") or
 * highest ("<") value of this bucket and the one before.  A tick after a
 * gap of two windows or more (the first, or a throttled timer) starts over.
 */
static s64 vmon_rate_change(struct vmon_trigger *t, u32 flags, s64 v, u64 now)
{
	bool up = flags & VMON_WATCH_GREATER;
	s64 ref;

	if (!t->bucket_start || now - t->bucket_start >= 2 * t->window_ns) {
		t->bucket_start = now;
		t->ref_cur = t->ref_prev = v;
	} else if (now - t->bucket_start >= t->window_ns) {
		t->bucket_start = now;
		t->ref_prev = t->ref_cur;
		t->ref_cur = v;
	} else if (up ? vmon_value_lt(flags, v, t->ref_cur) :
			vmon_value_lt(flags, t->ref_cur, v)) {
		t->ref_cur = v;
	}
	ref = t->ref_prev;
	if (up ? vmon_value_lt(flags, t->ref_cur, ref) :
		 vmon_value_lt(flags, ref, t->ref_cur))
		ref = t->ref_cur;
	return (s64)((u64)v - (u64)ref);	/* wraps like the counter did */
}

/* May a breach of a REARM watch end on this (compared) value x? */
static bool vmon_rearmed(const struct vmon_trigger *t, u32 flags, s64 x)
{
	if (flags & VMON_WATCH_GREATER)
		return !vmon_value_lt(flags, t->rearm, x);	/* x <= rearm */
	return !vmon_value_lt(flags, x, t->rearm);		/* x >= rearm */
}

/*
 * Generic cell rate algorithm, lockless for any CPU in hard-irq: at most
 * @rate events per second with bursts of @burst.  *tat is the theoretical
 * arrival time of the next event; rate 0 means no limit.
 */
static bool vmon_rate_take(atomic64_t *tat, u64 now, u64 rate, u64 burst)
{
	u64 period, base;
	s64 t;

	if (!rate)
		return true;
	period = div64_u64(NSEC_PER_SEC, rate);
	t = atomic64_read(tat);
	do {
		base = max_t(u64, t, now);
		if (base + period - now > burst * period)
			return false;
	} while (!atomic64_try_cmpxchg(tat, &t, base + period));
	return true;
}

/* One dump per owner per dump_reset_sec. */
static bool vmon_cooldown_take(atomic64_t *next, u64 now)
{
	u64 reset = READ_ONCE(vmon_dump_reset_sec) * NSEC_PER_SEC;
	s64 n = atomic64_read(next);

	do {
		if (now < (u64)n)
			return false;
	} while (!atomic64_try_cmpxchg(next, &n, now + reset));
	return true;
}

/*
 * May this breach dump?  Unprivileged dumps need a reader (nobody else can
 * see them) and fit in user_dump_rate together and half of it per uid;
 * every dump fits in dump_rate, so privileged watches always keep
 * dump_rate - user_dump_rate.  A level that refuses after an earlier one
 * granted wastes that grant: conservative.
 */
static bool vmon_dump_allowed(struct vmon_watch *w, u64 now)
{
	u64 rate = READ_ONCE(vmon_dump_rate);
	u64 urate = READ_ONCE(vmon_user_dump_rate);
	u64 share = urate ? max_t(u64, urate / 2, 1) : 0;
	struct vmon_user *u = w->user;

	if (u && !vmon_ring_has_reader()) {
		atomic64_inc(&vmon_stats.dumps_no_reader);
		return false;
	}
	if (!vmon_cooldown_take(&w->owner->next_dump_ns, now))
		return false;
	if ((u && (!vmon_rate_take(&u->dump_tat, now, share, share) ||
		   !vmon_rate_take(&vmon_rate_users, now, urate, urate))) ||
	    !vmon_rate_take(&vmon_rate_all, now, rate, rate)) {
		atomic64_inc(&vmon_stats.dumps_rate_limited);
		return false;
	}
	return true;
}

/*
 * The dmesg breach line.  A tick never prints: on a non-RT kernel with a
 * serial console at the default loglevel a line costs about 9 ms of the
 * interrupt.  The tick fills one of VMON_NR_LINES slots and a work item
 * prints it in process context.  Lines are rate limited per class, so no
 * user can use up another's: privileged watches 10 per 5 s; unprivileged
 * ones 5 per 5 s per uid and 10 per 5 s for all of them together, in at
 * most half of the slots.  What does not fit is counted in
 * lines_suppressed (the edge itself is still counted and traced).
 */
#define VMON_NR_LINES		8
#define VMON_LINE_RATE		2	/* per second, burst 5 s worth */

struct vmon_line {
	atomic_t state;			/* VMON_SLOT_* */
	pid_t pid;			/* 0: kernel watch */
	s64 value;
	s64 threshold;
	u64 addr;
	char name[VMON_NAME_LEN];
	char ksym[VMON_KSYM_LEN];
};

static struct vmon_line vmon_lines[VMON_NR_LINES];
static atomic64_t vmon_line_priv_tat = ATOMIC64_INIT(0);
static atomic64_t vmon_line_users_tat = ATOMIC64_INIT(0);
static void vmon_line_fn(struct work_struct *work);
static DECLARE_WORK(vmon_line_work, vmon_line_fn);

static void vmon_line_fn(struct work_struct *work)
{
	int i;

	for (i = 0; i < VMON_NR_LINES; i++) {
		struct vmon_line *l = &vmon_lines[i];

		if (atomic_read_acquire(&l->state) != VMON_SLOT_READY)
			continue;
		/* the name is the user's: escaped; a kernel value is nobody's business */
		if (l->pid)
			pr_info("breach pid=%d watch=%*pE value=%lld threshold=%lld addr=%p\n",
				l->pid, (int)strnlen(l->name, sizeof(l->name)),
				l->name, l->value, l->threshold,
				(void *)(unsigned long)l->addr);
		else
			pr_info("breach kernel watch=%*pE ksym=%s\n",
				(int)strnlen(l->name, sizeof(l->name)),
				l->name, l->ksym);
		atomic_set_release(&l->state, VMON_SLOT_FREE);
	}
}

/* Hard-irq safe: claim a slot, copy the line's fields, queue the printer. */
static void vmon_line_queue(struct vmon_watch *w, s64 v, u64 now)
{
	struct vmon_user *u = w->user;
	struct vmon_line *l = NULL;
	int i;

	if (u ? !vmon_rate_take(&u->line_tat, now, VMON_LINE_RATE / 2,
				5 * VMON_LINE_RATE / 2) ||
		!vmon_rate_take(&vmon_line_users_tat, now, VMON_LINE_RATE,
				5 * VMON_LINE_RATE) :
		!vmon_rate_take(&vmon_line_priv_tat, now, VMON_LINE_RATE,
				5 * VMON_LINE_RATE))
		goto suppressed;
	for (i = u ? VMON_NR_LINES / 2 : 0; i < VMON_NR_LINES; i++)
		if (atomic_cmpxchg(&vmon_lines[i].state, VMON_SLOT_FREE,
				   VMON_SLOT_FILLING) == VMON_SLOT_FREE) {
			l = &vmon_lines[i];
			break;
		}
	if (!l)
		goto suppressed;
	l->pid = w->target_tgid;
	l->value = v;
	l->threshold = w->threshold;
	l->addr = w->addr;
	memcpy(l->name, w->name, sizeof(l->name));
	memcpy(l->ksym, w->ksym, sizeof(l->ksym));
	atomic_set_release(&l->state, VMON_SLOT_READY);
	queue_work(system_wq, &vmon_line_work);
	return;
suppressed:
	atomic64_inc(&vmon_stats.lines_suppressed);
}

/* Hard-irq context: no allocation, no spinlock_t, no printk. */
static void vmon_fire(struct vmon_timer *tm, struct vmon_watch *w, s64 v,
		      u64 now)
{
	struct vmon_event *ev;
	struct vmon_rec_breach *r;

	if (READ_ONCE(w->dead))	/* its process is gone; reaping is queued */
		return;
	WRITE_ONCE(w->breaches, w->breaches + 1);
	atomic64_inc(&vmon_stats.breaches);
	trace_breach(w->id, w->target_tgid, w->name, v, w->threshold);
	vmon_line_queue(w, v, now);
	if (!vmon_dump_allowed(w, now))
		return;
	ev = vmon_event_claim(!w->user);
	if (!ev) {
		atomic64_inc(&vmon_stats.dumps_skipped);
		return;
	}
	/* the BREACH record carries the time of the breach, not of the dump */
	ev->time_ns = ktime_get_boottime_ns();
	r = &ev->rec;
	memset(r, 0, sizeof(*r));
	r->watch_id = w->id;
	r->value = v;
	r->threshold = w->threshold;
	r->addr = w->addr;
	r->interval_ns = w->interval_ns;
	r->owner_pid = w->owner_tgid;
	r->target_pid = w->target_tgid;
	r->watch_flags = w->flags;
	r->length = w->length;
	memcpy(r->name, w->name, sizeof(r->name));
	memcpy(r->ksym, w->ksym, sizeof(r->ksym));
	r->consecutive = w->trig.consecutive;
	r->rearm = w->trig.rearm;
	r->rate_window_ns = w->trig.window_ns;
	atomic_set_release(&ev->state, VMON_SLOT_READY);
	vmon_dump_queue(!w->user);
}

/*
 * Unprivileged timers are bounded per CPU, whatever users do: they are
 * HRTIMER_MODE_SOFT (softirq, or a thread on PREEMPT_RT, so privileged
 * HARD timers and every interrupt preempt them), a tick walks at most
 * user_tick_checks entries and resumes there on the next tick, and their
 * ticks on one CPU share a leaky bucket of user_cpu_pct percent of the
 * CPU (burst: that share of 1 ms).  A tick that finds the bucket full is
 * skipped and counted in "throttled".  Per-CPU state is touched only from
 * soft timer callbacks, which one CPU runs one at a time.
 */
struct vmon_cpu_bucket {
	u64 last_ns;
	u64 debt_ns;
};
static DEFINE_PER_CPU(struct vmon_cpu_bucket, vmon_cpu_bucket);

static bool vmon_user_bucket_ok(u64 now)
{
	struct vmon_cpu_bucket *b = this_cpu_ptr(&vmon_cpu_bucket);
	u64 pct = READ_ONCE(vmon_user_cpu_pct);
	u64 credit = div_u64((now - b->last_ns) * pct, 100);

	b->last_ns = now;
	b->debt_ns = b->debt_ns > credit ? b->debt_ns - credit : 0;
	return b->debt_ns < NSEC_PER_MSEC * pct / 100;
}

static void vmon_user_bucket_charge(u64 ns)
{
	this_cpu_ptr(&vmon_cpu_bucket)->debt_ns += ns;
}

/*
 * One tick of a watch with a trigger extension: the compared quantity (the
 * value, or its change), then the edge rules of consecutive and rearm.
 * Kept out of the plain walk so watches without one pay a flag test only.
 */
static void vmon_trigger_tick(struct vmon_timer *tm, struct vmon_hot *h,
			      u32 flags, s64 v, u64 now)
{
	struct vmon_trigger *t = &h->w->trig;
	u32 cmp = flags;
	s64 x = v;
	bool past;

	if (flags & VMON_WATCH_RATE) {
		x = vmon_rate_change(t, flags, v, now);
		cmp &= ~VMON_WATCH_UNSIGNED;	/* a change is signed */
	}
	past = vmon_breached(h, cmp, x);
	if (h->in_breach) {
		if (flags & VMON_WATCH_REARM ? vmon_rearmed(t, cmp, x) : !past) {
			h->in_breach = false;
			WRITE_ONCE(h->w->in_breach, false);
		}
		return;
	}
	if (!past) {
		t->run = 0;
		return;
	}
	if (t->run < U32_MAX)
		t->run++;
	if (t->run < t->consecutive)
		return;
	t->run = 0;
	h->in_breach = true;
	WRITE_ONCE(h->w->in_breach, true);
	vmon_fire(tm, h->w, x, now);
}

/* Walk hot[from, to); breach edges fire with the tick's start time. */
static void vmon_tick_walk(struct vmon_timer *tm, struct vmon_tarray *arr,
			   unsigned int from, unsigned int to, u64 start)
{
	unsigned int i;

	for (i = from; i < to; i++) {
		struct vmon_hot *h = &arr->hot[i];
		u32 flags = READ_ONCE(h->flags);
		s64 v;
		bool b;

		if (flags & VMON_HOT_OFF)
			continue;
		v = vmon_read_value(h);
		if (unlikely(flags & VMON_HOT_TRIGGER)) {
			vmon_trigger_tick(tm, h, flags, v, start);
			continue;
		}
		b = vmon_breached(h, flags, v);
		if (b == h->in_breach)
			continue;
		h->in_breach = b;
		WRITE_ONCE(h->w->in_breach, b);
		if (b)
			vmon_fire(tm, h->w, v, start);
	}
}

static enum hrtimer_restart vmon_timer_fn(struct hrtimer *hrt)
{
	struct vmon_timer *tm = container_of(hrt, struct vmon_timer, hrt);
	u64 start = ktime_get_ns(), cost, missed;
	unsigned int from = 0, to = 0, nr = 0;
	struct vmon_tarray *arr;

	if (tm->user && !vmon_user_bucket_ok(start)) {
		tm->throttled++;
		goto forward;
	}
	rcu_read_lock();
	arr = rcu_dereference(tm->arr);
	if (arr)	/* pairs with the release in vmon_timer_append() */
		nr = to = smp_load_acquire(&arr->nr);
	if (arr && tm->user) {
		/* resume where the last tick stopped */
		from = tm->cursor < to ? tm->cursor : 0;
		to = min_t(u64, to, from + READ_ONCE(vmon_user_tick_checks));
		tm->cursor = to < nr ? to : 0;
	}
	if (arr)
		vmon_tick_walk(tm, arr, from, to, start);
	rcu_read_unlock();
	cost = ktime_get_ns() - start;
	if (tm->user)
		vmon_user_bucket_charge(cost);
	tm->ticks++;
	tm->checks += to - from;
	tm->ns_total += cost;
	/* Never let a tick that costs more than half its interval own the CPU. */
	if (cost > tm->interval_ns / 2) {
		tm->overloaded++;
		hrtimer_forward(hrt, ns_to_ktime(start + 2 * cost),
				ns_to_ktime(tm->interval_ns));
	}
forward:
	missed = hrtimer_forward_now(hrt, ns_to_ktime(tm->interval_ns));
	if (missed > 1)
		tm->overruns += missed - 1;
	return HRTIMER_RESTART;
}

/* ------------------------------------------------------- timers, owners */

/* What unprivileged owners may use of a global cap, all together. */
static unsigned int vmon_user_cap(unsigned int max, unsigned int reserved)
{
	return max > reserved ? max - reserved : 0;
}

/*
 * Privileged watches share a timer per interval; an unprivileged uid's
 * watches get timers of their own (@u), so that nobody can slow down or
 * crowd another user's polling by joining its interval.
 */
static struct vmon_timer *vmon_timer_get(u64 interval_ns, struct vmon_user *u)
{
	struct vmon_timer *tm;

	list_for_each_entry(tm, &vmon_timers, node)
		if (tm->interval_ns == interval_ns && tm->user == u)
			return tm;
	if (vmon_nr_timers >= vmon_max_timers)
		return ERR_PTR(-ENOSPC);
	if (u && (u->timers >= vmon_max_timers_per_user ||
		  vmon_nr_user_timers >= vmon_user_cap(vmon_max_timers,
							vmon_reserved_timers)))
		return ERR_PTR(-ENOSPC);
	tm = kzalloc(sizeof(*tm), GFP_KERNEL_ACCOUNT);
	if (!tm)
		return ERR_PTR(-ENOMEM);
	INIT_LIST_HEAD(&tm->watches);
	tm->interval_ns = interval_ns;
	tm->user = u;
	if (u) {
		u->timers++;
		vmon_nr_user_timers++;
	}
	tm->mode = u ? HRTIMER_MODE_REL_SOFT : HRTIMER_MODE_REL_HARD;
	vmon_hrtimer_setup(&tm->hrt, vmon_timer_fn, CLOCK_MONOTONIC, tm->mode);
	list_add(&tm->node, &vmon_timers);
	vmon_nr_timers++;
	return tm;
}

/*
 * Publish a new array of tm's live watches; the old one is freed after a
 * grace period.  A breach edge that races with the copy of in_breach may
 * be reported twice or not at all, once.
 */
static void vmon_hot_fill(struct vmon_hot *h, struct vmon_watch *w)
{
	h->kaddr = w->kaddr;
	h->threshold = w->threshold;
	h->flags = w->flags;
	if (w->trig.consecutive > 1 ||
	    w->flags & (VMON_WATCH_REARM | VMON_WATCH_RATE))
		h->flags |= VMON_HOT_TRIGGER;
	h->length = w->length;
	h->in_breach = READ_ONCE(w->in_breach);
	h->pad = 0;
	h->w = w;
}

/*
 * Add w, just linked last on tm->watches, to the published array in place
 * when it has room: a tick sees the entry only once nr covers it.  Arrays
 * grow by doubling, so filling a timer costs O(n), not O(n^2).
 */
static bool vmon_timer_append(struct vmon_timer *tm, struct vmon_watch *w)
{
	struct vmon_tarray *arr;

	arr = rcu_dereference_protected(tm->arr, lockdep_is_held(&vmon_mutex));
	if (!arr || arr->nr >= arr->cap || arr->nr + 1 != tm->nr + tm->off)
		return false;
	vmon_hot_fill(&arr->hot[arr->nr], w);
	w->slot = arr->nr;
	smp_store_release(&arr->nr, arr->nr + 1);
	return true;
}

static int vmon_timer_rebuild(struct vmon_timer *tm)
{
	struct vmon_tarray *old, *arr = NULL;
	struct vmon_watch *w;
	unsigned int i = 0, cap;

	old = rcu_dereference_protected(tm->arr, lockdep_is_held(&vmon_mutex));
	if (tm->nr) {
		cap = max(16U, tm->nr * 2);
		arr = kvmalloc(struct_size(arr, hot, cap), GFP_KERNEL_ACCOUNT);
		if (!arr)
			return -ENOMEM;
		list_for_each_entry(w, &tm->watches, tnode) {
			vmon_hot_fill(&arr->hot[i], w);
			w->slot = i++;
		}
		arr->nr = i;
		arr->cap = cap;
	}
	tm->off = 0;
	rcu_assign_pointer(tm->arr, arr);
	tm->dirty = false;
	if (old)
		kvfree_rcu(old, rcu);
	return 0;
}

static struct vmon_owner *vmon_owner_find(pid_t tgid)
{
	struct vmon_owner *o;

	hash_for_each_possible(vmon_owners, o, hnode, tgid)
		if (o->tgid == tgid && !o->dead)
			return o;
	return NULL;
}

static struct vmon_owner *vmon_owner_get(pid_t tgid)
{
	struct vmon_owner *o = vmon_owner_find(tgid);

	if (o)
		return o;
	o = kzalloc(sizeof(*o), GFP_KERNEL_ACCOUNT);
	if (!o)
		return NULL;
	o->tgid = tgid;
	INIT_LIST_HEAD(&o->watches);
	raw_spin_lock(&vmon_lock);
	hash_add(vmon_owners, &o->hnode, tgid);
	raw_spin_unlock(&vmon_lock);
	return o;
}

static struct vmon_user *vmon_user_get(kuid_t uid)
{
	struct vmon_user *u;

	hash_for_each_possible(vmon_users, u, hnode, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	u = kzalloc(sizeof(*u), GFP_KERNEL_ACCOUNT);
	if (!u)
		return NULL;
	u->uid = uid;
	hash_add(vmon_users, &u->hnode, __kuid_val(uid));
	return u;
}

/* Unhash u once nothing of it is left; freed with batch b (or now if NULL). */
static void vmon_user_release(struct vmon_user *u, struct list_head *b)
{
	if (!u || u->watches || u->timers)
		return;
	hash_del(&u->hnode);
	if (b)
		list_add(&u->dnode, b);
	else
		kfree(u);	/* never reached a timer */
}

/* ---------------------------------------------------------- removal */

/* What one removal frees after a single RCU grace period. */
struct vmon_batch {
	struct list_head watches;
	struct list_head timers;
	struct list_head owners;
	struct list_head users;
};

#define VMON_BATCH(b) struct vmon_batch b = {			\
	LIST_HEAD_INIT(b.watches), LIST_HEAD_INIT(b.timers),	\
	LIST_HEAD_INIT(b.owners), LIST_HEAD_INIT(b.users) }

/* Unlink w from everything; vmon_mutex held.  Nothing is freed yet. */
static void vmon_unlink(struct vmon_watch *w, struct vmon_batch *b)
{
	struct vmon_timer *tm = w->timer;
	struct vmon_owner *o = w->owner;
	struct vmon_target *gone = NULL;
	struct vmon_tarray *arr;

	arr = rcu_dereference_protected(tm->arr, lockdep_is_held(&vmon_mutex));
	if (arr && w->slot < arr->nr && arr->hot[w->slot].w == w) {
		WRITE_ONCE(arr->hot[w->slot].flags,
			   arr->hot[w->slot].flags | VMON_HOT_OFF);
		tm->off++;
	}
	tm->dirty = true;
	list_del(&w->tnode);
	raw_spin_lock(&vmon_lock);
	list_del(&w->onode);
	if (w->remote) {
		list_del(&w->rnode);
		if (!--w->rtarget->nr) {
			hash_del(&w->rtarget->hnode);
			gone = w->rtarget;
		}
		w->rtarget = NULL;
	}
	if (!--o->nr) {
		hash_del(&o->hnode);
		list_add(&o->dnode, &b->owners);
	}
	raw_spin_unlock(&vmon_lock);
	kfree(gone);	/* only vmon_lock holders look at a target */
	list_del(&w->fnode);
	vmon_nr_watches--;
	atomic_dec(&vmon_live_watches);
	/* the charge ends now; the pin after the grace period */
	vmon_pin_uncharge(w->charge);
	w->charge = NULL;
	list_add_tail(&w->dnode, &b->watches);
	if (w->user) {
		w->user->watches--;
		vmon_nr_user_watches--;
	}
	if (!--tm->nr) {
		/* waits for a running callback, which may still see w */
		hrtimer_cancel(&tm->hrt);
		list_move(&tm->node, &b->timers);
		vmon_nr_timers--;
		if (tm->user) {
			tm->user->timers--;
			vmon_nr_user_timers--;
		}
	}
	vmon_user_release(w->user, &b->users);
}

/* Give back w's page and its RLIMIT_MEMLOCK share. */
static void vmon_unpin(struct vmon_watch *w)
{
	if (!w->page)
		return;
	vmon_pin_uncharge(w->charge);
	unpin_user_page(w->page);
	w->page = NULL;
	w->charge = NULL;
}

/* Free the timers and owners a batch emptied; after any grace period. */
static void vmon_batch_free_rest(struct vmon_batch *b)
{
	struct vmon_timer *tm, *tt;
	struct vmon_owner *o, *ot;
	struct vmon_user *u, *ut;

	list_for_each_entry_safe(tm, tt, &b->timers, node) {
		atomic64_add(tm->ticks, &vmon_stats.retired_ticks);
		atomic64_add(tm->checks, &vmon_stats.retired_checks);
		atomic64_add(tm->ns_total, &vmon_stats.retired_ns);
		atomic64_add(tm->overruns, &vmon_stats.retired_overruns);
		kvfree(rcu_dereference_protected(tm->arr, 1));
		kfree(tm);
	}
	list_for_each_entry_safe(o, ot, &b->owners, dnode)
		kfree(o);
	list_for_each_entry_safe(u, ut, &b->users, dnode)
		kfree(u);
}

/*
 * vmon_mutex held: compact the arrays b's removals left half dead.  The
 * removed entries are already VMON_HOT_OFF, which a tick skips without
 * touching them, so a rebuild is only worth it when dead entries
 * outnumber live ones: removal costs O(1) amortized instead of a copy of
 * the whole array per cancelled id.
 */
static void vmon_batch_publish(struct vmon_batch *b)
{
	struct vmon_timer *tm;

	if (list_empty(&b->watches))
		return;
	list_for_each_entry(tm, &vmon_timers, node)
		if (tm->dirty && tm->off > tm->nr)
			vmon_timer_rebuild(tm);	/* on failure OFF entries stay */
}

static void vmon_batch_free_now(struct vmon_batch *b)
{
	struct vmon_watch *w, *wt;

	list_for_each_entry_safe(w, wt, &b->watches, dnode) {
		vmon_unpin(w);
		kfree(w);
	}
	vmon_batch_free_rest(b);
}

/* A batch handed to the workqueue after a grace period. */
struct vmon_rcu_batch {
	struct rcu_work rwork;
	struct vmon_batch b;
};

static void vmon_rcu_batch_fn(struct work_struct *work)
{
	struct vmon_rcu_batch *rb = container_of(to_rcu_work(work),
						 struct vmon_rcu_batch, rwork);

	vmon_batch_free_now(&rb->b);
	kfree(rb);
}

static void vmon_batch_move(struct vmon_batch *to, struct vmon_batch *from)
{
	INIT_LIST_HEAD(&to->watches);
	INIT_LIST_HEAD(&to->timers);
	INIT_LIST_HEAD(&to->owners);
	INIT_LIST_HEAD(&to->users);
	list_splice_init(&from->watches, &to->watches);
	list_splice_init(&from->timers, &to->timers);
	list_splice_init(&from->owners, &to->owners);
	list_splice_init(&from->users, &to->users);
}

/*
 * After vmon_batch_publish() and without vmon_mutex: only running timer
 * walks can still see b's objects.  They are freed (and their pages
 * unpinned) from vmon_wq after a grace period, so neither the caller nor
 * other users' ioctl, close() and exit wait for one; the RLIMIT_MEMLOCK
 * charges were already given back by vmon_unlink().  vmon_watch_exit()
 * waits for these with rcu_barrier().
 */
static void vmon_batch_free(struct vmon_batch *b)
{
	struct vmon_rcu_batch *rb;

	if (list_empty(&b->watches))
		return;
	rb = kmalloc(sizeof(*rb), GFP_KERNEL);
	if (!rb) {
		synchronize_rcu();	/* running timer walks are done with them */
		vmon_batch_free_now(b);
		return;
	}
	vmon_batch_move(&rb->b, b);
	INIT_RCU_WORK(&rb->rwork, vmon_rcu_batch_fn);
	queue_rcu_work(vmon_wq, &rb->rwork);
}

void vmon_file_release_watches(struct vmon_file *f)
{
	struct vmon_watch *w, *tmp;
	VMON_BATCH(b);

	mutex_lock(&vmon_mutex);
	list_for_each_entry_safe(w, tmp, &f->watches, fnode)
		vmon_unlink(w, &b);
	vmon_batch_publish(&b);
	mutex_unlock(&vmon_mutex);
	vmon_batch_free(&b);
}

/* id 0: every watch the calling process owns, through any file. */
long vmon_ioc_cancel(struct vmon_file *f, unsigned long id)
{
	struct vmon_watch *w, *tmp;
	struct vmon_owner *o;
	long ret = id ? -ENOENT : 0;
	VMON_BATCH(b);

	mutex_lock(&vmon_mutex);
	o = vmon_owner_find(current->tgid);
	if (o) {
		list_for_each_entry_safe(w, tmp, &o->watches, onode) {
			if (id && w->id != id)
				continue;
			vmon_unlink(w, &b);
			ret = 0;
		}
	}
	vmon_batch_publish(&b);
	mutex_unlock(&vmon_mutex);
	vmon_batch_free(&b);
	return ret;
}

static void vmon_reap_fn(struct work_struct *work)
{
	struct vmon_owner *o;
	struct vmon_watch *w, *tmp;
	struct hlist_node *hn;
	int bkt;
	VMON_BATCH(b);

	mutex_lock(&vmon_mutex);
	hash_for_each_safe(vmon_owners, bkt, hn, o, hnode) {
		list_for_each_entry_safe(w, tmp, &o->watches, onode)
			if (READ_ONCE(w->dead))
				vmon_unlink(w, &b);
	}
	vmon_batch_publish(&b);
	mutex_unlock(&vmon_mutex);
	vmon_batch_free(&b);
}

/*
 * A process went away (group exit) or replaced its image (exec): end the
 * watches it owns and those on its memory.  Tracepoint context: preemption
 * off, so mark and defer.
 */
static void vmon_proc_gone(pid_t tgid)
{
	struct vmon_target *rt;
	struct vmon_owner *o;
	struct vmon_watch *w;
	bool any = false;

	if (!atomic_read(&vmon_live_watches))
		return;
	raw_spin_lock(&vmon_lock);
	hash_for_each_possible(vmon_owners, o, hnode, tgid) {
		if (o->tgid != tgid)
			continue;
		o->dead = true;
		list_for_each_entry(w, &o->watches, onode)
			WRITE_ONCE(w->dead, true);
		any = true;
	}
	hash_for_each_possible(vmon_targets, rt, hnode, tgid) {
		if (rt->tgid != tgid)
			continue;
		list_for_each_entry(w, &rt->watches, rnode)
			WRITE_ONCE(w->dead, true);
		any = true;
	}
	raw_spin_unlock(&vmon_lock);
	if (any)
		queue_work(vmon_wq, &vmon_reap_work);
}

static void vmon_probe_exit(void *data, struct task_struct *p)
{
	/* signal->live reached zero before this tracepoint: last thread */
	if (!atomic_read(&p->signal->live))
		vmon_proc_gone(p->tgid);
}

static void vmon_probe_exec(void *data, struct task_struct *p, pid_t old_pid,
			    struct linux_binprm *bprm)
{
	vmon_proc_gone(p->tgid);
}

/* ------------------------------------------------------- registration */

/* The trigger extension: each field only with its flag, and in range. */
static int vmon_check_trigger(const struct vmon_watch_req *req)
{
	bool gt = req->flags & VMON_WATCH_GREATER;

	if (req->reserved || req->consecutive > VMON_MAX_CONSECUTIVE)
		return -EINVAL;
	if (!(req->flags & VMON_WATCH_REARM) && req->rearm)
		return -EINVAL;
	if (!(req->flags & VMON_WATCH_RATE) && req->rate_window_ns)
		return -EINVAL;
	if (req->flags & VMON_WATCH_RATE &&
	    (req->rate_window_ns < req->interval_ns ||
	     req->rate_window_ns > VMON_MAX_RATE_WINDOW_NS))
		return -EINVAL;
	/* rearm lies on the side of the threshold a breach returns to */
	if (req->flags & VMON_WATCH_REARM) {
		u32 cmp = req->flags & VMON_WATCH_RATE ?
			  req->flags & ~VMON_WATCH_UNSIGNED : req->flags;

		if (gt ? vmon_value_lt(cmp, req->threshold, req->rearm) :
			 vmon_value_lt(cmp, req->rearm, req->threshold))
			return -EINVAL;
	}
	return 0;
}

static int vmon_check_req(struct vmon_watch_req *req, bool privileged)
{
	if (req->flags & ~VMON_WATCH_FLAGS_ALL)
		return -EINVAL;
	if (req->length != 1 && req->length != 2 && req->length != 4 &&
	    req->length != 8)
		return -EINVAL;
	if (req->addr % req->length)	/* natural alignment: never straddles */
		return -EINVAL;
	if (!memchr(req->name, 0, sizeof(req->name)) ||
	    !memchr(req->ksym, 0, sizeof(req->ksym)))
		return -EINVAL;
	if (!(req->flags & VMON_WATCH_KERNEL) && req->ksym[0])
		return -EINVAL;
	if (req->flags & VMON_WATCH_KERNEL) {
		if (!privileged)
			return -EPERM;
		if (!req->ksym[0] || req->pid)
			return -EINVAL;
	}
	if (req->pid < 0)
		return -EINVAL;
	if (!req->interval_ns) {
		req->interval_ns = READ_ONCE(vmon_def_interval_ns);
		req->flags |= VMON_WATCH_DEF_INTERVAL;
	}
	if (req->interval_ns < VMON_ABS_MIN_INTERVAL_NS ||
	    req->interval_ns > VMON_MAX_INTERVAL_NS)
		return -EINVAL;
	if (!privileged && req->interval_ns < READ_ONCE(vmon_min_interval_ns)) {
		if (!(req->flags & VMON_WATCH_DEF_INTERVAL))
			return -EACCES;
		req->interval_ns = READ_ONCE(vmon_min_interval_ns);
	}
	return vmon_check_trigger(req);
}

/* Pin the page holding a user variable of target's memory. */
static int vmon_pin_user(struct vmon_watch *w, struct task_struct *target)
{
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	unsigned int gup = FOLL_LONGTERM;
	struct page *page;
	long n;
	int ret = 0;

	mm = get_task_mm(target);
	if (!mm)
		return -ESRCH;
	if (mmap_read_lock_killable(mm)) {
		mmput(mm);
		return -EINTR;
	}
	vma = vma_lookup(mm, w->addr);
	if (!vma || vma->vm_flags & (VM_IO | VM_PFNMAP)) {
		ret = -EFAULT;
		goto out;
	}
	/*
	 * A writable private page is pinned for write so COW is broken now:
	 * otherwise the pin could hold the shared zero page or a page that
	 * the next write replaces.  A shared mapping has no COW to break, and
	 * since 6.5 GUP refuses FOLL_LONGTERM|FOLL_WRITE on file mappings that
	 * need dirty tracking, so it is pinned for read.
	 */
	if ((vma->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE)
		gup |= FOLL_WRITE;
	n = vmon_pin_user_pages_remote(mm, w->addr & PAGE_MASK, 1, gup, &page);
	if (n != 1) {
		ret = n < 0 ? (int)n : -EFAULT;
		goto out;
	}
	/* charged to the owner (current), whoever's memory it is */
	w->charge = vmon_pin_charge(page);
	if (IS_ERR(w->charge)) {
		ret = PTR_ERR(w->charge);
		w->charge = NULL;
		unpin_user_page(page);
		goto out;
	}
	w->page = page;
	w->kaddr = page_address(page) + offset_in_page(w->addr);
out:
	mmap_read_unlock(mm);
	mmput(mm);
	return ret;
}

/*
 * Core kernel image only: a module's variable could go away under us.
 * CAP_PERFMON may watch the exported variables (avenrun); any other symbol
 * needs CAP_SYS_ADMIN and must lie in .data/.bss.  Lockdown (the
 * confidentiality level, like /proc/kcore) forbids kernel watches.
 */
static int vmon_bind_kernel(struct vmon_watch *w, u64 offset, bool sys_admin)
{
	unsigned long base, addr;
	size_t size = 0;
	u64 probe;

	if (security_locked_down(LOCKDOWN_KCORE))
		return -EPERM;
	base = vmon_ksym_builtin(w->ksym, &size);
	if (base) {
		if (offset > size || offset + w->length > size)
			return -EINVAL;
	} else {
		if (!sys_admin)
			return -EPERM;
		base = vmon_ksym_lookup(w->ksym);
		if (!base)
			return vmon_ksym_available() ? -ENOENT : -EOPNOTSUPP;
	}
	addr = base + offset;
	if (addr < base || addr < __START_KERNEL_map ||
	    addr + w->length > MODULES_VADDR || addr % w->length)
		return -EINVAL;
	if (size == 0 && !vmon_kernel_data(addr, w->length))
		return -EINVAL;
	if (copy_from_kernel_nofault(&probe, (void *)addr, w->length))
		return -EFAULT;
	w->addr = addr;
	w->kaddr = (const void *)addr;
	return 0;
}

static struct task_struct *vmon_get_target(pid_t pid)
{
	struct task_struct *t;

	rcu_read_lock();
	t = pid_task(find_vpid(pid), PIDTYPE_TGID);
	if (t)
		get_task_struct(t);
	rcu_read_unlock();
	return t;
}

static bool vmon_is_self(pid_t pid)
{
	return !pid || pid == task_tgid_vnr(current);
}

/* Unprivileged owners: the per-uid and the shared unprivileged caps. */
static int vmon_user_admit(struct vmon_user *u)
{
	if (u->watches >= vmon_max_watches_per_user ||
	    vmon_nr_user_watches >= vmon_user_cap(vmon_max_watches,
						  vmon_reserved_watches))
		return -ENOSPC;
	return 0;
}

static struct vmon_target *vmon_target_find(pid_t tgid)
{
	struct vmon_target *rt;

	hash_for_each_possible(vmon_targets, rt, hnode, tgid)
		if (rt->tgid == tgid)
			return rt;
	return NULL;
}

static int vmon_add(struct vmon_file *f, struct vmon_watch *w)
{
	struct vmon_target *rt = NULL, *spare = NULL;
	struct vmon_user *u = NULL;
	struct vmon_owner *o;
	struct vmon_timer *tm;
	int ret;

	if (READ_ONCE(vmon_closing))
		return -ESHUTDOWN;
	if (vmon_nr_watches >= vmon_max_watches)
		return -ENOSPC;
	o = vmon_owner_find(w->owner_tgid);
	if (o && o->nr >= vmon_max_watches_per_proc)
		return -ENOSPC;
	if (w->remote) {
		rt = vmon_target_find(w->target_tgid);
		if (!rt) {
			spare = kzalloc(sizeof(*spare), GFP_KERNEL_ACCOUNT);
			if (!spare)
				return -ENOMEM;
		}
	}
	if (!f->privileged) {
		u = vmon_user_get(current_uid());
		if (!u) {
			ret = -ENOMEM;
			goto err_user;
		}
		ret = vmon_user_admit(u);
		if (ret)
			goto err_user;
	}
	o = vmon_owner_get(w->owner_tgid);
	if (!o) {
		ret = -ENOMEM;
		goto err_user;
	}
	tm = vmon_timer_get(w->interval_ns, u);
	if (IS_ERR(tm)) {
		if (!o->nr) {
			raw_spin_lock(&vmon_lock);
			hash_del(&o->hnode);
			raw_spin_unlock(&vmon_lock);
			kfree(o);
		}
		ret = PTR_ERR(tm);
		goto err_user;
	}
	w->user = u;
	if (u) {
		u->watches++;
		vmon_nr_user_watches++;
	}
	w->owner = o;
	w->timer = tm;
	w->file = f;
	w->id = atomic64_inc_return(&vmon_next_id);
	raw_spin_lock(&vmon_lock);
	list_add_tail(&w->onode, &o->watches);
	o->nr++;
	if (w->remote) {
		if (!rt) {
			rt = spare;
			spare = NULL;
			rt->tgid = w->target_tgid;
			INIT_LIST_HEAD(&rt->watches);
			hash_add(vmon_targets, &rt->hnode, rt->tgid);
		}
		list_add_tail(&w->rnode, &rt->watches);
		rt->nr++;
		w->rtarget = rt;
	}
	raw_spin_unlock(&vmon_lock);
	list_add_tail(&w->fnode, &f->watches);
	vmon_nr_watches++;
	atomic_inc(&vmon_live_watches);
	list_add_tail(&w->tnode, &tm->watches);
	tm->nr++;
	if (!vmon_timer_append(tm, w) && vmon_timer_rebuild(tm)) {
		VMON_BATCH(b);

		/* w was never published to a tick: no grace period needed */
		vmon_unlink(w, &b);
		list_del(&w->dnode);
		vmon_batch_free_rest(&b);
		return -ENOMEM;	/* the caller unpins and frees w */
	}
	if (tm->nr == 1 && vmon_active)	/* else vmon_set_active() starts it */
		hrtimer_start(&tm->hrt, ns_to_ktime(tm->interval_ns), tm->mode);
	return 0;
err_user:
	vmon_user_release(u, NULL);
	kfree(spare);
	return ret;
}

/*
 * A watch on another process is checked, pinned and linked on vmon_targets
 * under the target's exec_update_lock, the mm_access() pattern: an exec
 * (say of a setuid binary) either completes before the ptrace check, which
 * then judges the new image, or waits until the watch is linked, and then
 * its exec hook ends the watch.  An exit between the check and the link
 * would find nothing to end, so it is looked for after linking.  On
 * success w is registered; on failure w is unpinned, the caller frees it.
 */
static int vmon_add_remote(struct vmon_file *f, struct vmon_watch *w,
			   pid_t pid, u64 *id)
{
	struct task_struct *t = vmon_get_target(pid);
	int ret;

	if (!t)
		return -ESRCH;
	ret = down_read_killable(&t->signal->exec_update_lock);
	if (ret)
		goto out_put;
	if (!vmon_remote_allowed(t)) {
		ret = -EPERM;
		goto out_unlock;
	}
	w->target_tgid = t->tgid;
	w->remote = true;
	ret = vmon_pin_user(w, t);
	if (ret)
		goto out_unlock;
	mutex_lock(&vmon_mutex);
	ret = vmon_add(f, w);
	if (!ret)
		*id = w->id;
	/* the exit probe runs after live drops to 0, under vmon_lock */
	if (!ret && !atomic_read(&t->signal->live))
		vmon_proc_gone(t->tgid);
	mutex_unlock(&vmon_mutex);
	if (ret)
		vmon_unpin(w);
out_unlock:
	up_read(&t->signal->exec_update_lock);
out_put:
	put_task_struct(t);
	return ret;
}

long vmon_ioc_watch(struct vmon_file *f, void __user *uarg)
{
	struct vmon_watch_req req;
	struct vmon_watch *w;
	u64 id = 0;
	u32 usize;
	int ret;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < offsetofend(struct vmon_watch_req, interval_ns) ||
	    usize > PAGE_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(&req, sizeof(req), uarg, usize);
	if (ret)
		return ret;
	ret = vmon_check_req(&req, f->privileged);
	if (ret)
		return ret;
	w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (!w)
		return -ENOMEM;
	w->flags = req.flags;
	w->length = req.length;
	w->addr = req.addr;
	w->threshold = req.threshold;
	w->interval_ns = req.interval_ns;
	w->owner_tgid = current->tgid;
	w->target_tgid = current->tgid;
	memcpy(w->name, req.name, sizeof(w->name));
	memcpy(w->ksym, req.ksym, sizeof(w->ksym));
	w->trig.consecutive = req.consecutive;
	w->trig.rearm = req.rearm;
	w->trig.window_ns = req.rate_window_ns;
	if (req.flags & VMON_WATCH_KERNEL) {
		w->target_tgid = 0;
		ret = vmon_bind_kernel(w, req.addr, f->sys_admin);
	} else if (vmon_is_self(req.pid)) {
		ret = vmon_pin_user(w, current);
	} else {
		ret = vmon_add_remote(f, w, req.pid, &id);
		if (ret)
			goto err_free;
		goto done;
	}
	if (ret)
		goto err_free;
	mutex_lock(&vmon_mutex);
	ret = vmon_add(f, w);
	id = w->id;	/* w may be gone once the mutex is dropped */
	mutex_unlock(&vmon_mutex);
	if (ret)
		goto err_unpin;
done:
	/* only the id goes back; a failed copy leaves the watch registered */
	if (usize >= offsetofend(struct vmon_watch_req, id) &&
	    put_user(id, &((struct vmon_watch_req __user *)uarg)->id))
		return -EFAULT;
	return 0;
err_unpin:
	vmon_unpin(w);
err_free:
	kfree(w);
	return ret;
}

/* ------------------------------------------------------ activate/deactivate */

/*
 * /proc/variable_monitor/control: "deactivate" cancels every timer, so no
 * watch is read, no breach is counted and no dump starts, while watches,
 * pins and charges stay; "activate" starts the timers that have watches.
 * The exit/exec tracepoints stay attached: they only end the watches of
 * processes that go away, which must happen whatever the state.  Under
 * vmon_mutex, like every timer start and cancel.
 */
int vmon_set_active(bool on)
{
	struct vmon_timer *tm;

	mutex_lock(&vmon_mutex);
	if (vmon_active != on) {
		list_for_each_entry(tm, &vmon_timers, node) {
			if (!on)
				hrtimer_cancel(&tm->hrt);	/* waits for a running tick */
			else if (tm->nr)
				hrtimer_start(&tm->hrt, ns_to_ktime(tm->interval_ns), tm->mode);
		}
		vmon_active = on;
		vmon_active_since = ktime_get_boottime_ns();
		pr_info("%s by uid %u\n", on ? "activated" : "deactivated",
			from_kuid(&init_user_ns, current_uid()));
	}
	mutex_unlock(&vmon_mutex);
	return 0;
}

int vmon_show_control(struct seq_file *m, void *v)
{
	u64 since;
	bool on;

	mutex_lock(&vmon_mutex);
	on = vmon_active;
	since = vmon_active_since;
	mutex_unlock(&vmon_mutex);
	if (!since)
		seq_printf(m, "%s since load\n", on ? "active" : "deactivated");
	else
		seq_printf(m, "%s since %llu.%09llu s (CLOCK_BOOTTIME)\n",
			   on ? "active" : "deactivated", since / NSEC_PER_SEC,
			   since % NSEC_PER_SEC);
	return 0;
}

/* ---------------------------------------------------------- /proc views */

void vmon_watch_counts(unsigned int *watches, unsigned int *timers,
		       u64 *ticks, u64 *checks, u64 *ns, u64 *overruns)
{
	struct vmon_timer *tm;

	mutex_lock(&vmon_mutex);
	*ticks = atomic64_read(&vmon_stats.retired_ticks);
	*checks = atomic64_read(&vmon_stats.retired_checks);
	*ns = atomic64_read(&vmon_stats.retired_ns);
	*overruns = atomic64_read(&vmon_stats.retired_overruns);
	*watches = vmon_nr_watches;
	*timers = vmon_nr_timers;
	list_for_each_entry(tm, &vmon_timers, node) {
		*ticks += READ_ONCE(tm->ticks);
		*checks += READ_ONCE(tm->checks);
		*ns += READ_ONCE(tm->ns_total);
		*overruns += READ_ONCE(tm->overruns);
	}
	mutex_unlock(&vmon_mutex);
}

int vmon_show_timers(struct seq_file *m, void *v)
{
	struct vmon_timer *tm;

	seq_puts(m, "interval_ns watches ticks checks ns_total ns_per_tick ns_per_check overruns overloaded class throttled\n");
	mutex_lock(&vmon_mutex);
	list_for_each_entry(tm, &vmon_timers, node) {
		u64 ticks = READ_ONCE(tm->ticks), checks = READ_ONCE(tm->checks);
		u64 ns = READ_ONCE(tm->ns_total);

		seq_printf(m, "%llu %u %llu %llu %llu %llu %llu %llu %llu %s %llu\n",
			   tm->interval_ns, tm->nr, ticks, checks, ns,
			   ticks ? div64_u64(ns, ticks) : 0,
			   checks ? div64_u64(ns, checks) : 0,
			   READ_ONCE(tm->overruns), READ_ONCE(tm->overloaded),
			   tm->user ? "user" : "priv", READ_ONCE(tm->throttled));
	}
	mutex_unlock(&vmon_mutex);
	return 0;
}

int vmon_show_watches(struct seq_file *m, void *v)
{
	struct vmon_owner *o;
	struct vmon_watch *w;
	int bkt;

	seq_puts(m, "id owner target name length flags threshold interval_ns breaches dead consecutive rearm rate_window_ns\n");
	mutex_lock(&vmon_mutex);
	hash_for_each(vmon_owners, bkt, o, hnode) {
		list_for_each_entry(w, &o->watches, onode)
			seq_printf(m, "%llu %d %d %s %u %#x %lld %llu %llu %d %u %lld %llu\n",
				   w->id, w->owner_tgid, w->target_tgid,
				   w->name[0] ? w->name : "-", w->length,
				   w->flags, w->threshold, w->interval_ns,
				   READ_ONCE(w->breaches), READ_ONCE(w->dead),
				   w->trig.consecutive, w->trig.rearm,
				   w->trig.window_ns);
	}
	mutex_unlock(&vmon_mutex);
	return 0;
}

/* ------------------------------------------------------- init / exit */

static struct tracepoint *vmon_tp_exit, *vmon_tp_exec;

static void vmon_find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_process_exit"))
		vmon_tp_exit = tp;
	else if (!strcmp(tp->name, "sched_process_exec"))
		vmon_tp_exec = tp;
}

int vmon_watch_init(void)
{
	int ret;

	for_each_kernel_tracepoint(vmon_find_tp, NULL);
	if (!vmon_tp_exit || !vmon_tp_exec) {
		pr_err("sched_process_exit/exec tracepoints not found\n");
		return -ENOENT;
	}
	ret = tracepoint_probe_register(vmon_tp_exit, vmon_probe_exit, NULL);
	if (ret)
		return ret;
	ret = tracepoint_probe_register(vmon_tp_exec, vmon_probe_exec, NULL);
	if (ret) {
		tracepoint_probe_unregister(vmon_tp_exit, vmon_probe_exit, NULL);
		tracepoint_synchronize_unregister();
	}
	return ret;
}

/*
 * Every file is closed by now (the module is referenced while one is
 * open), so no watch is left; reap what the probes may have queued.
 */
void vmon_watch_exit(void)
{
	WRITE_ONCE(vmon_closing, true);
	tracepoint_probe_unregister(vmon_tp_exec, vmon_probe_exec, NULL);
	tracepoint_probe_unregister(vmon_tp_exit, vmon_probe_exit, NULL);
	tracepoint_synchronize_unregister();
	cancel_work_sync(&vmon_reap_work);
	flush_work(&vmon_line_work);	/* no timer is left to queue it */
	/* queue_rcu_work() batches: queued by now; destroy_workqueue() drains */
	rcu_barrier();
	WARN_ON(vmon_nr_watches || vmon_nr_timers);
}
