//! Each record's encoder beside its decoder (SPEC.md §5): meta, watch,
//! process, losses, stack nodes, kernel symbols. The writer encodes with
//! `encode_*`, the table decoder decodes with `decode_*`; a change of a
//! record's layout is an edit of one pair in this file. (Task samples, a
//! columnar block, are the pair in `samples.rs`.)

use crate::model::*;
use crate::varint::{put_bytes, put_i, put_u, Cursor, DResult, DecodeError};

pub(crate) fn put_str(b: &mut Vec<u8>, s: &str) {
    put_bytes(b, s.as_bytes());
}

pub(crate) fn encode_meta(b: &mut Vec<u8>, m: &Meta) {
    put_str(b, &m.tool);
    put_str(b, &m.kernel_release);
    put_bytes(b, &m.kernel_build_id);
    put_str(b, &m.hostname);
    put_str(b, &m.boot_id);
    put_u(
        b,
        match m.clock {
            Clock::Boottime => 0,
            Clock::Monotonic => 1,
            Clock::Realtime => 2,
        },
    );
    put_i(b, m.realtime_offset_ns);
    put_u(b, m.start_ns);
    put_u(b, m.end_ns);
    let s = &m.module;
    for v in [
        s.abi_version as u64,
        s.record_version as u64,
        s.def_interval_ns,
        s.min_interval_ns,
        s.dump_reset_sec as u64,
        s.kstack_max as u64,
        s.ustack_max as u64,
        s.raw_stack_bytes as u64,
        s.buffer_bytes,
    ] {
        put_u(b, v);
    }
    put_u(b, m.extra.len() as u64);
    for (k, v) in &m.extra {
        put_str(b, k);
        put_str(b, v);
    }
}

pub(crate) fn encode_watch(b: &mut Vec<u8>, w: &Watch) {
    put_u(b, w.id);
    put_i(b, w.owner_pid as i64);
    put_i(b, w.target_pid as i64);
    put_u(b, w.name.0 as u64);
    put_u(b, w.addr);
    put_u(b, w.size as u64);
    let kernel = matches!(w.kind, WatchKind::Kernel { .. });
    let flags = (w.signed as u64)
        | ((matches!(w.cmp, Comparison::Less) as u64) << 1)
        | ((kernel as u64) << 2);
    put_u(b, flags);
    put_i(b, w.threshold);
    put_u(b, w.interval_ns);
    if let WatchKind::Kernel { symbol } = w.kind {
        put_u(b, symbol.0 as u64);
    }
}

/// One TRIGGERS entry: the trigger of watch `watch` (a WATCHES id).
pub(crate) fn encode_trigger(b: &mut Vec<u8>, watch: u32, t: &WatchTrigger) {
    put_u(b, watch as u64);
    put_u(b, t.consecutive as u64);
    let flags = (t.rearm.is_some() as u64) | ((t.rate_window_ns.is_some() as u64) << 1);
    put_u(b, flags);
    if let Some(r) = t.rearm {
        put_i(b, r);
    }
    if let Some(w) = t.rate_window_ns {
        put_u(b, w);
    }
}

/// One TRIGGERS entry, as [`encode_trigger`] wrote it.
pub(crate) fn decode_trigger(r: &mut Cursor<'_>) -> DResult<(u32, WatchTrigger)> {
    let watch = r.u32("trigger watch")?;
    let consecutive = r.u32("trigger consecutive")?;
    let flags = r.u("trigger flags")?;
    let rearm = if flags & 1 != 0 {
        Some(r.i("trigger rearm")?)
    } else {
        None
    };
    let rate_window_ns = if flags & 2 != 0 {
        Some(r.u("trigger rate window")?)
    } else {
        None
    };
    Ok((
        watch,
        WatchTrigger {
            consecutive,
            rearm,
            rate_window_ns,
        },
    ))
}

pub(crate) fn encode_process(b: &mut Vec<u8>, p: &Process) {
    put_i(b, p.tgid as i64);
    put_u(b, p.start_boottime_ns);
    put_u(
        b,
        (p.mappings_truncated as u64) | ((p.chain_truncated as u64) << 1),
    );
    put_u(b, p.mappings.len() as u64);
    for m in &p.mappings {
        put_u(b, m.start);
        put_u(b, m.end - m.start);
        put_u(b, m.offset);
        put_u(b, m.path.0 as u64);
        put_bytes(b, &m.build_id);
        put_u(b, m.dev);
        put_u(b, m.ino);
    }
    put_u(b, p.chain.len() as u64);
    for a in &p.chain {
        put_i(b, a.pid as i64);
        put_u(b, a.start_boottime_ns);
        put_u(b, a.comm.0 as u64);
        put_u(b, a.cmdline_truncated as u64);
        put_u(b, a.cmdline.len() as u64);
        for c in &a.cmdline {
            put_u(b, c.0 as u64);
        }
    }
}

pub(crate) fn encode_losses(b: &mut Vec<u8>, l: &Losses) {
    put_u(b, l.kernel_records);
    put_u(b, l.kernel_bytes);
    put_u(b, l.writer_records);
    put_u(b, l.notes.len() as u64);
    for n in &l.notes {
        put_str(b, n);
    }
}

/// The LOSSES chunk.
pub(crate) fn decode_losses(r: &mut Cursor<'_>) -> DResult<Losses> {
    let kernel_records = r.u("lost kernel records")?;
    let kernel_bytes = r.u("lost kernel bytes")?;
    let writer_records = r.u("lost writer records")?;
    let n = r.count(1, "loss notes")?;
    let mut notes = Vec::with_capacity(n);
    for _ in 0..n {
        notes.push(String::from_utf8_lossy(r.bytes("loss note")?).into_owned());
    }
    Ok(Losses {
        kernel_records,
        kernel_bytes,
        writer_records,
        notes,
    })
}

/// The deepest stack a file may hold (SPEC §5.6): the kernel records at
/// most 65,535 frames per stack (a u16 count). A deeper parent chain is
/// not a real capture, and walking it per sample would cost memory without
/// bound.
pub const MAX_STACK_DEPTH: u32 = 65_536;

/// Appends `n` STACKS nodes to `st` (which holds the nodes before them).
pub(crate) fn decode_stack_nodes(r: &mut Cursor<'_>, n: usize, st: &mut StackTable) -> DResult<()> {
    let have = st.frame.len();
    let mut prev = 0u64;
    for k in 0..n {
        let id = (have + k) as u64;
        let pd = r.u("stack parent")?;
        let parent = match pd {
            0 => StackId::EMPTY,
            d if d <= id => StackId((id - d) as u32),
            d => return Err(DecodeError::Range("stack parent delta", d)),
        };
        prev = prev.wrapping_add(r.i("stack frame")? as u64);
        st.parent.push(parent);
        st.frame.push(prev);
    }
    Ok(())
}

/// Appends `n` KSYMS entries to `out`.
pub(crate) fn decode_kernel_symbols(
    r: &mut Cursor<'_>,
    n: usize,
    out: &mut Vec<KernelSymbol>,
) -> DResult<()> {
    let mut addr = 0u64;
    for _ in 0..n {
        addr = addr.wrapping_add(r.i("ksym addr")? as u64);
        out.push(KernelSymbol {
            addr,
            kind: r.byte("ksym kind")?,
            name: StrId(r.u32("ksym name")?),
            module: StrId(r.u32("ksym module")?),
        });
    }
    Ok(())
}

pub(crate) fn check_u32_len(n: usize, what: &'static str) -> DResult<()> {
    if n >= u32::MAX as usize {
        return Err(DecodeError::Range(what, n as u64));
    }
    Ok(())
}

pub(crate) fn str_field(r: &mut Cursor<'_>, what: &'static str) -> DResult<String> {
    Ok(String::from_utf8_lossy(r.bytes(what)?).into_owned())
}

pub(crate) fn decode_meta(r: &mut Cursor<'_>) -> DResult<Meta> {
    let mut m = Meta {
        tool: str_field(r, "tool")?,
        kernel_release: str_field(r, "kernel release")?,
        kernel_build_id: r.bytes("kernel build-id")?.to_vec(),
        hostname: str_field(r, "hostname")?,
        boot_id: str_field(r, "boot id")?,
        ..Default::default()
    };
    m.clock = match r.u("clock")? {
        0 => Clock::Boottime,
        1 => Clock::Monotonic,
        2 => Clock::Realtime,
        v => return Err(DecodeError::Range("clock", v)),
    };
    m.realtime_offset_ns = r.i("realtime offset")?;
    m.start_ns = r.u("start")?;
    m.end_ns = r.u("end")?;
    let s = &mut m.module;
    s.abi_version = r.u32("abi version")?;
    s.record_version = r.u32("record version")?;
    s.def_interval_ns = r.u("default interval")?;
    s.min_interval_ns = r.u("min interval")?;
    s.dump_reset_sec = r.u32("dump reset")?;
    s.kstack_max = r.u32("kstack max")?;
    s.ustack_max = r.u32("ustack max")?;
    s.raw_stack_bytes = r.u32("raw stack bytes")?;
    s.buffer_bytes = r.u("buffer bytes")?;
    let n = r.count(2, "meta extra")?;
    for _ in 0..n {
        let k = str_field(r, "extra key")?;
        let v = str_field(r, "extra value")?;
        m.extra.push((k, v));
    }
    // A newer minor version may append fields here; they are ignored.
    Ok(m)
}

pub(crate) fn decode_watch(r: &mut Cursor<'_>) -> DResult<Watch> {
    let id = r.u("watch id")?;
    let owner_pid = r.i32("watch owner")?;
    let target_pid = r.i32("watch target")?;
    let name = StrId(r.u32("watch name")?);
    let addr = r.u("watch addr")?;
    let size = r.u("watch size")?;
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(DecodeError::Range("watch size", size));
    }
    let flags = r.u("watch flags")?;
    let threshold = r.i("watch threshold")?;
    let interval_ns = r.u("watch interval")?;
    let kind = if flags & 4 != 0 {
        WatchKind::Kernel {
            symbol: StrId(r.u32("watch symbol")?),
        }
    } else {
        WatchKind::User
    };
    Ok(Watch {
        id,
        owner_pid,
        target_pid,
        name,
        addr,
        size: size as u8,
        signed: flags & 1 != 0,
        cmp: if flags & 2 != 0 {
            Comparison::Less
        } else {
            Comparison::Greater
        },
        threshold,
        interval_ns,
        kind,
        trigger: WatchTrigger::default(),
    })
}

pub(crate) fn decode_process(r: &mut Cursor<'_>) -> DResult<Process> {
    let tgid = r.i32("process tgid")?;
    let start_boottime_ns = r.u("process start")?;
    let flags = r.u("process flags")?;
    let nm = r.count(7, "mapping count")?;
    let mut mappings = Vec::with_capacity(nm);
    for _ in 0..nm {
        let start = r.u("mapping start")?;
        let len = r.u("mapping length")?;
        let end = start
            .checked_add(len)
            .ok_or(DecodeError::Range("mapping end", len))?;
        mappings.push(Mapping {
            start,
            end,
            offset: r.u("mapping offset")?,
            path: StrId(r.u32("mapping path")?),
            build_id: r.bytes("mapping build-id")?.to_vec(),
            dev: r.u("mapping dev")?,
            ino: r.u("mapping ino")?,
        });
    }
    let na = r.count(5, "chain length")?;
    let mut chain = Vec::with_capacity(na);
    for _ in 0..na {
        let pid = r.i32("ancestor pid")?;
        let start = r.u("ancestor start")?;
        let comm = StrId(r.u32("ancestor comm")?);
        let trunc = r.u("ancestor truncated")? != 0;
        let nc = r.count(1, "cmdline length")?;
        let mut cmdline = Vec::with_capacity(nc);
        for _ in 0..nc {
            cmdline.push(StrId(r.u32("cmdline arg")?));
        }
        chain.push(Ancestor {
            pid,
            start_boottime_ns: start,
            comm,
            cmdline,
            cmdline_truncated: trunc,
        });
    }
    Ok(Process {
        tgid,
        start_boottime_ns,
        mappings,
        mappings_truncated: flags & 1 != 0,
        chain,
        chain_truncated: flags & 2 != 0,
    })
}
