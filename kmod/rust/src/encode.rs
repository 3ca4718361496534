//! Builds record streams byte for byte as the kernel module does, so the
//! parser and `vmon-capture` can be tested without the module.

use crate::abi::*;
use crate::records::{Breach, ChainEntry, EventEnd, Hello, Lost, MapEntry, TaskFixed};
use core::mem::offset_of;

/// Appends records to a buffer. Sequence numbers increase by one per record
/// unless [`Encoder::skip`] simulates records the kernel dropped.
#[derive(Clone, Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    next_seq: u64,
    time_ns: u64,
    event_id: u64,
}

fn put(rec: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(dst) = rec.get_mut(off..off + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Copies `s` into a `char[n]` field, cut so a NUL always remains.
fn put_str(rec: &mut [u8], off: usize, n: usize, s: &[u8]) {
    let s = &s[..s.len().min(n.saturating_sub(1))];
    put(rec, off, s);
}

fn padded(len: usize) -> usize {
    (len + 7) & !7
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }
    /// Time stamp (CLOCK_BOOTTIME ns) of the following records.
    pub fn at(&mut self, time_ns: u64) -> &mut Self {
        self.time_ns = time_ns;
        self
    }
    /// Event id of the following records (0 = none).
    pub fn event(&mut self, event_id: u64) -> &mut Self {
        self.event_id = event_id;
        self
    }
    /// Skips `n` sequence numbers, as if the kernel dropped `n` records.
    pub fn skip(&mut self, n: u64) -> &mut Self {
        self.next_seq += n;
        self
    }
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
    /// Appends arbitrary bytes (garbage, or a cut record).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Starts a record of `len` bytes (rounded up to 8) with its header.
    fn begin(&mut self, type_: u16, len: usize) -> &mut [u8] {
        let len = padded(len);
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        let seq = self.next_seq;
        self.next_seq += 1;
        let (time_ns, event_id) = (self.time_ns, self.event_id);
        let rec = &mut self.buf[start..];
        put(
            rec,
            offset_of!(vmon_rec_hdr, magic),
            &VMON_RECORD_MAGIC.to_le_bytes(),
        );
        put(rec, offset_of!(vmon_rec_hdr, type_), &type_.to_le_bytes());
        put(
            rec,
            offset_of!(vmon_rec_hdr, len),
            &(len as u32).to_le_bytes(),
        );
        put(rec, offset_of!(vmon_rec_hdr, seq), &seq.to_le_bytes());
        put(
            rec,
            offset_of!(vmon_rec_hdr, time_ns),
            &time_ns.to_le_bytes(),
        );
        put(
            rec,
            offset_of!(vmon_rec_hdr, event_id),
            &event_id.to_le_bytes(),
        );
        rec
    }

    pub fn hello(&mut self, h: &Hello<'_>) -> &mut Self {
        let r = self.begin(VMON_REC_HELLO, HELLO_SIZE);
        put(
            r,
            offset_of!(vmon_rec_hello, abi_version),
            &h.abi_version.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, record_version),
            &h.record_version.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, def_interval_ns),
            &h.def_interval_ns.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, min_interval_ns),
            &h.min_interval_ns.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, dump_reset_sec),
            &h.dump_reset_sec.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, kstack_max),
            &h.kstack_max.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, ustack_max),
            &h.ustack_max.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, raw_stack_bytes),
            &h.raw_stack_bytes.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, buffer_bytes),
            &h.buffer_bytes.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_hello, boot_realtime_ns),
            &h.boot_realtime_ns.to_le_bytes(),
        );
        put_str(r, offset_of!(vmon_rec_hello, release), 65, h.release);
        self
    }

    pub fn breach(&mut self, b: &Breach<'_>) -> &mut Self {
        let r = self.begin(VMON_REC_BREACH, BREACH_SIZE);
        put(
            r,
            offset_of!(vmon_rec_breach, watch_id),
            &b.watch_id.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_breach, value),
            &b.value.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_breach, threshold),
            &b.threshold.to_le_bytes(),
        );
        put(r, offset_of!(vmon_rec_breach, addr), &b.addr.to_le_bytes());
        put(
            r,
            offset_of!(vmon_rec_breach, interval_ns),
            &b.interval_ns.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_breach, owner_pid),
            &b.owner_pid.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_breach, target_pid),
            &b.target_pid.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_breach, watch_flags),
            &b.watch_flags.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_breach, length),
            &b.length.to_le_bytes(),
        );
        put_str(r, offset_of!(vmon_rec_breach, name), VMON_NAME_LEN, b.name);
        put_str(r, offset_of!(vmon_rec_breach, ksym), VMON_KSYM_LEN, b.ksym);
        let t = &b.trigger;
        put(
            r,
            offset_of!(vmon_rec_breach, consecutive),
            &t.consecutive.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_breach, rearm),
            &t.rearm.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_breach, rate_window_ns),
            &t.rate_window_ns.to_le_bytes(),
        );
        self
    }

    /// A TASK record; stacks are innermost first. Frame counts above
    /// `u16::MAX` are cut (and would be by the kernel's `kstack_max`).
    pub fn task(
        &mut self,
        t: &TaskFixed<'_>,
        kstack: &[u64],
        ustack: &[u64],
        raw: &[u8],
    ) -> &mut Self {
        let kstack = &kstack[..kstack.len().min(u16::MAX as usize)];
        let ustack = &ustack[..ustack.len().min(u16::MAX as usize)];
        let raw = &raw[..raw.len().min(u32::MAX as usize)];
        let len = TASK_SIZE + 8 * (kstack.len() + ustack.len()) + raw.len();
        let r = self.begin(VMON_REC_TASK, len);
        put(r, offset_of!(vmon_rec_task, pid), &t.pid.to_le_bytes());
        put(r, offset_of!(vmon_rec_task, tgid), &t.tgid.to_le_bytes());
        put(r, offset_of!(vmon_rec_task, state), &t.state.to_le_bytes());
        put(r, offset_of!(vmon_rec_task, cpu), &t.cpu.to_le_bytes());
        put(r, offset_of!(vmon_rec_task, flags), &t.flags.to_le_bytes());
        put(
            r,
            offset_of!(vmon_rec_task, nr_kstack),
            &(kstack.len() as u16).to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_task, nr_ustack),
            &(ustack.len() as u16).to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_task, cgroup_id),
            &t.cgroup_id.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_task, start_boottime_ns),
            &t.start_boottime_ns.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_task, user_ip),
            &t.user_ip.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_task, user_sp),
            &t.user_sp.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_task, user_bp),
            &t.user_bp.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_task, raw_stack_len),
            &(raw.len() as u32).to_le_bytes(),
        );
        put_str(r, offset_of!(vmon_rec_task, comm), VMON_COMM_LEN, t.comm);
        let mut off = TASK_SIZE;
        for a in kstack.iter().chain(ustack) {
            put(r, off, &a.to_le_bytes());
            off += 8;
        }
        put(r, off, raw);
        self
    }

    /// A MAPS record. Paths longer than `u16::MAX` and build-ids longer than
    /// 255 bytes are cut, as the fields cannot say more.
    pub fn maps<'m>(&mut self, tgid: i32, flags: u32, entries: &[MapEntry<'m>]) -> &mut Self {
        fn cut<'m>(e: &MapEntry<'m>) -> (&'m [u8], &'m [u8]) {
            (
                &e.path[..e.path.len().min(u16::MAX as usize)],
                &e.build_id[..e.build_id.len().min(u8::MAX as usize)],
            )
        }
        let len = MAPS_SIZE
            + entries
                .iter()
                .map(|e| {
                    let (p, b) = cut(e);
                    MAP_ENTRY_SIZE + padded(p.len() + b.len())
                })
                .sum::<usize>();
        let r = self.begin(VMON_REC_MAPS, len);
        put(r, offset_of!(vmon_rec_maps, tgid), &tgid.to_le_bytes());
        put(
            r,
            offset_of!(vmon_rec_maps, nr),
            &(entries.len() as u32).to_le_bytes(),
        );
        put(r, offset_of!(vmon_rec_maps, flags), &flags.to_le_bytes());
        let mut off = MAPS_SIZE;
        for e in entries {
            let (p, b) = cut(e);
            let s = &mut r[off..];
            put(s, offset_of!(vmon_map_entry, start), &e.start.to_le_bytes());
            put(s, offset_of!(vmon_map_entry, end), &e.end.to_le_bytes());
            put(s, offset_of!(vmon_map_entry, pgoff), &e.pgoff.to_le_bytes());
            put(s, offset_of!(vmon_map_entry, ino), &e.ino.to_le_bytes());
            put(s, offset_of!(vmon_map_entry, dev), &e.dev.to_le_bytes());
            put(s, offset_of!(vmon_map_entry, flags), &e.flags.to_le_bytes());
            put(
                s,
                offset_of!(vmon_map_entry, path_len),
                &(p.len() as u16).to_le_bytes(),
            );
            put(
                s,
                offset_of!(vmon_map_entry, build_id_len),
                &[b.len() as u8],
            );
            put(s, MAP_ENTRY_SIZE, p);
            put(s, MAP_ENTRY_SIZE + p.len(), b);
            off += MAP_ENTRY_SIZE + padded(p.len() + b.len());
        }
        self
    }

    pub fn chain(&mut self, tgid: i32, flags: u32, entries: &[ChainEntry<'_>]) -> &mut Self {
        let len = CHAIN_SIZE
            + entries
                .iter()
                .map(|e| CHAIN_ENTRY_SIZE + padded(e.cmdline.len()))
                .sum::<usize>();
        let r = self.begin(VMON_REC_CHAIN, len);
        put(r, offset_of!(vmon_rec_chain, tgid), &tgid.to_le_bytes());
        put(
            r,
            offset_of!(vmon_rec_chain, nr),
            &(entries.len() as u32).to_le_bytes(),
        );
        put(r, offset_of!(vmon_rec_chain, flags), &flags.to_le_bytes());
        let mut off = CHAIN_SIZE;
        for e in entries {
            let s = &mut r[off..];
            put(s, offset_of!(vmon_chain_entry, pid), &e.pid.to_le_bytes());
            put(
                s,
                offset_of!(vmon_chain_entry, cmdline_len),
                &(e.cmdline.len() as u32).to_le_bytes(),
            );
            put(
                s,
                offset_of!(vmon_chain_entry, start_boottime_ns),
                &e.start_boottime_ns.to_le_bytes(),
            );
            put(
                s,
                offset_of!(vmon_chain_entry, flags),
                &e.flags.to_le_bytes(),
            );
            put_str(s, offset_of!(vmon_chain_entry, comm), VMON_COMM_LEN, e.comm);
            put(s, CHAIN_ENTRY_SIZE, e.cmdline);
            off += CHAIN_ENTRY_SIZE + padded(e.cmdline.len());
        }
        self
    }

    pub fn event_end(&mut self, e: &EventEnd) -> &mut Self {
        let r = self.begin(VMON_REC_EVENT_END, EVENT_END_SIZE);
        put(
            r,
            offset_of!(vmon_rec_event_end, nr_tasks),
            &e.nr_tasks.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_event_end, nr_candidates),
            &e.nr_candidates.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_event_end, flags),
            &e.flags.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_event_end, duration_ns),
            &e.duration_ns.to_le_bytes(),
        );
        self
    }

    pub fn lost(&mut self, l: &Lost) -> &mut Self {
        let r = self.begin(VMON_REC_LOST, LOST_SIZE);
        put(
            r,
            offset_of!(vmon_rec_lost, lost_records),
            &l.lost_records.to_le_bytes(),
        );
        put(
            r,
            offset_of!(vmon_rec_lost, lost_bytes),
            &l.lost_bytes.to_le_bytes(),
        );
        self
    }

    /// A record of a type this crate does not know, with `body` after the header.
    pub fn unknown(&mut self, type_: u16, body: &[u8]) -> &mut Self {
        let r = self.begin(type_, HDR_SIZE + body.len());
        put(r, HDR_SIZE, body);
        self
    }
}
