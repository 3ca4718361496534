//! The `#[repr(C)]` mirror of `kmod/include/uapi/vmon.h`.
//!
//! Every size and offset here is checked against the C header by
//! `tests/header_layout.rs`, which compiles the header with the system C
//! compiler. Change the header first, then this file, then the test's field
//! list; the test fails until all three agree.

#![allow(non_camel_case_types)]

pub const VMON_DEVICE_NAME: &str = "variable_monitor";
pub const VMON_DEVICE_PATH: &str = "/dev/variable_monitor";

pub const VMON_ABI_VERSION: u32 = 1;
pub const VMON_RECORD_VERSION: u32 = 1;
pub const VMON_RECORD_MAGIC: u16 = 0x564d;

pub const VMON_NAME_LEN: usize = 16;
pub const VMON_KSYM_LEN: usize = 64;
pub const VMON_COMM_LEN: usize = 16;

pub const VMON_WATCH_UNSIGNED: u32 = 1 << 0;
pub const VMON_WATCH_GREATER: u32 = 1 << 1;
pub const VMON_WATCH_KERNEL: u32 = 1 << 2;
pub const VMON_WATCH_DEF_INTERVAL: u32 = 1 << 3;
pub const VMON_WATCH_REARM: u32 = 1 << 4;
pub const VMON_WATCH_RATE: u32 = 1 << 5;
pub const VMON_WATCH_FLAGS_ALL: u32 = (1 << 6) - 1;
pub const VMON_MAX_CONSECUTIVE: u32 = 1_000_000;
pub const VMON_MAX_RATE_WINDOW_NS: u64 = 3600 * 1_000_000_000;

pub const VMON_REC_HELLO: u16 = 1;
pub const VMON_REC_BREACH: u16 = 2;
pub const VMON_REC_TASK: u16 = 3;
pub const VMON_REC_MAPS: u16 = 4;
pub const VMON_REC_CHAIN: u16 = 5;
pub const VMON_REC_EVENT_END: u16 = 6;
pub const VMON_REC_LOST: u16 = 7;

pub const VMON_STATE_OTHER: u32 = 0;
pub const VMON_STATE_RUNNING: u32 = 1;
pub const VMON_STATE_UNINTERRUPTIBLE: u32 = 2;
pub const VMON_STATE_RTLOCK: u32 = 3;

pub const VMON_TASK_KSTACK_TRUNC: u32 = 1 << 0;
pub const VMON_TASK_USTACK_TRUNC: u32 = 1 << 1;
pub const VMON_TASK_USTACK_FAULT: u32 = 1 << 2;
pub const VMON_TASK_RAW_TRUNC: u32 = 1 << 3;
pub const VMON_TASK_ON_CPU: u32 = 1 << 4;
pub const VMON_TASK_KTHREAD: u32 = 1 << 5;
pub const VMON_TASK_NO_UREGS: u32 = 1 << 6;
pub const VMON_TASK_USER_NOWAIT: u32 = 1 << 7;
pub const VMON_TASK_RAW_TRIMMED: u32 = 1 << 8;

pub const VMON_LIST_TRUNC: u32 = 1 << 0;
pub const VMON_LIST_BUSY: u32 = 1 << 1;
pub const VMON_MAP_PATH_TRUNC: u32 = 1 << 0;
pub const VMON_CHAIN_CMDLINE_TRUNC: u32 = 1 << 0;
pub const VMON_CHAIN_CMDLINE_NOWAIT: u32 = 1 << 1;

pub const VMON_EVENT_TASKS_TRUNC: u32 = 1 << 0;
pub const VMON_EVENT_TIME_BUDGET: u32 = 1 << 1;
pub const VMON_EVENT_DROPPED: u32 = 1 << 2;

// ------------------------------------------------------------------ ioctls

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_watch_req {
    pub size: u32,
    pub flags: u32,
    pub pid: i32,
    pub length: u32,
    pub addr: u64,
    pub threshold: i64,
    pub interval_ns: u64,
    pub name: [u8; VMON_NAME_LEN],
    pub ksym: [u8; VMON_KSYM_LEN],
    pub id: u64,
    pub consecutive: u32,
    pub reserved: u32,
    pub rearm: i64,
    pub rate_window_ns: u64,
}

impl Default for vmon_watch_req {
    fn default() -> Self {
        Self {
            size: core::mem::size_of::<Self>() as u32,
            flags: 0,
            pid: 0,
            length: 0,
            addr: 0,
            threshold: 0,
            interval_ns: 0,
            name: [0; VMON_NAME_LEN],
            ksym: [0; VMON_KSYM_LEN],
            id: 0,
            consecutive: 0,
            reserved: 0,
            rearm: 0,
            rate_window_ns: 0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_version {
    pub size: u32,
    pub abi_version: u32,
    pub record_version: u32,
    pub reserved: u32,
}

impl Default for vmon_version {
    fn default() -> Self {
        Self {
            size: core::mem::size_of::<Self>() as u32,
            abi_version: 0,
            record_version: 0,
            reserved: 0,
        }
    }
}

// The kernel's generic ioctl encoding (include/uapi/asm-generic/ioctl.h),
// which x86_64 uses: nr 8 bits, type 8, size 14, direction 2.
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    // _IOC_SIZEBITS is 14: a larger struct would not fit the encoding.
    assert!(size < (1 << 14));
    (dir << IOC_DIRSHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

pub const VMON_IOC_MAGIC: u8 = b'V';
pub const VMON_IOC_VERSION: u32 = ioc(
    IOC_READ | IOC_WRITE,
    VMON_IOC_MAGIC,
    0,
    core::mem::size_of::<vmon_version>(),
);
pub const VMON_IOC_WATCH: u32 = ioc(
    IOC_READ | IOC_WRITE,
    VMON_IOC_MAGIC,
    1,
    core::mem::size_of::<vmon_watch_req>(),
);
pub const VMON_IOC_CANCEL: u32 = ioc(IOC_NONE, VMON_IOC_MAGIC, 2, 0);

// ----------------------------------------------------------------- records
//
// These structs document the layout and let the layout test check it; the
// parser in `records` never casts bytes to them (the stream is not
// guaranteed to be aligned for us), it reads fields at these offsets.

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct vmon_rec_hdr {
    pub magic: u16,
    pub type_: u16,
    pub len: u32,
    pub seq: u64,
    pub time_ns: u64,
    pub event_id: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_rec_hello {
    pub hdr: vmon_rec_hdr,
    pub abi_version: u32,
    pub record_version: u32,
    pub def_interval_ns: u64,
    pub min_interval_ns: u64,
    pub dump_reset_sec: u32,
    pub kstack_max: u32,
    pub ustack_max: u32,
    pub raw_stack_bytes: u32,
    pub buffer_bytes: u64,
    pub boot_realtime_ns: u64,
    pub release: [u8; 65],
    pub pad: [u8; 7],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_rec_breach {
    pub hdr: vmon_rec_hdr,
    pub watch_id: u64,
    pub value: i64,
    pub threshold: i64,
    pub addr: u64,
    pub interval_ns: u64,
    pub owner_pid: i32,
    pub target_pid: i32,
    pub watch_flags: u32,
    pub length: u32,
    pub name: [u8; VMON_NAME_LEN],
    pub ksym: [u8; VMON_KSYM_LEN],
    pub consecutive: u32,
    pub reserved: u32,
    pub rearm: i64,
    pub rate_window_ns: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_rec_task {
    pub hdr: vmon_rec_hdr,
    pub pid: i32,
    pub tgid: i32,
    pub state: u32,
    pub cpu: i32,
    pub flags: u32,
    pub nr_kstack: u16,
    pub nr_ustack: u16,
    pub cgroup_id: u64,
    pub start_boottime_ns: u64,
    pub user_ip: u64,
    pub user_sp: u64,
    pub user_bp: u64,
    pub raw_stack_len: u32,
    pub pad: u32,
    pub comm: [u8; VMON_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_rec_maps {
    pub hdr: vmon_rec_hdr,
    pub tgid: i32,
    pub nr: u32,
    pub flags: u32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_map_entry {
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub ino: u64,
    pub dev: u32,
    pub flags: u32,
    pub path_len: u16,
    pub build_id_len: u8,
    pub pad: [u8; 5],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_rec_chain {
    pub hdr: vmon_rec_hdr,
    pub tgid: i32,
    pub nr: u32,
    pub flags: u32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_chain_entry {
    pub pid: i32,
    pub cmdline_len: u32,
    pub start_boottime_ns: u64,
    pub flags: u32,
    pub pad: u32,
    pub comm: [u8; VMON_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_rec_event_end {
    pub hdr: vmon_rec_hdr,
    pub nr_tasks: u32,
    pub nr_candidates: u32,
    pub flags: u32,
    pub pad: u32,
    pub duration_ns: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vmon_rec_lost {
    pub hdr: vmon_rec_hdr,
    pub lost_records: u64,
    pub lost_bytes: u64,
}

pub const HDR_SIZE: usize = core::mem::size_of::<vmon_rec_hdr>();
pub const HELLO_SIZE: usize = core::mem::size_of::<vmon_rec_hello>();
pub const BREACH_SIZE: usize = core::mem::size_of::<vmon_rec_breach>();
/// A BREACH record from a module before the trigger extension ends here.
pub const BREACH_SIZE_V1: usize = core::mem::offset_of!(vmon_rec_breach, consecutive);
pub const TASK_SIZE: usize = core::mem::size_of::<vmon_rec_task>();
pub const MAPS_SIZE: usize = core::mem::size_of::<vmon_rec_maps>();
pub const MAP_ENTRY_SIZE: usize = core::mem::size_of::<vmon_map_entry>();
pub const CHAIN_SIZE: usize = core::mem::size_of::<vmon_rec_chain>();
pub const CHAIN_ENTRY_SIZE: usize = core::mem::size_of::<vmon_chain_entry>();
pub const EVENT_END_SIZE: usize = core::mem::size_of::<vmon_rec_event_end>();
pub const LOST_SIZE: usize = core::mem::size_of::<vmon_rec_lost>();

// The header promises no implicit padding and 8-byte multiples; catch a
// drift at compile time even before the C comparison test runs.
const _: () = {
    assert!(HDR_SIZE == 32);
    assert!(HELLO_SIZE % 8 == 0);
    assert!(BREACH_SIZE % 8 == 0);
    assert!(TASK_SIZE % 8 == 0);
    assert!(MAPS_SIZE % 8 == 0);
    assert!(MAP_ENTRY_SIZE % 8 == 0);
    assert!(CHAIN_SIZE % 8 == 0);
    assert!(CHAIN_ENTRY_SIZE % 8 == 0);
    assert!(EVENT_END_SIZE % 8 == 0);
    assert!(LOST_SIZE % 8 == 0);
};
