//! Zero-copy parser of the record stream read from `/dev/variable_monitor`.
//!
//! The parser borrows the bytes it is given: variable-length parts (stacks,
//! paths, build-ids, command lines, raw stack bytes) are slices of the input.
//! Every read is bounds-checked and little-endian via `from_le_bytes`; no
//! byte is ever reinterpreted in place, so an unaligned buffer is fine. A
//! malformed record yields a [`RecordError`] naming its offset; it never
//! panics.

use crate::abi::*;
use core::mem::offset_of;

/// Records longer than this are treated as corrupt: the module never builds
/// one anywhere near this size, and a bound keeps resynchronization cheap.
pub const MAX_RECORD_LEN: u32 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(
        "offset {offset}: the stream ends inside a record ({have} of {need} bytes); \
         the capture was cut short or the read was partial"
    )]
    Truncated { offset: u64, need: u64, have: u64 },
    #[error(
        "offset {offset}: bad record magic {magic:#06x} (expected {:#06x}); \
         the input is not a vmon record stream or is corrupt",
        VMON_RECORD_MAGIC
    )]
    BadMagic { offset: u64, magic: u16 },
    #[error(
        "offset {offset}: bad record length {len} (must be a multiple of 8, at least {min} \
         and at most {MAX_RECORD_LEN}); the stream is corrupt"
    )]
    BadLen { offset: u64, len: u32, min: u32 },
    #[error("offset {offset}: malformed {kind} record: {detail}")]
    BadBody {
        offset: u64,
        kind: &'static str,
        detail: String,
    },
}

impl RecordError {
    /// Stream offset of the record that failed.
    pub fn offset(&self) -> u64 {
        match self {
            RecordError::Truncated { offset, .. }
            | RecordError::BadMagic { offset, .. }
            | RecordError::BadLen { offset, .. }
            | RecordError::BadBody { offset, .. } => *offset,
        }
    }

    /// The record may be complete once more bytes arrive.
    pub fn is_truncation(&self) -> bool {
        matches!(self, RecordError::Truncated { .. })
    }
}

// ------------------------------------------------------------ byte reading

fn arr<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    // Callers check lengths first; the fallback only keeps this total.
    off.checked_add(N)
        .and_then(|end| b.get(off..end))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}
fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}
fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(arr(b, off))
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(arr(b, off))
}
fn i32_at(b: &[u8], off: usize) -> i32 {
    i32::from_le_bytes(arr(b, off))
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(arr(b, off))
}
fn i64_at(b: &[u8], off: usize) -> i64 {
    i64::from_le_bytes(arr(b, off))
}
/// A fixed `char[N]` field, cut at its first NUL.
fn cstr_at(b: &[u8], off: usize, n: usize) -> &[u8] {
    let field = off
        .checked_add(n)
        .and_then(|end| b.get(off..end))
        .unwrap_or(&[]);
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    &field[..end]
}

/// Rounds up to a multiple of 8, `None` on overflow.
pub fn pad8(n: u64) -> Option<u64> {
    n.checked_add(7).map(|v| v & !7)
}

/// Lossy UTF-8 view of a kernel string.
pub fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

// ------------------------------------------------------------------ types

/// The common record header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub type_: u16,
    /// Header plus body, a multiple of 8.
    pub len: u32,
    pub seq: u64,
    /// CLOCK_BOOTTIME.
    pub time_ns: u64,
    pub event_id: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hello<'a> {
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
    /// `uname -r`, without its NUL.
    pub release: &'a [u8],
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Breach<'a> {
    pub watch_id: u64,
    pub value: i64,
    pub threshold: i64,
    pub addr: u64,
    pub interval_ns: u64,
    pub owner_pid: i32,
    pub target_pid: i32,
    pub watch_flags: u32,
    pub length: u32,
    pub name: &'a [u8],
    pub ksym: &'a [u8],
    /// The watch's trigger extension; all zero from a module before it
    /// (a BREACH record of [`BREACH_SIZE_V1`] bytes).
    pub trigger: BreachTrigger,
}

/// The trigger fields of a BREACH record, as the module sent them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreachTrigger {
    pub consecutive: u32,
    /// Meaningful with `VMON_WATCH_REARM` in the watch flags.
    pub rearm: i64,
    /// Non-zero with `VMON_WATCH_RATE` in the watch flags.
    pub rate_window_ns: u64,
}

/// The fixed part of a TASK record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskFixed<'a> {
    pub pid: i32,
    pub tgid: i32,
    pub state: u32,
    pub cpu: i32,
    pub flags: u32,
    pub cgroup_id: u64,
    pub start_boottime_ns: u64,
    pub user_ip: u64,
    pub user_sp: u64,
    pub user_bp: u64,
    pub comm: &'a [u8],
}

/// A borrowed array of little-endian `u64`s (possibly unaligned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct U64s<'a> {
    bytes: &'a [u8],
}

impl<'a> U64s<'a> {
    /// `bytes.len()` must be a multiple of 8; a tail is ignored.
    pub fn new(bytes: &'a [u8]) -> Self {
        let n = bytes.len() / 8 * 8;
        U64s { bytes: &bytes[..n] }
    }
    pub fn len(&self) -> usize {
        self.bytes.len() / 8
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    pub fn get(&self, i: usize) -> Option<u64> {
        let off = i.checked_mul(8)?;
        let s = self.bytes.get(off..off.checked_add(8)?)?;
        Some(u64::from_le_bytes(s.try_into().ok()?))
    }
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u64> + DoubleEndedIterator + 'a {
        self.bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(arr(c, 0)))
    }
    pub fn to_vec(&self) -> Vec<u64> {
        self.iter().collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task<'a> {
    pub fixed: TaskFixed<'a>,
    /// Kernel return addresses, innermost first.
    pub kstack: U64s<'a>,
    /// User frame-pointer chain, innermost first.
    pub ustack: U64s<'a>,
    /// Bytes copied from `user_sp` upwards (without the zero padding).
    pub raw_stack: &'a [u8],
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapEntry<'a> {
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub ino: u64,
    pub dev: u32,
    pub flags: u32,
    pub path: &'a [u8],
    pub build_id: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Maps<'a> {
    pub tgid: i32,
    pub nr: u32,
    pub flags: u32,
    entries: &'a [u8],
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainEntry<'a> {
    pub pid: i32,
    pub start_boottime_ns: u64,
    pub flags: u32,
    pub comm: &'a [u8],
    /// Arguments separated (and possibly terminated) by NUL.
    pub cmdline: &'a [u8],
}

impl<'a> ChainEntry<'a> {
    /// The arguments, split at NUL; a trailing NUL adds no empty argument.
    pub fn args(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let c = self.cmdline;
        let c = c.strip_suffix(&[0]).unwrap_or(c);
        c.split(|&b| b == 0).filter(move |_| !c.is_empty())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain<'a> {
    pub tgid: i32,
    pub nr: u32,
    pub flags: u32,
    entries: &'a [u8],
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventEnd {
    pub nr_tasks: u32,
    pub nr_candidates: u32,
    pub flags: u32,
    pub duration_ns: u64,
}

/// Totals since the module was loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lost {
    pub lost_records: u64,
    pub lost_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    Hello(Hello<'a>),
    Breach(Breach<'a>),
    Task(Task<'a>),
    Maps(Maps<'a>),
    Chain(Chain<'a>),
    EventEnd(EventEnd),
    Lost(Lost),
    /// A type this parser does not know (a newer module); skipped by length.
    Unknown {
        body: &'a [u8],
    },
}

/// One record: its header and its decoded body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub hdr: Header,
    pub body: Body<'a>,
    /// The whole record, header included (for `--dump-raw` and debugging).
    pub bytes: &'a [u8],
}

// --------------------------------------------------------------- entries

/// Iterates the validated entries of a MAPS record.
pub struct MapEntries<'a> {
    rest: &'a [u8],
    left: u32,
}

fn split_entry(rest: &[u8], fixed: usize, var: u64) -> Result<(&[u8], &[u8]), String> {
    if rest.len() < fixed {
        return Err(format!(
            "entry header needs {fixed} bytes, {} left",
            rest.len()
        ));
    }
    let total = pad8(var)
        .and_then(|v| v.checked_add(fixed as u64))
        .ok_or_else(|| "entry length overflows".to_string())?;
    if total > rest.len() as u64 {
        return Err(format!(
            "entry of {total} bytes overruns the record ({} left)",
            rest.len()
        ));
    }
    Ok(rest.split_at(total as usize))
}

fn map_entry(rest: &[u8]) -> Result<(MapEntry<'_>, &[u8]), String> {
    let path_len = u16_at(rest, offset_of!(vmon_map_entry, path_len)) as usize;
    let bid_len = u8_at(rest, offset_of!(vmon_map_entry, build_id_len)) as usize;
    let (entry, next) = split_entry(rest, MAP_ENTRY_SIZE, (path_len + bid_len) as u64)?;
    let var = entry.get(MAP_ENTRY_SIZE..).unwrap_or(&[]);
    let path = var.get(..path_len).unwrap_or(&[]);
    let build_id = var.get(path_len..path_len + bid_len).unwrap_or(&[]);
    Ok((
        MapEntry {
            start: u64_at(entry, offset_of!(vmon_map_entry, start)),
            end: u64_at(entry, offset_of!(vmon_map_entry, end)),
            pgoff: u64_at(entry, offset_of!(vmon_map_entry, pgoff)),
            ino: u64_at(entry, offset_of!(vmon_map_entry, ino)),
            dev: u32_at(entry, offset_of!(vmon_map_entry, dev)),
            flags: u32_at(entry, offset_of!(vmon_map_entry, flags)),
            path,
            build_id,
        },
        next,
    ))
}

impl<'a> Iterator for MapEntries<'a> {
    type Item = MapEntry<'a>;
    fn next(&mut self) -> Option<MapEntry<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated when the record was parsed; an error here cannot happen,
        // and ends the iteration rather than panicking if it did.
        let (e, rest) = map_entry(self.rest).ok()?;
        self.rest = rest;
        Some(e)
    }
}

impl<'a> Maps<'a> {
    pub fn entries(&self) -> MapEntries<'a> {
        MapEntries {
            rest: self.entries,
            left: self.nr,
        }
    }
    pub fn truncated(&self) -> bool {
        self.flags & VMON_LIST_TRUNC != 0
    }
}

pub struct ChainEntries<'a> {
    rest: &'a [u8],
    left: u32,
}

fn chain_entry(rest: &[u8]) -> Result<(ChainEntry<'_>, &[u8]), String> {
    let cmd_len = u32_at(rest, offset_of!(vmon_chain_entry, cmdline_len)) as u64;
    let (entry, next) = split_entry(rest, CHAIN_ENTRY_SIZE, cmd_len)?;
    let cmdline = entry
        .get(CHAIN_ENTRY_SIZE..CHAIN_ENTRY_SIZE + cmd_len as usize)
        .unwrap_or(&[]);
    Ok((
        ChainEntry {
            pid: i32_at(entry, offset_of!(vmon_chain_entry, pid)),
            start_boottime_ns: u64_at(entry, offset_of!(vmon_chain_entry, start_boottime_ns)),
            flags: u32_at(entry, offset_of!(vmon_chain_entry, flags)),
            comm: cstr_at(entry, offset_of!(vmon_chain_entry, comm), VMON_COMM_LEN),
            cmdline,
        },
        next,
    ))
}

impl<'a> Iterator for ChainEntries<'a> {
    type Item = ChainEntry<'a>;
    fn next(&mut self) -> Option<ChainEntry<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (e, rest) = chain_entry(self.rest).ok()?;
        self.rest = rest;
        Some(e)
    }
}

impl<'a> Chain<'a> {
    pub fn entries(&self) -> ChainEntries<'a> {
        ChainEntries {
            rest: self.entries,
            left: self.nr,
        }
    }
    pub fn truncated(&self) -> bool {
        self.flags & VMON_LIST_TRUNC != 0
    }
}

// ----------------------------------------------------------------- parser

fn parse_header(b: &[u8], offset: u64) -> Result<Header, RecordError> {
    if b.len() < HDR_SIZE {
        return Err(RecordError::Truncated {
            offset,
            need: HDR_SIZE as u64,
            have: b.len() as u64,
        });
    }
    let magic = u16_at(b, offset_of!(vmon_rec_hdr, magic));
    if magic != VMON_RECORD_MAGIC {
        return Err(RecordError::BadMagic { offset, magic });
    }
    let len = u32_at(b, offset_of!(vmon_rec_hdr, len));
    if len % 8 != 0 || (len as usize) < HDR_SIZE || len > MAX_RECORD_LEN {
        return Err(RecordError::BadLen {
            offset,
            len,
            min: HDR_SIZE as u32,
        });
    }
    if len as usize > b.len() {
        return Err(RecordError::Truncated {
            offset,
            need: len as u64,
            have: b.len() as u64,
        });
    }
    Ok(Header {
        type_: u16_at(b, offset_of!(vmon_rec_hdr, type_)),
        len,
        seq: u64_at(b, offset_of!(vmon_rec_hdr, seq)),
        time_ns: u64_at(b, offset_of!(vmon_rec_hdr, time_ns)),
        event_id: u64_at(b, offset_of!(vmon_rec_hdr, event_id)),
    })
}

fn type_name(t: u16) -> &'static str {
    match t {
        VMON_REC_HELLO => "HELLO",
        VMON_REC_BREACH => "BREACH",
        VMON_REC_TASK => "TASK",
        VMON_REC_MAPS => "MAPS",
        VMON_REC_CHAIN => "CHAIN",
        VMON_REC_EVENT_END => "EVENT_END",
        VMON_REC_LOST => "LOST",
        _ => "unknown",
    }
}

fn min_len(t: u16) -> usize {
    match t {
        VMON_REC_HELLO => HELLO_SIZE,
        VMON_REC_BREACH => BREACH_SIZE_V1,
        VMON_REC_TASK => TASK_SIZE,
        VMON_REC_MAPS => MAPS_SIZE,
        VMON_REC_CHAIN => CHAIN_SIZE,
        VMON_REC_EVENT_END => EVENT_END_SIZE,
        VMON_REC_LOST => LOST_SIZE,
        _ => HDR_SIZE,
    }
}

fn parse_body<'a>(t: u16, r: &'a [u8]) -> Result<Body<'a>, String> {
    if r.len() < min_len(t) {
        return Err(format!(
            "{} bytes, shorter than its fixed part of {}",
            r.len(),
            min_len(t)
        ));
    }
    Ok(match t {
        VMON_REC_HELLO => Body::Hello(Hello {
            abi_version: u32_at(r, offset_of!(vmon_rec_hello, abi_version)),
            record_version: u32_at(r, offset_of!(vmon_rec_hello, record_version)),
            def_interval_ns: u64_at(r, offset_of!(vmon_rec_hello, def_interval_ns)),
            min_interval_ns: u64_at(r, offset_of!(vmon_rec_hello, min_interval_ns)),
            dump_reset_sec: u32_at(r, offset_of!(vmon_rec_hello, dump_reset_sec)),
            kstack_max: u32_at(r, offset_of!(vmon_rec_hello, kstack_max)),
            ustack_max: u32_at(r, offset_of!(vmon_rec_hello, ustack_max)),
            raw_stack_bytes: u32_at(r, offset_of!(vmon_rec_hello, raw_stack_bytes)),
            buffer_bytes: u64_at(r, offset_of!(vmon_rec_hello, buffer_bytes)),
            boot_realtime_ns: u64_at(r, offset_of!(vmon_rec_hello, boot_realtime_ns)),
            release: cstr_at(r, offset_of!(vmon_rec_hello, release), 65),
        }),
        VMON_REC_BREACH => Body::Breach(Breach {
            watch_id: u64_at(r, offset_of!(vmon_rec_breach, watch_id)),
            value: i64_at(r, offset_of!(vmon_rec_breach, value)),
            threshold: i64_at(r, offset_of!(vmon_rec_breach, threshold)),
            addr: u64_at(r, offset_of!(vmon_rec_breach, addr)),
            interval_ns: u64_at(r, offset_of!(vmon_rec_breach, interval_ns)),
            owner_pid: i32_at(r, offset_of!(vmon_rec_breach, owner_pid)),
            target_pid: i32_at(r, offset_of!(vmon_rec_breach, target_pid)),
            watch_flags: u32_at(r, offset_of!(vmon_rec_breach, watch_flags)),
            length: u32_at(r, offset_of!(vmon_rec_breach, length)),
            name: cstr_at(r, offset_of!(vmon_rec_breach, name), VMON_NAME_LEN),
            ksym: cstr_at(r, offset_of!(vmon_rec_breach, ksym), VMON_KSYM_LEN),
            // arr() reads zeros past a shorter record's end
            trigger: BreachTrigger {
                consecutive: u32_at(r, offset_of!(vmon_rec_breach, consecutive)),
                rearm: i64_at(r, offset_of!(vmon_rec_breach, rearm)),
                rate_window_ns: u64_at(r, offset_of!(vmon_rec_breach, rate_window_ns)),
            },
        }),
        VMON_REC_TASK => Body::Task(parse_task(r)?),
        VMON_REC_MAPS => {
            let nr = u32_at(r, offset_of!(vmon_rec_maps, nr));
            let entries = r.get(MAPS_SIZE..).unwrap_or(&[]);
            let mut rest = entries;
            for i in 0..nr {
                rest = map_entry(rest)
                    .map_err(|e| format!("entry {i} of {nr}: {e}"))?
                    .1;
            }
            Body::Maps(Maps {
                tgid: i32_at(r, offset_of!(vmon_rec_maps, tgid)),
                nr,
                flags: u32_at(r, offset_of!(vmon_rec_maps, flags)),
                entries,
            })
        }
        VMON_REC_CHAIN => {
            let nr = u32_at(r, offset_of!(vmon_rec_chain, nr));
            let entries = r.get(CHAIN_SIZE..).unwrap_or(&[]);
            let mut rest = entries;
            for i in 0..nr {
                rest = chain_entry(rest)
                    .map_err(|e| format!("entry {i} of {nr}: {e}"))?
                    .1;
            }
            Body::Chain(Chain {
                tgid: i32_at(r, offset_of!(vmon_rec_chain, tgid)),
                nr,
                flags: u32_at(r, offset_of!(vmon_rec_chain, flags)),
                entries,
            })
        }
        VMON_REC_EVENT_END => Body::EventEnd(EventEnd {
            nr_tasks: u32_at(r, offset_of!(vmon_rec_event_end, nr_tasks)),
            nr_candidates: u32_at(r, offset_of!(vmon_rec_event_end, nr_candidates)),
            flags: u32_at(r, offset_of!(vmon_rec_event_end, flags)),
            duration_ns: u64_at(r, offset_of!(vmon_rec_event_end, duration_ns)),
        }),
        VMON_REC_LOST => Body::Lost(Lost {
            lost_records: u64_at(r, offset_of!(vmon_rec_lost, lost_records)),
            lost_bytes: u64_at(r, offset_of!(vmon_rec_lost, lost_bytes)),
        }),
        _ => Body::Unknown {
            body: r.get(HDR_SIZE..).unwrap_or(&[]),
        },
    })
}

fn parse_task(r: &[u8]) -> Result<Task<'_>, String> {
    let nk = u16_at(r, offset_of!(vmon_rec_task, nr_kstack)) as u64;
    let nu = u16_at(r, offset_of!(vmon_rec_task, nr_ustack)) as u64;
    let raw_len = u32_at(r, offset_of!(vmon_rec_task, raw_stack_len)) as u64;
    // u16 counts and a u32 length cannot overflow u64 arithmetic.
    let k_end = TASK_SIZE as u64 + nk * 8;
    let u_end = k_end + nu * 8;
    let need = u_end + pad8(raw_len).unwrap_or(u64::MAX);
    if need > r.len() as u64 {
        return Err(format!(
            "{nk} kernel frames, {nu} user frames and {raw_len} raw stack bytes need {need} \
             bytes, the record has {}",
            r.len()
        ));
    }
    let (k_end, u_end, raw_end) = (k_end as usize, u_end as usize, (u_end + raw_len) as usize);
    Ok(Task {
        fixed: TaskFixed {
            pid: i32_at(r, offset_of!(vmon_rec_task, pid)),
            tgid: i32_at(r, offset_of!(vmon_rec_task, tgid)),
            state: u32_at(r, offset_of!(vmon_rec_task, state)),
            cpu: i32_at(r, offset_of!(vmon_rec_task, cpu)),
            flags: u32_at(r, offset_of!(vmon_rec_task, flags)),
            cgroup_id: u64_at(r, offset_of!(vmon_rec_task, cgroup_id)),
            start_boottime_ns: u64_at(r, offset_of!(vmon_rec_task, start_boottime_ns)),
            user_ip: u64_at(r, offset_of!(vmon_rec_task, user_ip)),
            user_sp: u64_at(r, offset_of!(vmon_rec_task, user_sp)),
            user_bp: u64_at(r, offset_of!(vmon_rec_task, user_bp)),
            comm: cstr_at(r, offset_of!(vmon_rec_task, comm), VMON_COMM_LEN),
        },
        kstack: U64s::new(r.get(TASK_SIZE..k_end).unwrap_or(&[])),
        ustack: U64s::new(r.get(k_end..u_end).unwrap_or(&[])),
        raw_stack: r.get(u_end..raw_end).unwrap_or(&[]),
    })
}

/// Parses the record at the start of `b`; `offset` is its position in the
/// stream, used in errors. Returns the record and its length.
pub fn parse_record(b: &[u8], offset: u64) -> Result<Record<'_>, RecordError> {
    let hdr = parse_header(b, offset)?;
    let bytes = b.get(..hdr.len as usize).unwrap_or(&[]);
    let body = parse_body(hdr.type_, bytes).map_err(|detail| RecordError::BadBody {
        offset,
        kind: type_name(hdr.type_),
        detail,
    })?;
    Ok(Record { hdr, body, bytes })
}

/// Iterates the records of a buffer. After the first error it ends; see
/// [`Records::offset`] for where, and [`find_next_record`] to skip garbage.
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    done: bool,
}

impl<'a> Records<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_base(buf, 0)
    }
    /// `base` is the stream offset of `buf[0]`, so errors name stream offsets.
    pub fn with_base(buf: &'a [u8], base: u64) -> Self {
        Records {
            buf,
            pos: 0,
            base,
            done: false,
        }
    }
    /// Bytes of `buf` consumed by the records returned so far.
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, RecordError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        match parse_record(rest, self.base + self.pos as u64) {
            Ok(r) => {
                self.pos += r.hdr.len as usize;
                Some(Ok(r))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The next 8-byte aligned offset after `from` where a plausible record
/// header starts (known type, sane length that fits), for skipping garbage.
pub fn find_next_record(buf: &[u8], from: usize) -> Option<usize> {
    let mut off = (from / 8 + 1).checked_mul(8)?;
    while off.checked_add(HDR_SIZE)? <= buf.len() {
        let b = &buf[off..];
        let ty = u16_at(b, 2);
        if u16_at(b, 0) == VMON_RECORD_MAGIC
            && (VMON_REC_HELLO..=VMON_REC_LOST).contains(&ty)
            && parse_record(b, 0).is_ok()
        {
            return Some(off);
        }
        off += 8;
    }
    None
}
