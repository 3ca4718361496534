// SPDX-License-Identifier: GPL-2.0
/*
 * variable_monitor: what the system was doing when a watch breached.
 *
 * The timer fills an event slot and queues dump_work.  The work emits
 * BREACH, then TASK records for the running tasks, the uninterruptible
 * tasks that count towards load, and every thread of the watched process;
 * MAPS and CHAIN once per process; EVENT_END.  Collection is two-phase:
 * candidates are referenced under RCU into a preallocated array, then
 * described outside RCU, with a time budget.  Every cap sets a flag.
 *
 * Nothing here may wait for a watched or sampled process: the dump runs
 * when something is stuck.  User memory is read through vmon_umem.c
 * (kthread_use_mm() + copy_from_user_nofault(): no fault, no mmap_lock
 * wait) and MAPS takes mmap_lock only by a bounded trylock; what cannot
 * be read now is skipped and flagged (VMON_TASK_USER_NOWAIT,
 * VMON_LIST_BUSY, VMON_CHAIN_CMDLINE_NOWAIT).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/cgroup.h>
#include <linux/fs.h>
#include <linux/dcache.h>
#include <linux/kdev_t.h>
#include <asm/unwind.h>
#include "vmon_priv.h"
#include "compat.h"

struct workqueue_struct *vmon_wq;	/* privileged dumps, reaping */
static struct workqueue_struct *vmon_wq_user;	/* unprivileged dumps */
static struct vmon_event vmon_events[VMON_NR_EVENT_SLOTS];
static struct task_struct **vmon_cand;	/* vmon_max_tasks entries */
static unsigned int vmon_cand_cap;
static pid_t *vmon_seen;		/* tgids described in this event */
static u8 *vmon_scratch;		/* one record being built */
static char *vmon_pathbuf;

/*
 * Privileged and unprivileged events are dumped by two work items, on a
 * WQ_HIGHPRI and an ordinary workqueue, so that unprivileged users cannot
 * put nice -20 work on the machine.  They share the buffers below and the
 * ring's event framing, so one dump runs at a time (vmon_dump_lock).
 */
static DEFINE_MUTEX(vmon_dump_lock);
static void vmon_dump_fn(struct work_struct *work);
static DECLARE_WORK(vmon_dump_work_priv, vmon_dump_fn);
static DECLARE_WORK(vmon_dump_work_user, vmon_dump_fn);

/* Unprivileged events may fill only the upper half of the slots. */
#define VMON_USER_SLOT0	(VMON_NR_EVENT_SLOTS / 2)

/**
 * vmon_event_claim() - a free event slot for a breach
 * @priv: the watch's owner opened the device with CAP_PERFMON/CAP_SYS_ADMIN
 *
 * Context: hard-irq safe (one cmpxchg per slot tried).
 * Return: a slot in VMON_SLOT_FILLING, or NULL when every slot this class
 * may use is taken.
 */
struct vmon_event *vmon_event_claim(bool priv)
{
	int i;

	for (i = priv ? 0 : VMON_USER_SLOT0; i < VMON_NR_EVENT_SLOTS; i++)
		if (atomic_cmpxchg(&vmon_events[i].state, VMON_SLOT_FREE,
				   VMON_SLOT_FILLING) == VMON_SLOT_FREE) {
			vmon_events[i].priv = priv;
			return &vmon_events[i];
		}
	return NULL;
}

/* Hard-irq safe. */
void vmon_dump_queue(bool priv)
{
	if (priv)
		queue_work(vmon_wq, &vmon_dump_work_priv);
	else
		queue_work(vmon_wq_user, &vmon_dump_work_user);
}

/* ------------------------------------------------------------ tasks */

static int vmon_task_state(struct task_struct *t)
{
	unsigned int s = vmon_read_task_state(t);

	if (s == TASK_RUNNING)
		return VMON_STATE_RUNNING;
	if (vmon_state_is_rtlock(s))
		return VMON_STATE_RTLOCK;
	/* task_contributes_to_load(), which is not exported as a function */
	if ((s & TASK_UNINTERRUPTIBLE) && !(s & TASK_NOLOAD) &&
	    !vmon_state_is_frozen(t, s))
		return VMON_STATE_UNINTERRUPTIBLE;
	return VMON_STATE_OTHER;
}

/* Phase 1, under RCU: reference the candidates. */
static unsigned int vmon_collect(pid_t target, u32 *nr_cand, u32 *flags)
{
	struct task_struct *g, *t;
	unsigned int n = 0;
	u32 cand = 0;

	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (vmon_task_state(t) == VMON_STATE_OTHER &&
		    (!target || t->tgid != target))
			continue;
		cand++;
		if (n >= vmon_cand_cap) {
			*flags |= VMON_EVENT_TASKS_TRUNC;
			continue;
		}
		get_task_struct(t);
		vmon_cand[n++] = t;
	}
	rcu_read_unlock();
	*nr_cand = cand;
	return n;
}

/*
 * The exported x86 unwinder.  A task stack is freed through RCU or parked
 * in a per-cpu cache, never unmapped while we hold rcu_read_lock(), and
 * the unwinder stops when the task no longer owns a stack.
 */
static unsigned int vmon_kstack(struct task_struct *t, u64 *out,
				unsigned int max, u32 *flags)
{
	struct unwind_state st;
	unsigned int n = 0;

	rcu_read_lock();
	if (!task_stack_page(t))
		goto out;
	for (unwind_start(&st, t, NULL, NULL); !unwind_done(&st);
	     unwind_next_frame(&st)) {
		unsigned long addr = unwind_get_return_address(&st);

		if (!addr)
			break;
		if (n == max) {
			*flags |= VMON_TASK_KSTACK_TRUNC;
			break;
		}
		out[n++] = addr;
	}
out:
	rcu_read_unlock();
	return n;
}

static bool vmon_user_regs(struct task_struct *t, struct vmon_rec_task *r)
{
	struct pt_regs *regs;
	bool ok = false;

	rcu_read_lock();
	if (task_stack_page(t) && !(t->flags & PF_KTHREAD)) {
		regs = task_pt_regs(t);
		r->user_ip = READ_ONCE(regs->ip);
		r->user_sp = READ_ONCE(regs->sp);
		r->user_bp = READ_ONCE(regs->bp);
		ok = true;
	}
	rcu_read_unlock();
	return ok;
}

/* How a frame-pointer walk ended. */
enum vmon_fp_end {
	VMON_FP_BROKEN,		/* a fault, a bound, or rbp was never a frame pointer */
	VMON_FP_ENDED,		/* a saved frame pointer that does not point further up */
	VMON_FP_ZERO,		/* a saved frame pointer or return address of 0 */
};

/*
 * Frame-pointer walk of another task's user stack.  @top is set to the
 * address of the outermost frame record read, @end to how the walk ended.
 */
static unsigned int vmon_ustack(const struct vmon_rec_task *r, u64 *out,
				unsigned int max, u32 *flags, u64 *top,
				enum vmon_fp_end *end)
{
	u64 fp = r->user_bp, frame[2];
	unsigned int n = 0;
	bool nowait = false;

	*top = 0;
	*end = VMON_FP_BROKEN;
	out[n++] = r->user_ip;
	while (n < max) {
		if (!fp || fp % 8 || fp < r->user_sp ||
		    fp - r->user_sp > (8U << 20))
			return n;
		if (vmon_umem_read(frame, fp, sizeof(frame), &nowait) !=
		    sizeof(frame)) {
			*flags |= VMON_TASK_USTACK_FAULT;
			if (nowait)
				*flags |= VMON_TASK_USER_NOWAIT;
			return n;
		}
		*top = fp;
		if (!frame[1]) {
			*end = VMON_FP_ZERO;
			return n;
		}
		out[n++] = frame[1];
		if (frame[0] <= fp) {	/* stacks grow down: callers are above */
			*end = frame[0] ? VMON_FP_ENDED : VMON_FP_ZERO;
			return n;
		}
		fp = frame[0];
	}
	*flags |= VMON_TASK_USTACK_TRUNC;
	return n;
}

/*
 * How many bytes of the user stack to copy.  The window exists for the
 * frames a frame-pointer walk cannot see: code without frame pointers
 * (distro libraries, -O2 programs).  When the walk instead looks like a
 * real chain, the capture needs the bytes only up to the outermost record
 * plus the few frames above it that set up the thread (_start,
 * start_thread: under VMON_RAW_STACK_TAIL in glibc), and splices the chain
 * where its own unwinding stops.  A real chain: every return address in
 * executable memory, and either two or more records ending at the chain's
 * end, or one record whose saved frame pointer is 0 (the outermost frame of
 * a thread: clone3 and _start clear rbp).  A program without frame pointers
 * almost never passes the test, and keeps the full window; if it does, its
 * stack ends cut (and says so), never wrong.
 */
static u32 vmon_raw_want(const struct vmon_rec_task *r, const u64 *ustk,
			 unsigned int n, u64 top, enum vmon_fp_end end,
			 u32 full, u32 *flags)
{
	bool chain = (n >= 3 && end != VMON_FP_BROKEN) ||
		     (n == 2 && end == VMON_FP_ZERO);
	u64 need;

	if (!READ_ONCE(vmon_raw_stack_trim) || !chain)
		return full;
	need = top + 16 + VMON_RAW_STACK_TAIL - r->user_sp;
	if (need >= full || !vmon_umem_code_addrs(ustk + 1, n - 1))
		return full;
	*flags |= VMON_TASK_RAW_TRIMMED;
	return need;
}

static u32 vmon_raw_stack(u64 sp, u8 *out, u32 want, u32 *flags)
{
	bool nowait = false;
	u32 got;

	if (!want)
		return 0;
	got = vmon_umem_read(out, sp, want, &nowait);
	if (got < want)
		*flags |= VMON_TASK_RAW_TRUNC;
	if (nowait)
		*flags |= VMON_TASK_USER_NOWAIT;
	return got;
}

static void vmon_emit_task(struct task_struct *t, u64 event_id)
{
	struct vmon_rec_task *r = (void *)vmon_scratch;
	u64 *stk = (u64 *)(r + 1);
	u32 raw_want = min_t(u64, READ_ONCE(vmon_raw_stack_bytes),
			     VMON_RAW_STACK_MAX);
	enum vmon_fp_end fp_end;
	u64 top;
	u32 len;

	memset(r, 0, sizeof(*r));
	r->pid = t->pid;
	r->tgid = t->tgid;
	r->state = vmon_task_state(t);
	r->cpu = task_cpu(t);
	if (READ_ONCE(t->on_cpu))
		r->flags |= VMON_TASK_ON_CPU;
	r->start_boottime_ns = t->start_boottime;
	memcpy(r->comm, t->comm, sizeof(r->comm));
	r->comm[VMON_COMM_LEN - 1] = 0;
	rcu_read_lock();
	r->cgroup_id = cgroup_id(task_dfl_cgroup(t));
	rcu_read_unlock();
	r->nr_kstack = vmon_kstack(t, stk, VMON_KSTACK_MAX, &r->flags);
	stk += r->nr_kstack;
	if (t->flags & PF_KTHREAD) {
		r->flags |= VMON_TASK_KTHREAD | VMON_TASK_NO_UREGS;
	} else if (!vmon_user_regs(t, r)) {
		r->flags |= VMON_TASK_NO_UREGS;
	} else {
		/* past exit_mm() nothing is attached and the reads come back empty */
		vmon_umem_attach(t);
		r->nr_ustack = vmon_ustack(r, stk, VMON_USTACK_MAX, &r->flags,
					   &top, &fp_end);
		if (raw_want)
			raw_want = vmon_raw_want(r, stk, r->nr_ustack, top,
						 fp_end, raw_want, &r->flags);
		stk += r->nr_ustack;
		r->raw_stack_len = vmon_raw_stack(r->user_sp, (u8 *)stk,
						  raw_want, &r->flags);
	}
	len = (u8 *)stk - vmon_scratch + r->raw_stack_len;
	memset(vmon_scratch + len, 0, ALIGN(len, 8) - len);
	vmon_ring_put(r, ALIGN(len, 8), VMON_REC_TASK, event_id);
	atomic64_inc(&vmon_stats.tasks_sampled);
}

/* ------------------------------------------------------ maps, chain */

/*
 * The path of a mapped file, in vmon_pathbuf.  A path d_path() cannot give
 * (longer than PATH_MAX, or unreachable) is cut to its last component and
 * flagged VMON_MAP_PATH_TRUNC, never left empty without a word.
 */
static char *vmon_map_path(struct file *file, u32 *flags)
{
	struct name_snapshot n;
	char *path = d_path(&file->f_path, vmon_pathbuf, PATH_MAX);

	if (!IS_ERR(path))
		return path;
	*flags |= VMON_MAP_PATH_TRUNC;
	take_dentry_name_snapshot(&n, file->f_path.dentry);
	strscpy(vmon_pathbuf, n.name.name, PATH_MAX);
	release_dentry_name_snapshot(&n);
	return vmon_pathbuf;
}

static void vmon_emit_maps(struct task_struct *t, u64 event_id)
{
	struct vmon_rec_maps *r = (void *)vmon_scratch;
	u32 pos = sizeof(*r);
	struct vm_area_struct *vma;
	struct mm_struct *mm;

	memset(r, 0, sizeof(*r));
	r->tgid = t->tgid;
	mm = get_task_mm(t);
	/* a writer holding or queued for it may be the stuck task itself */
	if (mm && !vmon_mmap_trylock(mm)) {
		r->flags |= VMON_LIST_BUSY;
	} else if (mm) {
		VMON_VMA_ITERATOR(vmi, mm);

		vmon_for_each_vma(vmi, vma) {
			struct vmon_map_entry *e = (void *)(vmon_scratch + pos);
			struct inode *ino;
			u32 plen, need, mflags = 0;
			char *path;

			if (!(vma->vm_flags & VM_EXEC) || !vma->vm_file)
				continue;
			path = vmon_map_path(vma->vm_file, &mflags);
			plen = strlen(path);
			need = ALIGN(sizeof(*e) + plen, 8);
			if (pos + need > VMON_MAX_RECORD) {
				r->flags |= VMON_LIST_TRUNC;
				break;
			}
			memset(e, 0, need);
			ino = file_inode(vma->vm_file);
			e->start = vma->vm_start;
			e->end = vma->vm_end;
			e->pgoff = (u64)vma->vm_pgoff << PAGE_SHIFT;
			e->ino = ino->i_ino;
			e->dev = new_encode_dev(ino->i_sb->s_dev);
			e->flags = mflags;
			e->path_len = plen;
			memcpy(e + 1, path, plen);
			pos += need;
			r->nr++;
		}
		mmap_read_unlock(mm);
	}
	if (mm)
		mmput(mm);
	vmon_ring_put(r, pos, VMON_REC_MAPS, event_id);
}

static u32 vmon_cmdline(struct task_struct *t, char *buf, u32 max, u32 *flags)
{
	struct mm_struct *mm = vmon_umem_attach(t);
	unsigned long start, end;
	bool nowait = false;
	u32 got;

	if (!mm)
		return 0;
	start = READ_ONCE(mm->arg_start);
	end = READ_ONCE(mm->arg_end);
	if (end <= start)
		return 0;
	if (end - start > max) {
		end = start + max;
		*flags |= VMON_CHAIN_CMDLINE_TRUNC;
	}
	got = vmon_umem_read(buf, start, end - start, &nowait);
	if (nowait)
		*flags |= VMON_CHAIN_CMDLINE_NOWAIT;
	return got;
}

/*
 * The process chain is walked from tasks the dump holds a reference to,
 * but a reference keeps only the task_struct: once a task has been reaped
 * (release_task()), its group_leader and real_parent may point at tasks
 * already freed (a thread of a process killed and reaped while the dump
 * ran: get_task_struct() on its freed leader was "refcount_t: addition
 * on 0").  The kernel's rule, as in task_ppid_nr_ns(): under RCU, follow
 * those pointers only while pid_alive() says the task is not yet reaped.
 */
static struct task_struct *vmon_chain_start(struct task_struct *t)
{
	return pid_alive(t) ? t->group_leader : NULL;
}

static struct task_struct *vmon_chain_parent(struct task_struct *p)
{
	return pid_alive(p) ? rcu_dereference(p->real_parent) : NULL;
}

/* The walk's last task is the root: init (or idle), or its own parent. */
static bool vmon_chain_root(struct task_struct *p)
{
	return p->pid <= 1 || p == rcu_access_pointer(p->real_parent);
}

static void vmon_emit_chain(struct task_struct *t, u64 event_id)
{
	struct vmon_rec_chain *r = (void *)vmon_scratch;
	struct task_struct *anc[VMON_CHAIN_MAX];
	u32 max_cmd = min_t(u64, READ_ONCE(vmon_cmdline_max), 4096);
	u32 pos = sizeof(*r);
	unsigned int n = 0, i;
	struct task_struct *p;
	bool root = false;

	memset(r, 0, sizeof(*r));
	r->tgid = t->tgid;
	rcu_read_lock();
	for (p = vmon_chain_start(t); p && n < VMON_CHAIN_MAX;
	     p = vmon_chain_parent(p)) {
		get_task_struct(p);
		anc[n++] = p;
		root = vmon_chain_root(p);
		if (root)
			break;
	}
	rcu_read_unlock();
	/* cut at VMON_CHAIN_MAX, or at a task reaped before the chain's root */
	if (!root)
		r->flags |= VMON_LIST_TRUNC;
	for (i = 0; i < n; i++) {
		struct vmon_chain_entry *e = (void *)(vmon_scratch + pos);
		u32 need;

		if (pos + sizeof(*e) + max_cmd + 8 > VMON_MAX_RECORD) {
			r->flags |= VMON_LIST_TRUNC;
			break;
		}
		memset(e, 0, sizeof(*e));
		e->pid = anc[i]->tgid;
		e->start_boottime_ns = anc[i]->start_boottime;
		memcpy(e->comm, anc[i]->comm, sizeof(e->comm));
		e->comm[VMON_COMM_LEN - 1] = 0;
		if (!(anc[i]->flags & PF_KTHREAD))
			e->cmdline_len = vmon_cmdline(anc[i], (char *)(e + 1),
						      max_cmd, &e->flags);
		need = ALIGN(sizeof(*e) + e->cmdline_len, 8);
		memset((u8 *)(e + 1) + e->cmdline_len, 0,
		       need - sizeof(*e) - e->cmdline_len);
		pos += need;
		r->nr++;
	}
	for (i = 0; i < n; i++)
		put_task_struct(anc[i]);
	vmon_ring_put(r, pos, VMON_REC_CHAIN, event_id);
}

/* ------------------------------------------------------------ event */

static bool vmon_seen_tgid(pid_t tgid, unsigned int *nr_seen)
{
	unsigned int i;

	for (i = 0; i < *nr_seen; i++)
		if (vmon_seen[i] == tgid)
			return true;
	vmon_seen[(*nr_seen)++] = tgid;
	return false;
}

static void vmon_dump_event(struct vmon_event *ev)
{
	struct vmon_rec_event_end end = {};
	u64 start = vmon_now_ns(), budget, lost0;
	u64 event_id = atomic64_inc_return(&vmon_stats.dumps);
	unsigned int n, i, nr_seen = 0;

	lost0 = atomic64_read(&vmon_stats.lost_records);
	budget = READ_ONCE(vmon_dump_budget_ms) * NSEC_PER_MSEC;
	vmon_ring_put_time(&ev->rec, sizeof(ev->rec), VMON_REC_BREACH, event_id,
			   ev->time_ns);
	n = vmon_collect(ev->rec.target_pid, &end.nr_candidates, &end.flags);
	for (i = 0; i < n; i++) {
		struct task_struct *t = vmon_cand[i];

		if (end.flags & VMON_EVENT_TIME_BUDGET ||
		    (budget && vmon_now_ns() - start > budget)) {
			end.flags |= VMON_EVENT_TIME_BUDGET;
			put_task_struct(t);
			continue;
		}
		vmon_emit_task(t, event_id);
		end.nr_tasks++;
		if (!(t->flags & PF_KTHREAD) &&
		    !vmon_seen_tgid(t->tgid, &nr_seen)) {
			vmon_emit_maps(t, event_id);
			vmon_emit_chain(t, event_id);
		}
		put_task_struct(t);
		cond_resched();
	}
	if (atomic64_read(&vmon_stats.lost_records) != lost0)
		end.flags |= VMON_EVENT_DROPPED;
	if (end.flags & (VMON_EVENT_TASKS_TRUNC | VMON_EVENT_TIME_BUDGET))
		atomic64_inc(&vmon_stats.truncated_events);
	end.duration_ns = vmon_now_ns() - start;
	atomic64_add(end.duration_ns, &vmon_stats.dump_ns);
	vmon_ring_put(&end, sizeof(end), VMON_REC_EVENT_END, event_id);
}

static void vmon_dump_fn(struct work_struct *work)
{
	bool priv = work == &vmon_dump_work_priv;
	bool again;
	int i;

	do {
		again = false;
		for (i = 0; i < VMON_NR_EVENT_SLOTS; i++) {
			struct vmon_event *ev = &vmon_events[i];

			if (atomic_read_acquire(&ev->state) != VMON_SLOT_READY ||
			    ev->priv != priv)
				continue;
			mutex_lock(&vmon_dump_lock);
			vmon_dump_event(ev);
			/* the mm belongs to this kworker, not to the lock */
			vmon_umem_detach();
			mutex_unlock(&vmon_dump_lock);
			atomic_set_release(&ev->state, VMON_SLOT_FREE);
			again = true;
		}
	} while (again);
}

int vmon_dump_init(void)
{
	vmon_cand_cap = clamp_t(u64, vmon_max_tasks, 16, 65536);
	vmon_cand = kvcalloc(vmon_cand_cap, sizeof(*vmon_cand), GFP_KERNEL);
	vmon_seen = kvcalloc(vmon_cand_cap, sizeof(*vmon_seen), GFP_KERNEL);
	vmon_scratch = vmalloc(VMON_MAX_RECORD);
	vmon_pathbuf = kmalloc(PATH_MAX, GFP_KERNEL);
	vmon_wq = alloc_workqueue("variable_monitor", WQ_UNBOUND | WQ_HIGHPRI,
				  0);
	vmon_wq_user = alloc_workqueue("variable_monitor_user", WQ_UNBOUND, 0);
	if (!vmon_cand || !vmon_seen || !vmon_scratch || !vmon_pathbuf ||
	    !vmon_wq || !vmon_wq_user) {
		vmon_dump_exit();
		return -ENOMEM;
	}
	return 0;
}

/* Called after every timer is gone: nothing can queue new work. */
void vmon_dump_exit(void)
{
	if (vmon_wq_user)
		destroy_workqueue(vmon_wq_user);	/* drains its dump work */
	vmon_wq_user = NULL;
	if (vmon_wq)
		destroy_workqueue(vmon_wq);	/* drains dump and reap work */
	vmon_wq = NULL;
	kfree(vmon_pathbuf);
	vfree(vmon_scratch);
	kvfree(vmon_seen);
	kvfree(vmon_cand);
}
