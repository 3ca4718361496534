/* SPDX-License-Identifier: GPL-2.0 */
/* variable_monitor: definitions shared by the module's source files. */
#ifndef _VMON_PRIV_H
#define _VMON_PRIV_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/hrtimer.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/atomic.h>
#include <linux/workqueue.h>
#include "include/uapi/vmon.h"

#define VMON_ABS_MIN_INTERVAL_NS	10000ULL		/* 10 us */
#define VMON_MAX_INTERVAL_NS		(3600ULL * NSEC_PER_SEC)
#define VMON_NR_EVENT_SLOTS		16
#define VMON_MAX_RECORD			(64 * 1024)
#define VMON_KSTACK_MAX			64
#define VMON_USTACK_MAX			128
#define VMON_RAW_STACK_MAX		16384
#define VMON_RAW_STACK_DEFAULT		8192
/* kept above the frame-pointer chain's outermost record (raw_stack_trim) */
#define VMON_RAW_STACK_TAIL		512
#define VMON_CHAIN_MAX			16

/* Tunables (/proc/variable_monitor/ and module parameters). */
extern u64 vmon_def_interval_ns;
extern u64 vmon_min_interval_ns;
extern u64 vmon_dump_reset_sec;
extern u64 vmon_raw_stack_bytes;
extern u64 vmon_raw_stack_trim;
extern u64 vmon_max_tasks;
extern u64 vmon_dump_budget_ms;
extern u64 vmon_cmdline_max;
extern unsigned int vmon_max_watches;
extern unsigned int vmon_max_watches_per_proc;
extern unsigned int vmon_max_timers;
extern unsigned int vmon_max_watches_per_user;
extern unsigned int vmon_max_timers_per_user;
extern unsigned int vmon_reserved_watches;
extern unsigned int vmon_reserved_timers;
extern u64 vmon_dump_rate;
extern u64 vmon_user_dump_rate;
extern u64 vmon_user_tick_checks;
extern u64 vmon_user_cpu_pct;

struct vmon_stats {
	atomic64_t breaches;
	atomic64_t dumps;
	atomic64_t dumps_skipped;	/* no free event slot */
	atomic64_t dumps_no_reader;	/* unprivileged breach, nobody reading */
	atomic64_t dumps_rate_limited;	/* over dump_rate or a share of it */
	atomic64_t records;
	atomic64_t bytes;
	atomic64_t lost_records;
	atomic64_t lost_bytes;
	atomic64_t tasks_sampled;
	atomic64_t dump_ns;
	atomic64_t truncated_events;
	/* totals of timers already freed; live timers are added on read */
	atomic64_t retired_ticks;
	atomic64_t retired_checks;
	atomic64_t retired_ns;
	atomic64_t retired_overruns;
	atomic64_t pinned_pages;	/* charged to RLIMIT_MEMLOCK now */
	atomic64_t lines_suppressed;	/* dmesg breach lines not printed */
};
extern struct vmon_stats vmon_stats;

struct vmon_file;
struct vmon_owner;
struct vmon_user;
struct vmon_charge;
struct vmon_target;

/*
 * What a tick reads for one watch: 32 bytes, in a contiguous array per
 * timer, so a tick streams through memory instead of chasing pointers.
 */
struct vmon_hot {
	const void *kaddr;
	s64 threshold;
	u32 flags;			/* VMON_WATCH_* | VMON_HOT_OFF */
	u16 length;
	u8 in_breach;			/* timer only */
	u8 pad;
	struct vmon_watch *w;		/* cold data, for a breach */
};

#define VMON_HOT_OFF	(1U << 31)	/* unlinked: skip until the rebuild */
#define VMON_HOT_TRIGGER (1U << 30)	/* has a trigger extension: vmon_trigger_tick() */

struct vmon_tarray {
	struct rcu_head rcu;
	unsigned int nr;		/* published entries; release/acquire */
	unsigned int cap;		/* allocated entries */
	struct vmon_hot hot[];
};

/* One hrtimer per distinct interval. */
struct vmon_timer {
	struct hrtimer hrt;
	struct vmon_tarray __rcu *arr;	/* what the tick walks */
	struct list_head watches;	/* vmon_watch.tnode, under vmon_mutex */
	struct list_head node;		/* vmon_timers, under vmon_mutex */
	u64 interval_ns;
	struct vmon_user *user;		/* unprivileged uid's own, or NULL */
	enum hrtimer_mode mode;		/* HARD for privileged, SOFT for users */
	unsigned int nr;		/* under vmon_mutex */
	unsigned int off;		/* VMON_HOT_OFF entries in arr */
	bool dirty;			/* arr holds VMON_HOT_OFF entries */
	/* written by the callback only */
	u64 ticks;
	u64 checks;
	u64 ns_total;
	u64 overruns;
	u64 overloaded;
	u64 throttled;			/* ticks skipped: CPU share used up */
	unsigned int cursor;		/* next entry of a chunked walk */
};

/*
 * The trigger extension of a watch (struct vmon_watch_req from size 152).
 * The request part is set at registration; the rest is written by the
 * watch's timer only (a watch is on one timer, whose callback never runs
 * on two CPUs at once).  The rate reference is the extreme value (min for
 * ">", max for "<") of two buckets of window_ns each, the current one and
 * the one before: O(1) memory per watch, and every change within window_ns
 * is seen (one within up to 2 * window_ns may be).
 */
struct vmon_trigger {
	u32 consecutive;		/* ticks past the threshold before the edge */
	u32 run;			/* ticks past it in a row, so far */
	s64 rearm;			/* VMON_WATCH_REARM */
	u64 window_ns;			/* VMON_WATCH_RATE */
	u64 bucket_start;		/* of the current bucket; 0 = none yet */
	s64 ref_cur;			/* extreme of the current bucket */
	s64 ref_prev;			/* extreme of the bucket before */
};

struct vmon_watch {
	struct list_head tnode;		/* timer list, under vmon_mutex */
	const void *kaddr;		/* where the timer reads */
	s64 threshold;
	u32 flags;
	u32 length;
	unsigned int slot;		/* index in timer->arr, under vmon_mutex */
	bool in_breach;			/* shadow of vmon_hot.in_breach */
	bool dead;			/* set by the exit/exec probe */
	pid_t target_tgid;		/* 0 for kernel watches */
	u64 breaches;			/* written by the timer only */
	u64 id;
	struct list_head onode;		/* owner list */
	struct list_head fnode;		/* file list */
	struct list_head rnode;		/* its vmon_target, if target != owner */
	struct list_head dnode;		/* private, while being freed */
	struct vmon_timer *timer;
	struct vmon_target *rtarget;	/* remote watches only */
	struct vmon_owner *owner;
	struct vmon_user *user;		/* unprivileged owner's uid, or NULL */
	struct vmon_file *file;
	struct page *page;		/* pinned page, NULL for kernel watches */
	struct vmon_charge *charge;	/* RLIMIT_MEMLOCK share, NULL if none */
	u64 addr;			/* user address or resolved kernel address */
	u64 interval_ns;
	pid_t owner_tgid;
	bool remote;
	char name[VMON_NAME_LEN];
	char ksym[VMON_KSYM_LEN];
	struct vmon_trigger trig;
};

/* Per open file of /dev/variable_monitor. */
struct vmon_file {
	struct list_head watches;	/* vmon_watch.fnode, under vmon_mutex */
	struct mutex read_lock;
	bool can_read;			/* CAP_PERFMON or CAP_SYS_ADMIN at open */
	bool privileged;		/* same, for intervals and kernel watches */
	bool sys_admin;			/* CAP_SYS_ADMIN at open: any kernel symbol */
	bool hello_done;
	u32 hello_off;
	struct vmon_rec_hello hello;
};

/* A breach waiting for the dump work; filled in hard-irq context. */
struct vmon_event {
	atomic_t state;			/* VMON_SLOT_* */
	bool priv;			/* dumped on the WQ_HIGHPRI queue */
	u64 time_ns;			/* of the breach, CLOCK_BOOTTIME */
	struct vmon_rec_breach rec;
};

enum { VMON_SLOT_FREE, VMON_SLOT_FILLING, VMON_SLOT_READY };

/* vmon_watch.c */
int vmon_watch_init(void);
void vmon_watch_exit(void);
long vmon_ioc_watch(struct vmon_file *f, void __user *uarg);
long vmon_ioc_cancel(struct vmon_file *f, unsigned long id);
void vmon_file_release_watches(struct vmon_file *f);
int vmon_show_timers(struct seq_file *m, void *v);
int vmon_show_control(struct seq_file *m, void *v);
int vmon_set_active(bool on);
int vmon_show_watches(struct seq_file *m, void *v);
void vmon_watch_counts(unsigned int *watches, unsigned int *timers,
		       u64 *ticks, u64 *checks, u64 *ns, u64 *overruns);

/* vmon_dump.c */
int vmon_dump_init(void);
void vmon_dump_exit(void);
void vmon_dump_queue(bool priv);
struct vmon_event *vmon_event_claim(bool priv);
extern struct workqueue_struct *vmon_wq;

/* vmon_pin.c */
struct vmon_charge *vmon_pin_charge(struct page *page);
void vmon_pin_uncharge(struct vmon_charge *c);

/* vmon_umem.c: user memory of other processes, for the dump worker only */
struct mm_struct;
struct mm_struct *vmon_umem_attach(struct task_struct *t);
void vmon_umem_detach(void);
u32 vmon_umem_read(void *dst, u64 uaddr, u32 len, bool *nowait);
bool vmon_mmap_trylock(struct mm_struct *mm);
bool vmon_umem_code_addrs(const u64 *addrs, unsigned int n);

/* vmon_ring.c */
int vmon_ring_init(unsigned long bytes);
void vmon_ring_exit(void);
void vmon_ring_put(void *rec, u32 len, u16 type, u64 event_id);
void vmon_ring_put_time(void *rec, u32 len, u16 type, u64 event_id,
			u64 time_ns);
u64 vmon_ring_next_seq(void);
ssize_t vmon_ring_read(struct vmon_file *f, char __user *buf, size_t count,
		       bool nonblock);
__poll_t vmon_ring_poll(struct vmon_file *f, struct file *file,
			struct poll_table_struct *wait);
int vmon_ring_claim_reader(struct vmon_file *f);
void vmon_ring_release_reader(struct vmon_file *f);
bool vmon_ring_has_reader(void);
void vmon_ring_shutdown(void);
u64 vmon_ring_size(void);
u64 vmon_ring_used(void);
u64 vmon_now_ns(void);

/* vmon_ksym.c */
void vmon_ksym_init(void);
bool vmon_ksym_available(void);
unsigned long vmon_ksym_lookup(const char *name);
unsigned long vmon_ksym_builtin(const char *name, size_t *size);
bool vmon_kernel_data(unsigned long addr, size_t len);
void *vmon_ksym_func(const char *name);
bool vmon_remote_allowed(struct task_struct *target);

#endif /* _VMON_PRIV_H */
