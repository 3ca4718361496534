// SPDX-License-Identifier: GPL-2.0
/*
 * variable_monitor: module entry, /dev/variable_monitor and
 * /proc/variable_monitor/.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/capability.h>
#include <linux/utsname.h>
#include <linux/timekeeping.h>
#include "vmon_priv.h"
#include "compat.h"

#define CREATE_TRACE_POINTS
#include "vmon_trace.h"

u64 vmon_def_interval_ns = 10000;
u64 vmon_min_interval_ns = 100000;
u64 vmon_dump_reset_sec = 5;
/*
 * Raw user stack bytes per task, on by default: vmon-capture unwinds them
 * with the binaries' CFI (frame-pointer walks miss the glibc and -O2 frames).
 */
u64 vmon_raw_stack_bytes = VMON_RAW_STACK_DEFAULT;
u64 vmon_raw_stack_trim = 1;
u64 vmon_max_tasks = 512;
u64 vmon_dump_budget_ms = 500;
u64 vmon_cmdline_max = 256;
unsigned int vmon_max_watches = 65536;
unsigned int vmon_max_watches_per_proc = 8192;
unsigned int vmon_max_timers = 256;
/* unprivileged owners: per uid, and what they leave to privileged ones */
unsigned int vmon_max_watches_per_user = 8192;
unsigned int vmon_max_timers_per_user = 32;
unsigned int vmon_reserved_watches = 8192;
unsigned int vmon_reserved_timers = 32;
u64 vmon_dump_rate = 200;		/* dumps/s, all owners */
u64 vmon_user_dump_rate = 10;
u64 vmon_user_tick_checks = 1024;	/* entries per tick of a user timer */
u64 vmon_user_cpu_pct = 5;		/* user timers' share of each CPU */		/* dumps/s, unprivileged owners together */
static unsigned int ring_kb = 4096;
struct vmon_stats vmon_stats;

module_param_named(max_watches, vmon_max_watches, uint, 0644);
MODULE_PARM_DESC(max_watches, "watches in the whole system (65536)");
module_param_named(max_watches_per_proc, vmon_max_watches_per_proc, uint, 0644);
MODULE_PARM_DESC(max_watches_per_proc, "watches one process may own (8192)");
module_param_named(max_timers, vmon_max_timers, uint, 0644);
MODULE_PARM_DESC(max_timers, "distinct intervals, one hrtimer each (256)");
module_param_named(max_watches_per_user, vmon_max_watches_per_user, uint, 0644);
MODULE_PARM_DESC(max_watches_per_user, "watches of one unprivileged uid, all its processes (8192)");
module_param_named(max_timers_per_user, vmon_max_timers_per_user, uint, 0644);
MODULE_PARM_DESC(max_timers_per_user, "timers (distinct intervals) of one unprivileged uid (32)");
module_param_named(reserved_watches, vmon_reserved_watches, uint, 0644);
MODULE_PARM_DESC(reserved_watches, "of max_watches, kept for privileged owners (8192)");
module_param_named(reserved_timers, vmon_reserved_timers, uint, 0644);
MODULE_PARM_DESC(reserved_timers, "of max_timers, kept for privileged owners (32)");
module_param(ring_kb, uint, 0444);
MODULE_PARM_DESC(ring_kb, "record ring size in KiB, rounded up to a power of two (4096)");
module_param_named(max_tasks, vmon_max_tasks, ullong, 0444);
MODULE_PARM_DESC(max_tasks, "tasks described per event (512)");

/* ------------------------------------------------------------- /proc */

struct vmon_tunable {
	const char *name;
	u64 *val;
	u64 min, max;
};

static const struct vmon_tunable vmon_tunables[] = {
	{ "def_interval_ns", &vmon_def_interval_ns, VMON_ABS_MIN_INTERVAL_NS, VMON_MAX_INTERVAL_NS },
	{ "min_interval_ns", &vmon_min_interval_ns, VMON_ABS_MIN_INTERVAL_NS, VMON_MAX_INTERVAL_NS },
	{ "dump_reset_sec", &vmon_dump_reset_sec, 0, 86400 },
	{ "raw_stack_bytes", &vmon_raw_stack_bytes, 0, VMON_RAW_STACK_MAX },
	{ "raw_stack_trim", &vmon_raw_stack_trim, 0, 1 },
	{ "dump_budget_ms", &vmon_dump_budget_ms, 0, 60000 },
	{ "cmdline_max", &vmon_cmdline_max, 0, 4096 },
	{ "dump_rate", &vmon_dump_rate, 0, 100000 },
	{ "user_dump_rate", &vmon_user_dump_rate, 0, 100000 },
	{ "user_tick_checks", &vmon_user_tick_checks, 1, 65536 },
	{ "user_cpu_pct", &vmon_user_cpu_pct, 1, 50 },
};

static int vmon_tunable_show(struct seq_file *m, void *v)
{
	const struct vmon_tunable *t = m->private;

	seq_printf(m, "%llu\n", READ_ONCE(*t->val));
	return 0;
}

static int vmon_tunable_open(struct inode *inode, struct file *file)
{
	return single_open(file, vmon_tunable_show, pde_data(inode));
}

static ssize_t vmon_tunable_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	const struct vmon_tunable *t = pde_data(file_inode(file));
	u64 val;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ret = kstrtou64_from_user(ubuf, count, 0, &val);
	if (ret)
		return ret;
	if (val < t->min || val > t->max)
		return -ERANGE;
	WRITE_ONCE(*t->val, val);
	return count;
}

static const struct proc_ops vmon_tunable_ops = {
	.proc_open = vmon_tunable_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = vmon_tunable_write,
};

static int vmon_control_open(struct inode *inode, struct file *file)
{
	return single_open(file, vmon_show_control, NULL);
}

/* "activate" or "deactivate", with an optional newline */
static ssize_t vmon_control_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	char buf[16];
	size_t n = min(count, sizeof(buf) - 1);

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(buf, ubuf, n))
		return -EFAULT;
	buf[n] = 0;
	if (n && buf[n - 1] == '\n')
		buf[--n] = 0;
	if (!strcmp(buf, "activate"))
		vmon_set_active(true);
	else if (!strcmp(buf, "deactivate"))
		vmon_set_active(false);
	else
		return -EINVAL;
	return count;
}

static const struct proc_ops vmon_control_ops = {
	.proc_open = vmon_control_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = vmon_control_write,
};

static int vmon_stats_show(struct seq_file *m, void *v)
{
	unsigned int watches, timers;
	u64 ticks, checks, ns, overruns;

	vmon_watch_counts(&watches, &timers, &ticks, &checks, &ns, &overruns);
	seq_printf(m, "watches %u\ntimers %u\n", watches, timers);
	seq_printf(m, "ticks %llu\nchecks %llu\ntimer_ns %llu\ntimer_overruns %llu\n",
		   ticks, checks, ns, overruns);
	seq_printf(m, "ns_per_tick %llu\nns_per_check %llu\n",
		   ticks ? div64_u64(ns, ticks) : 0,
		   checks ? div64_u64(ns, checks) : 0);
#define S(x) seq_printf(m, #x " %lld\n", (long long)atomic64_read(&vmon_stats.x))
	S(breaches);
	S(dumps);
	S(dumps_skipped);
	S(dumps_no_reader);
	S(dumps_rate_limited);
	S(truncated_events);
	S(tasks_sampled);
	S(dump_ns);
	S(records);
	S(bytes);
	S(lost_records);
	S(lost_bytes);
	S(pinned_pages);
	S(lines_suppressed);
#undef S
	seq_printf(m, "ring_bytes %llu\nring_used %llu\nkallsyms %d\n",
		   vmon_ring_size(), vmon_ring_used(), vmon_ksym_available());
	return 0;
}

static struct proc_dir_entry *vmon_proc_dir;

static int vmon_proc_init(void)
{
	int i;

	vmon_proc_dir = proc_mkdir("variable_monitor", NULL);
	if (!vmon_proc_dir)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(vmon_tunables); i++)
		if (!proc_create_data(vmon_tunables[i].name, 0644, vmon_proc_dir,
				      &vmon_tunable_ops,
				      (void *)&vmon_tunables[i]))
			goto err;
	if (!proc_create_single("stats", 0444, vmon_proc_dir, vmon_stats_show) ||
	    !proc_create_single("timers", 0444, vmon_proc_dir, vmon_show_timers) ||
	    !proc_create_single("watches", 0400, vmon_proc_dir, vmon_show_watches) ||
	    !proc_create("control", 0644, vmon_proc_dir, &vmon_control_ops))
		goto err;
	return 0;
err:
	proc_remove(vmon_proc_dir);
	return -ENOMEM;
}

/* ------------------------------------------------------------ device */

static void vmon_fill_hello(struct vmon_rec_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->hdr.magic = VMON_RECORD_MAGIC;
	h->hdr.type = VMON_REC_HELLO;
	h->hdr.len = sizeof(*h);
	h->hdr.time_ns = vmon_now_ns();
	/* not a record of the sequence: the seq of the next one this reader gets */
	h->hdr.seq = vmon_ring_next_seq();
	h->abi_version = VMON_ABI_VERSION;
	h->record_version = VMON_RECORD_VERSION;
	h->def_interval_ns = READ_ONCE(vmon_def_interval_ns);
	h->min_interval_ns = READ_ONCE(vmon_min_interval_ns);
	h->dump_reset_sec = READ_ONCE(vmon_dump_reset_sec);
	h->kstack_max = VMON_KSTACK_MAX;
	h->ustack_max = VMON_USTACK_MAX;
	h->raw_stack_bytes = READ_ONCE(vmon_raw_stack_bytes);
	h->buffer_bytes = vmon_ring_size();
	h->boot_realtime_ns = ktime_get_real_ns() - ktime_get_boottime_ns();
	strscpy(h->release, utsname()->release, sizeof(h->release));
}

static int vmon_open(struct inode *inode, struct file *file)
{
	struct vmon_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	INIT_LIST_HEAD(&f->watches);
	mutex_init(&f->read_lock);
	/* credentials are judged once, by whoever opened the file */
	f->privileged = perfmon_capable();
	f->sys_admin = capable(CAP_SYS_ADMIN);
	f->can_read = f->privileged;
	f->hello_done = true;
	file->private_data = f;
	return 0;
}

static int vmon_release(struct inode *inode, struct file *file)
{
	struct vmon_file *f = file->private_data;

	vmon_file_release_watches(f);
	vmon_ring_release_reader(f);
	kfree(f);
	return 0;
}

/*
 * The first read() or poll() makes this file the reader and queues its
 * HELLO.  Under f->read_lock, which the copy-out holds too: two threads
 * making their first read() on one fd get one intact HELLO between them.
 */
static int vmon_become_reader(struct vmon_file *f)
{
	int ret;

	if (!f->can_read)
		return -EPERM;
	ret = vmon_ring_claim_reader(f);
	if (ret)
		return ret;
	mutex_lock(&f->read_lock);
	if (!f->hello.hdr.magic) {
		vmon_fill_hello(&f->hello);
		f->hello_done = false;
	}
	mutex_unlock(&f->read_lock);
	return 0;
}

static ssize_t vmon_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	struct vmon_file *f = file->private_data;
	int ret = vmon_become_reader(f);

	if (ret)
		return ret;
	return vmon_ring_read(f, buf, count, file->f_flags & O_NONBLOCK);
}

static __poll_t vmon_poll(struct file *file, struct poll_table_struct *wait)
{
	struct vmon_file *f = file->private_data;

	if (vmon_become_reader(f))
		return EPOLLERR;
	return vmon_ring_poll(f, file, wait);
}

/*
 * Commands are matched on type, number and direction, not on the size
 * bits: VMON_IOC_WATCH and VMON_IOC_VERSION carry the struct size in their
 * first field, which governs the copy (copy_struct_from_user() rules), so a
 * caller built with a larger struct, whose _IOWR() encodes another size,
 * reaches the same handler and gets acceptance or E2BIG, not ENOTTY.
 * Every caller built so far sends the sizes of today's structs, which match
 * as before.
 */
#define VMON_IOC_KEY(cmd)	((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

static long vmon_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vmon_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct vmon_version ver = {
		.size = sizeof(ver),
		.abi_version = VMON_ABI_VERSION,
		.record_version = VMON_RECORD_VERSION,
	};
	u32 usize;

	if (cmd == VMON_IOC_CANCEL)
		return vmon_ioc_cancel(f, arg);
	if (!_IOC_SIZE(cmd))
		return -ENOTTY;
	switch (VMON_IOC_KEY(cmd)) {
	case VMON_IOC_KEY(VMON_IOC_VERSION):
		if (get_user(usize, (u32 __user *)uarg))
			return -EFAULT;
		if (usize < offsetofend(struct vmon_version, abi_version))
			return -EINVAL;
		if (copy_to_user(uarg, &ver, min_t(u32, usize, sizeof(ver))))
			return -EFAULT;
		return 0;
	case VMON_IOC_KEY(VMON_IOC_WATCH):
		return vmon_ioc_watch(f, uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vmon_fops = {
	.owner = THIS_MODULE,
	.open = vmon_open,
	.release = vmon_release,
	.read = vmon_read,
	.poll = vmon_poll,
	.unlocked_ioctl = vmon_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* 0666: anyone may watch their own memory; read() checks capabilities. */
static struct miscdevice vmon_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VMON_DEVICE_NAME,
	.fops = &vmon_fops,
	.mode = 0666,
};

static int __init vmon_init(void)
{
	int ret;

	ret = vmon_ring_init((unsigned long)ring_kb * 1024);
	if (ret)
		return ret;
	ret = vmon_dump_init();
	if (ret)
		goto err_ring;
	vmon_ksym_init();
	ret = vmon_watch_init();
	if (ret)
		goto err_dump;
	ret = vmon_proc_init();
	if (ret)
		goto err_watch;
	ret = misc_register(&vmon_misc);
	if (ret)
		goto err_proc;
	pr_info("loaded: ring %llu KiB, def_interval %llu ns, min_interval %llu ns\n",
		vmon_ring_size() >> 10, vmon_def_interval_ns,
		vmon_min_interval_ns);
	return 0;
err_proc:
	proc_remove(vmon_proc_dir);
err_watch:
	vmon_watch_exit();
err_dump:
	vmon_dump_exit();
err_ring:
	vmon_ring_exit();
	return ret;
}

/*
 * Teardown order: no new opens, no /proc users, wake readers (none can be
 * left: an open file pins the module), tracepoints off and synchronized,
 * workqueue drained and destroyed, then the ring.
 */
static void __exit vmon_exit(void)
{
	misc_deregister(&vmon_misc);
	proc_remove(vmon_proc_dir);
	vmon_ring_shutdown();
	vmon_watch_exit();
	vmon_dump_exit();
	vmon_ring_exit();
	pr_info("unloaded\n");
}

module_init(vmon_init);
module_exit(vmon_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Watch variables from hrtimers and snapshot R/D tasks on a breach");
MODULE_AUTHOR("vmon project");
