/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * monitor_user.h: watch variables of this process with variable_monitor.
 *
 * Source compatible with the original Variable Monitor API:
 *
 *	static int counter;
 *	START_WATCH_INT("counter", &counter, 100);	// breach when > 100
 *	...
 *	cancel_watch();
 *
 * Header only.  Every function returns 0 or a negative errno; pass that to
 * vmon_strerror() for a message that says what to do.  The device is opened
 * once per process (O_CLOEXEC) and stays open: the watches belong to this
 * process and end at cancel_watch(), at exit and at exec.
 */
#ifndef _MONITOR_USER_H
#define _MONITOR_USER_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include "uapi/vmon.h"

typedef struct {
	pid_t task_id;		/* process holding the variable; 0 or getpid() = self */
	char name[16];		/* shown in dmesg and records */
	void *ptr;		/* the variable, naturally aligned */
	int length_byte;	/* 1, 2, 4 or 8 */
	long long threshold;
	unsigned char unsigned_flag;	/* compare as unsigned */
	unsigned char greater_flag;	/* breach when > threshold, else < */
	unsigned long time_ns;	/* polling interval; 0 = the module default */
} watch_arg;

static int vmon_user_fd = -1;

/* Copy a name, always NUL-terminated, truncated to fit. */
static inline void vmon_copy_name(char *dst, const char *src, size_t size)
{
	size_t n = 0;

	while (n + 1 < size && src[n])
		n++;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* The open device, or a negative errno. */
static inline int vmon_device_fd(void)
{
	int fd;

	if (vmon_user_fd >= 0)
		return vmon_user_fd;
	fd = open(VMON_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	vmon_user_fd = fd;
	return fd;
}

/*
 * Conditions beyond "past the threshold" (all zero: the plain threshold),
 * for start_watch_trigger().  See struct vmon_watch_req in uapi/vmon.h.
 */
typedef struct {
	unsigned int consecutive;	/* ticks past the threshold before a breach */
	unsigned char rearm_flag;	/* hysteresis: a breach ends only past rearm */
	long long rearm;		/* <= threshold for ">", >= for "<" */
	unsigned long long rate_window_ns; /* compare the change within it; 0 = the value */
} watch_trigger;

/* The ioctl argument of wa (and t, if not NULL). */
static inline int vmon_fill_req(struct vmon_watch_req *req, watch_arg wa,
				const watch_trigger *t)
{
	memset(req, 0, sizeof(*req));
	req->size = sizeof(*req);
	req->flags = (wa.unsigned_flag ? VMON_WATCH_UNSIGNED : 0) |
		     (wa.greater_flag ? VMON_WATCH_GREATER : 0) |
		     (wa.time_ns ? 0 : VMON_WATCH_DEF_INTERVAL);
	req->pid = wa.task_id == getpid() ? 0 : wa.task_id;
	if (wa.length_byte <= 0)
		return -EINVAL;
	req->length = (__u32)wa.length_byte;
	req->addr = (__u64)(unsigned long)wa.ptr;
	req->threshold = wa.threshold;
	req->interval_ns = wa.time_ns;
	vmon_copy_name(req->name, wa.name, sizeof(req->name));
	if (t) {
		req->consecutive = t->consecutive;
		if (t->rearm_flag) {
			req->flags |= VMON_WATCH_REARM;
			req->rearm = t->rearm;
		}
		if (t->rate_window_ns) {
			req->flags |= VMON_WATCH_RATE;
			req->rate_window_ns = t->rate_window_ns;
		}
	}
	return 0;
}

/*
 * Register one watch with trigger conditions t (NULL: none); *id (if not
 * NULL) gets its id.  A module older than the trigger extension refuses a
 * non-zero t with -E2BIG.
 */
static inline int start_watch_trigger(watch_arg wa, const watch_trigger *t,
				      __u64 *id)
{
	struct vmon_watch_req req;
	int fd = vmon_device_fd();
	int ret;

	if (fd < 0)
		return fd;
	ret = vmon_fill_req(&req, wa, t);
	if (ret)
		return ret;
	if (ioctl(fd, VMON_IOC_WATCH, &req) < 0)
		return -errno;
	if (id)
		*id = req.id;
	return 0;
}

/* Register one watch; *id (if not NULL) gets its id for cancel_watch_id(). */
static inline int start_watch_id(watch_arg wa, __u64 *id)
{
	return start_watch_trigger(wa, NULL, id);
}

static inline int start_watch(watch_arg wa)
{
	return start_watch_id(wa, NULL);
}

/* End one watch of this process. */
static inline int cancel_watch_id(__u64 id)
{
	int fd = vmon_device_fd();

	if (fd < 0)
		return fd;
	return ioctl(fd, VMON_IOC_CANCEL, (unsigned long)id) < 0 ? -errno : 0;
}

/* End every watch of this process. */
static inline int cancel_watch(void)
{
	if (vmon_user_fd < 0)
		return 0;
	return cancel_watch_id(0);
}

/* What a negative return means and what to do about it. */
static inline const char *vmon_strerror(int err)
{
	switch (-err) {
	case 0:
		return "ok";
	case ENOENT:
		return "/dev/variable_monitor missing: module not loaded, run 'insmod variable_monitor.ko' (or modprobe variable_monitor)";
	case ENODEV: case ENXIO:
		return "module not loaded: run 'insmod variable_monitor.ko'";
	case EACCES:
		return "interval below the floor for unprivileged callers (/proc/variable_monitor/min_interval_ns): use time_ns = 0 for the default or a larger interval, or run with CAP_PERFMON";
	case EPERM:
		return "not permitted: watching another process needs ptrace rights over it; kernel watches need CAP_PERFMON (avenrun) or CAP_SYS_ADMIN (any other symbol), and none are allowed under kernel lockdown";
	case EINVAL:
		return "invalid watch: length must be 1, 2, 4 or 8, the address naturally aligned (a variable may not straddle pages), interval 10 us .. 1 h, name NUL-terminated; triggers: consecutive <= 1000000, rearm on the side of the threshold a breach returns to, rate window from the interval to 1 h";
	case E2BIG:
		return "the module is older than this header and does not know the trigger conditions asked for (consecutive, rearm, rate): load the matching variable_monitor.ko";
	case EFAULT:
		return "address not mapped in the watched process";
	case ESRCH:
		return "no such process (task_id)";
	case ENOSPC:
		return "too many watches or intervals: see the max_watches, max_watches_per_proc, max_timers, max_watches_per_user and max_timers_per_user module parameters (unprivileged users together also leave reserved_watches/reserved_timers to privileged ones)";
	case ENOMEM:
		return "out of memory";
	case EDQUOT:
		return "locked-memory limit reached: each watch pins the page (a whole 2 MiB huge page if the variable is in one) holding its variable, charged once per page to your user against RLIMIT_MEMLOCK across all your processes; raise 'ulimit -l', put watched variables together, or run with CAP_IPC_LOCK";
	case EOPNOTSUPP:
		return "kernel symbol lookup unavailable on this kernel (see dmesg)";
	case ENOTTY:
		return "/dev/variable_monitor does not understand this request: module and header versions differ";
	default:
		return strerror(-err);
	}
}

#define VMON_WATCH_(n, p, thr, len, uns, gt) __extension__ ({		\
	watch_arg __wa;							\
	memset(&__wa, 0, sizeof(__wa));					\
	vmon_copy_name(__wa.name, (n), sizeof(__wa.name));			\
	__wa.ptr = (void *)(p);						\
	__wa.length_byte = (len);					\
	__wa.threshold = (long long)(thr);				\
	__wa.unsigned_flag = (uns);					\
	__wa.greater_flag = (gt);					\
	start_watch(__wa);						\
})

/* Breach when the variable becomes greater than threshold ... */
#define START_WATCH_CHAR(n, p, t)	VMON_WATCH_(n, p, t, 1, 0, 1)
#define START_WATCH_UCHAR(n, p, t)	VMON_WATCH_(n, p, t, 1, 1, 1)
#define START_WATCH_SHORT(n, p, t)	VMON_WATCH_(n, p, t, 2, 0, 1)
#define START_WATCH_USHORT(n, p, t)	VMON_WATCH_(n, p, t, 2, 1, 1)
#define START_WATCH_INT(n, p, t)	VMON_WATCH_(n, p, t, 4, 0, 1)
#define START_WATCH_UINT(n, p, t)	VMON_WATCH_(n, p, t, 4, 1, 1)
#define START_WATCH_LONG(n, p, t)	VMON_WATCH_(n, p, t, sizeof(long), 0, 1)
#define START_WATCH_ULONG(n, p, t)	VMON_WATCH_(n, p, t, sizeof(long), 1, 1)
#define START_WATCH_LLONG(n, p, t)	VMON_WATCH_(n, p, t, 8, 0, 1)
#define START_WATCH_ULLONG(n, p, t)	VMON_WATCH_(n, p, t, 8, 1, 1)
/* ... or less than threshold. */
#define START_WATCH_CHAR_LESS(n, p, t)	VMON_WATCH_(n, p, t, 1, 0, 0)
#define START_WATCH_UCHAR_LESS(n, p, t)	VMON_WATCH_(n, p, t, 1, 1, 0)
#define START_WATCH_SHORT_LESS(n, p, t)	VMON_WATCH_(n, p, t, 2, 0, 0)
#define START_WATCH_USHORT_LESS(n, p, t) VMON_WATCH_(n, p, t, 2, 1, 0)
#define START_WATCH_INT_LESS(n, p, t)	VMON_WATCH_(n, p, t, 4, 0, 0)
#define START_WATCH_UINT_LESS(n, p, t)	VMON_WATCH_(n, p, t, 4, 1, 0)
#define START_WATCH_LONG_LESS(n, p, t)	VMON_WATCH_(n, p, t, sizeof(long), 0, 0)
#define START_WATCH_ULONG_LESS(n, p, t)	VMON_WATCH_(n, p, t, sizeof(long), 1, 0)
#define START_WATCH_LLONG_LESS(n, p, t)	VMON_WATCH_(n, p, t, 8, 0, 0)
#define START_WATCH_ULLONG_LESS(n, p, t) VMON_WATCH_(n, p, t, 8, 1, 0)

#endif /* _MONITOR_USER_H */
