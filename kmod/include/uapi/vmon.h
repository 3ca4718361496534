/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * vmon kernel/user ABI: the ioctl control structures and the records that
 * /dev/variable_monitor delivers to read().
 *
 * This header is the single source of truth.  The Rust mirror in
 * kmod/rust (crate vmon-kabi) is checked against it by a test that compiles
 * this file and compares every size and offset.
 *
 * Rules: fixed-width fields only, natural alignment, no implicit padding
 * (every pad is a named field that must be zero), little-endian (the module
 * is x86_64-only today), every record a multiple of 8 bytes.
 */
#ifndef _UAPI_VMON_H
#define _UAPI_VMON_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define VMON_DEVICE_NAME	"variable_monitor"
#define VMON_DEVICE_PATH	"/dev/variable_monitor"

/* Bumped on any incompatible change of the ioctls or the records. */
#define VMON_ABI_VERSION	1

#define VMON_NAME_LEN		16
#define VMON_KSYM_LEN		64
#define VMON_COMM_LEN		16

/* ---------------------------------------------------------------- ioctls */

/* struct vmon_watch_req.flags */
#define VMON_WATCH_UNSIGNED	(1U << 0) /* compare as unsigned */
#define VMON_WATCH_GREATER	(1U << 1) /* breach when value > threshold, else < */
#define VMON_WATCH_KERNEL	(1U << 2) /* kernel variable: ksym + addr offset */
#define VMON_WATCH_DEF_INTERVAL	(1U << 3) /* interval_ns came from a default */
#define VMON_WATCH_REARM	(1U << 4) /* hysteresis: leave the breach only past rearm */
#define VMON_WATCH_RATE		(1U << 5) /* compare the change within rate_window_ns */
#define VMON_WATCH_FLAGS_ALL	((1U << 6) - 1)

/* Bounds of the trigger extension (struct vmon_watch_req from size 152). */
#define VMON_MAX_CONSECUTIVE	1000000U
#define VMON_MAX_RATE_WINDOW_NS	(3600ULL * 1000000000ULL)

/*
 * Register one watch.  size is sizeof(struct vmon_watch_req) as the caller
 * was built with; the kernel accepts smaller (older) and larger (newer, if
 * the extra bytes are zero) structures, as copy_struct_from_user() does.
 * The kernel matches VMON_IOC_WATCH and VMON_IOC_VERSION on type, number
 * and direction, not on the size bits, so a caller whose _IOWR() encodes a
 * larger struct reaches the same handler: the size field governs.
 */
struct vmon_watch_req {
	__u32 size;
	__u32 flags;		/* VMON_WATCH_* */
	__s32 pid;		/* process holding the variable; 0 = caller */
	__u32 length;		/* 1, 2, 4 or 8 bytes */
	__u64 addr;		/* user address, or offset from ksym */
	__s64 threshold;
	__u64 interval_ns;	/* 0 = /proc/variable_monitor/def_interval_ns */
	char name[VMON_NAME_LEN];	/* NUL-terminated */
	char ksym[VMON_KSYM_LEN];	/* NUL-terminated, VMON_WATCH_KERNEL only */
	__u64 id;		/* out: the watch id, unique while loaded */
	/*
	 * The trigger extension (size 152; all zero: breach on the first tick
	 * past the threshold, re-arm on the first tick back).  "Past" compares
	 * the value, or with VMON_WATCH_RATE the change: the value minus the
	 * lowest (VMON_WATCH_GREATER) or highest (else) value of the last
	 * rate_window_ns to 2 * rate_window_ns, signed, so "> 100" means "rose
	 * by more than 100 within the window" and "< -100" "fell by more than
	 * 100".  A breach begins after consecutive ticks past the threshold
	 * (0 and 1: the first).  With VMON_WATCH_REARM it ends only on a tick
	 * at or below rearm (GREATER; at or above for "<"), not on the first
	 * tick back.
	 */
	__u32 consecutive;	/* 0 .. VMON_MAX_CONSECUTIVE */
	__u32 reserved;		/* must be zero */
	__s64 rearm;		/* VMON_WATCH_REARM only; else zero */
	__u64 rate_window_ns;	/* VMON_WATCH_RATE only (interval_ns .. 1 h); else zero */
};

struct vmon_version {
	__u32 size;
	__u32 abi_version;	/* out: VMON_ABI_VERSION */
	__u32 record_version;	/* out: VMON_RECORD_VERSION */
	__u32 reserved;
};

#define VMON_IOC_MAGIC		'V'
#define VMON_IOC_VERSION	_IOWR(VMON_IOC_MAGIC, 0, struct vmon_version)
#define VMON_IOC_WATCH		_IOWR(VMON_IOC_MAGIC, 1, struct vmon_watch_req)
/* Cancel one watch by id (arg), or every watch of the caller (arg 0). */
#define VMON_IOC_CANCEL		_IO(VMON_IOC_MAGIC, 2)

/* --------------------------------------------------------------- records */

#define VMON_RECORD_VERSION	1
#define VMON_RECORD_MAGIC	0x564d	/* "VM" */

enum vmon_record_type {
	VMON_REC_HELLO = 1,	/* first record every reader gets */
	VMON_REC_BREACH = 2,	/* a watch breached: begins an event */
	VMON_REC_TASK = 3,	/* one sampled task of an event */
	VMON_REC_MAPS = 4,	/* executable mappings of one process */
	VMON_REC_CHAIN = 5,	/* process chain of one process */
	VMON_REC_EVENT_END = 6,	/* ends an event */
	VMON_REC_LOST = 7,	/* records dropped since the previous LOST */
};

/*
 * Every record starts with this header; len covers header and body and is a
 * multiple of 8.  seq increases by one for every record the module produced,
 * delivered or not, so a gap in seq is a loss even without a LOST record
 * (a LOST record takes a seq only when it is delivered, so the gaps add up
 * to the records lost).  HELLO is outside the sequence: its seq is the seq
 * of the next record this reader gets.  time_ns is CLOCK_BOOTTIME: when the
 * record was written, except for BREACH, where it is the time of the breach.
 */
struct vmon_rec_hdr {
	__u16 magic;		/* VMON_RECORD_MAGIC */
	__u16 type;		/* enum vmon_record_type */
	__u32 len;
	__u64 seq;
	__u64 time_ns;
	__u64 event_id;		/* breach event; 0 when none */
};

struct vmon_rec_hello {
	struct vmon_rec_hdr hdr;
	__u32 abi_version;
	__u32 record_version;
	__u64 def_interval_ns;
	__u64 min_interval_ns;	/* floor for unprivileged callers */
	__u32 dump_reset_sec;
	__u32 kstack_max;	/* frames */
	__u32 ustack_max;	/* frames */
	__u32 raw_stack_bytes;	/* 0 = raw user stacks off */
	__u64 buffer_bytes;
	__u64 boot_realtime_ns;	/* CLOCK_REALTIME - CLOCK_BOOTTIME at open */
	char release[65];	/* utsname()->release, NUL-terminated */
	__u8 pad[7];
};

/*
 * struct vmon_rec_breach.watch_flags = VMON_WATCH_* of the watch; value is
 * what was compared with the threshold (the change, for VMON_WATCH_RATE).
 * The trigger fields at the end were added in record length 192: a shorter
 * BREACH record comes from a module without them (all zero).
 */
struct vmon_rec_breach {
	struct vmon_rec_hdr hdr;
	__u64 watch_id;
	__s64 value;
	__s64 threshold;
	__u64 addr;		/* user address, or resolved kernel address */
	__u64 interval_ns;
	__s32 owner_pid;	/* tgid that registered the watch */
	__s32 target_pid;	/* tgid whose memory is watched; 0 = kernel */
	__u32 watch_flags;
	__u32 length;
	char name[VMON_NAME_LEN];
	char ksym[VMON_KSYM_LEN];
	__u32 consecutive;	/* as struct vmon_watch_req */
	__u32 reserved;
	__s64 rearm;
	__u64 rate_window_ns;
};

/* struct vmon_rec_task.state */
enum vmon_task_state {
	VMON_STATE_OTHER = 0,
	VMON_STATE_RUNNING = 1,		/* R */
	VMON_STATE_UNINTERRUPTIBLE = 2,	/* D, counts towards load */
	VMON_STATE_RTLOCK = 3,		/* PREEMPT_RT: blocked on a sleeping lock */
};

/* struct vmon_rec_task.flags */
#define VMON_TASK_KSTACK_TRUNC	(1U << 0) /* more kernel frames than kstack_max */
#define VMON_TASK_USTACK_TRUNC	(1U << 1) /* walk stopped at ustack_max */
#define VMON_TASK_USTACK_FAULT	(1U << 2) /* walk stopped at an unreadable frame */
#define VMON_TASK_RAW_TRUNC	(1U << 3) /* raw copy shorter than asked */
#define VMON_TASK_ON_CPU	(1U << 4) /* running elsewhere: stack may be torn */
#define VMON_TASK_KTHREAD	(1U << 5) /* no user context */
#define VMON_TASK_NO_UREGS	(1U << 6) /* user registers unavailable */
#define VMON_TASK_USER_NOWAIT	(1U << 7) /* user memory not resident or mm busy: not read */
#define VMON_TASK_RAW_TRIMMED	(1U << 8) /* raw window ends above the frame-pointer chain's root */

/*
 * Followed by __u64 kstack[nr_kstack] (innermost first), __u64
 * ustack[nr_ustack] (innermost first, ustack[0] == user_ip when present),
 * then raw_stack_len bytes copied from user_sp upwards, zero padded to 8.
 */
struct vmon_rec_task {
	struct vmon_rec_hdr hdr;
	__s32 pid;
	__s32 tgid;
	__u32 state;		/* enum vmon_task_state */
	__s32 cpu;
	__u32 flags;		/* VMON_TASK_* */
	__u16 nr_kstack;
	__u16 nr_ustack;
	__u64 cgroup_id;	/* cgroup v2 id (cgroupfs inode number) */
	__u64 start_boottime_ns;
	__u64 user_ip;
	__u64 user_sp;
	__u64 user_bp;
	__u32 raw_stack_len;
	__u32 pad;
	char comm[VMON_COMM_LEN];
};

/* struct vmon_rec_maps.flags and struct vmon_rec_chain.flags */
#define VMON_LIST_TRUNC		(1U << 0) /* more entries than fitted */
#define VMON_LIST_BUSY		(1U << 1) /* MAPS: mmap_lock contended, entries not read */

/*
 * Followed by nr entries, each a struct vmon_map_entry, then path_len
 * bytes of path (no NUL), then build_id_len bytes of build-id, zero padded
 * so the next entry starts 8-byte aligned.
 */
struct vmon_rec_maps {
	struct vmon_rec_hdr hdr;
	__s32 tgid;
	__u32 nr;
	__u32 flags;
	__u32 pad;
};

#define VMON_MAP_PATH_TRUNC	(1U << 0) /* d_path() failed: last component only */

struct vmon_map_entry {
	__u64 start;
	__u64 end;
	__u64 pgoff;		/* file offset in bytes */
	__u64 ino;
	__u32 dev;		/* new_encode_dev() */
	__u32 flags;		/* VMON_MAP_* */
	__u16 path_len;
	__u8 build_id_len;	/* 0 when the kernel could not read it */
	__u8 pad[5];
};

/*
 * The process chain of tgid, starting with the process itself and going up
 * through real_parent.  Followed by nr entries, each a struct
 * vmon_chain_entry then cmdline_len bytes (arguments separated by NUL), zero
 * padded to 8.
 */
struct vmon_rec_chain {
	struct vmon_rec_hdr hdr;
	__s32 tgid;
	__u32 nr;
	__u32 flags;
	__u32 pad;
};

#define VMON_CHAIN_CMDLINE_TRUNC	(1U << 0)
#define VMON_CHAIN_CMDLINE_NOWAIT	(1U << 1) /* not resident now: not read */

struct vmon_chain_entry {
	__s32 pid;
	__u32 cmdline_len;
	__u64 start_boottime_ns;
	__u32 flags;		/* VMON_CHAIN_* */
	__u32 pad;
	char comm[VMON_COMM_LEN];
};

/* struct vmon_rec_event_end.flags */
#define VMON_EVENT_TASKS_TRUNC	(1U << 0) /* more candidate tasks than the cap */
#define VMON_EVENT_TIME_BUDGET	(1U << 1) /* collection stopped by its time budget */
#define VMON_EVENT_DROPPED	(1U << 2) /* some of this event's records were dropped */

struct vmon_rec_event_end {
	struct vmon_rec_hdr hdr;
	__u32 nr_tasks;		/* TASK records emitted */
	__u32 nr_candidates;	/* tasks that matched R/D */
	__u32 flags;
	__u32 pad;
	__u64 duration_ns;	/* time spent collecting */
};

/* Totals since load; a reader diffs consecutive LOST records. */
struct vmon_rec_lost {
	struct vmon_rec_hdr hdr;
	__u64 lost_records;
	__u64 lost_bytes;
};

#endif /* _UAPI_VMON_H */
