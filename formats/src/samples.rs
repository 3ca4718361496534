//! Streaming decode of SAMPLES chunks (SPEC.md §5.7): column by column, in
//! blocks of [`BLOCK`] samples that stay in L1/L2 and are reused from block
//! to block, so decoding allocates nothing per sample.

use crate::error::Warning;
use crate::model::*;
use crate::varint::{put_i, put_u, unzigzag, Cursor, DResult, DecodeError};

/// Samples per [`SampleBlock`]: the columns of one block (about 22 KiB) fit
/// in L1/L2 together with the scratch column.
pub const BLOCK: usize = 256;

/// Number of columns of a SAMPLES chunk.
pub(crate) const SAMPLE_COLUMNS: usize = 14;

/// The columns of a SAMPLES chunk, in their order in the chunk (SPEC.md
/// §5.7), named once for the encoder and the decoder below.
pub(crate) mod col {
    /// The breach index, delta from the previous sample.
    pub const BREACH: usize = 0;
    /// The pid, delta from the previous sample.
    pub const PID: usize = 1;
    /// Pid minus tgid.
    pub const PID_MINUS_TGID: usize = 2;
    /// The comm string id.
    pub const COMM: usize = 3;
    /// `flags << 2 | state code`.
    pub const FLAGS_STATE: usize = 4;
    /// The cpu (-1: not on a CPU).
    pub const CPU: usize = 5;
    /// The cgroup id, delta from the previous sample.
    pub const CGROUP: usize = 6;
    /// The kernel stack id + 1 (0: none).
    pub const KSTACK: usize = 7;
    /// The user stack id + 1 (0: none).
    pub const USTACK: usize = 8;
    /// Ip minus the user stack's innermost frame.
    pub const IP: usize = 9;
    /// Sp, delta from the previous sample.
    pub const SP: usize = 10;
    /// Bp minus sp.
    pub const BP: usize = 11;
    /// The raw stack: 0 none, else 1 + zigzag(id - (previous id + 1)).
    pub const RAW_STACK: usize = 12;
    /// The process: 0 none, else 1 + zigzag(id - previous id).
    pub const PROCESS: usize = 13;
}

const _: () = assert!(col::PROCESS + 1 == SAMPLE_COLUMNS);

pub(crate) fn state_code(s: TaskState) -> u64 {
    match s {
        TaskState::Other => 0,
        TaskState::Running => 1,
        TaskState::Uninterruptible => 2,
        TaskState::RtLock => 3,
    }
}

/// Columnar encoding of task samples (SPEC.md §5.7).
pub(crate) fn encode_samples(b: &mut Vec<u8>, samples: &[TaskSample], stack_frames: &[u64]) {
    let mut cols: [Vec<u8>; SAMPLE_COLUMNS] = Default::default();
    let (mut breach, mut pid, mut cgroup, mut sp) = (0u32, 0i32, 0u64, 0u64);
    let (mut raw_next, mut proc_prev) = (0u32, 0u32);
    for s in samples {
        put_i(&mut cols[col::BREACH], s.breach as i64 - breach as i64);
        breach = s.breach;
        put_i(&mut cols[col::PID], s.pid as i64 - pid as i64);
        pid = s.pid;
        put_i(&mut cols[col::PID_MINUS_TGID], s.pid as i64 - s.tgid as i64);
        put_u(&mut cols[col::COMM], s.comm.0 as u64);
        put_u(
            &mut cols[col::FLAGS_STATE],
            ((s.flags as u64) << 2) | state_code(s.state),
        );
        put_i(&mut cols[col::CPU], s.cpu as i64);
        put_i(
            &mut cols[col::CGROUP],
            s.cgroup_id.wrapping_sub(cgroup) as i64,
        );
        cgroup = s.cgroup_id;
        put_u(&mut cols[col::KSTACK], s.kstack.0.wrapping_add(1) as u64);
        put_u(&mut cols[col::USTACK], s.ustack.0.wrapping_add(1) as u64);
        let top = stack_frames.get(s.ustack.0 as usize).copied().unwrap_or(0);
        put_i(&mut cols[col::IP], s.regs.ip.wrapping_sub(top) as i64);
        put_i(&mut cols[col::SP], s.regs.sp.wrapping_sub(sp) as i64);
        sp = s.regs.sp;
        put_i(&mut cols[col::BP], s.regs.bp.wrapping_sub(s.regs.sp) as i64);
        match s.raw_stack {
            None => put_u(&mut cols[col::RAW_STACK], 0),
            Some(r) => {
                put_u(
                    &mut cols[col::RAW_STACK],
                    1 + crate::varint::zigzag(r as i64 - raw_next as i64),
                );
                raw_next = r.wrapping_add(1);
            }
        }
        match s.process {
            None => put_u(&mut cols[col::PROCESS], 0),
            Some(p) => {
                put_u(
                    &mut cols[col::PROCESS],
                    1 + crate::varint::zigzag(p as i64 - proc_prev as i64),
                );
                proc_prev = p;
            }
        }
    }
    put_u(b, samples.len() as u64);
    for c in &cols {
        put_u(b, c.len() as u64);
    }
    for c in &cols {
        b.extend_from_slice(c);
    }
}

/// Sizes of the tables a sample refers to; ids at or above are invalid.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    pub strings: u32,
    pub stacks: u32,
    pub breaches: u32,
    pub raw: u32,
    pub processes: u32,
}

impl Limits {
    pub fn of(cap: &Capture) -> Limits {
        // Table lengths are below 2^32 - 1 (the decoder enforces it); a
        // hand-built capture beyond that only narrows what is accepted.
        let n = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
        Limits {
            strings: n(cap.strings.len()),
            stacks: n(cap.stacks.frame.len()).min(u32::MAX - 1),
            breaches: n(cap.breaches.len()),
            raw: n(cap.raw_stacks.len()),
            processes: n(cap.processes.len()),
        }
    }
}

/// Validated task samples of one block, column by column: element `i` of
/// every column is sample `i`. Only samples that passed validation are here
/// (every id is valid for the tables they were decoded against).
pub struct SampleBlock {
    len: usize,
    breach: [u32; BLOCK],
    pid: [i32; BLOCK],
    tgid: [i32; BLOCK],
    comm: [StrId; BLOCK],
    state: [TaskState; BLOCK],
    flags: [u32; BLOCK],
    cpu: [i32; BLOCK],
    cgroup_id: [u64; BLOCK],
    kstack: [StackId; BLOCK],
    ustack: [StackId; BLOCK],
    ip: [u64; BLOCK],
    sp: [u64; BLOCK],
    bp: [u64; BLOCK],
    raw_stack: [Option<u32>; BLOCK],
    process: [Option<u32>; BLOCK],
}

macro_rules! column_getters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            #[inline]
            pub fn $name(&self) -> &[$ty] {
                &self.$name[..self.len]
            }
        )*
    };
}

impl SampleBlock {
    pub(crate) fn new_boxed() -> Box<SampleBlock> {
        Box::new(SampleBlock {
            len: 0,
            breach: [0; BLOCK],
            pid: [0; BLOCK],
            tgid: [0; BLOCK],
            comm: [StrId(0); BLOCK],
            state: [TaskState::Other; BLOCK],
            flags: [0; BLOCK],
            cpu: [0; BLOCK],
            cgroup_id: [0; BLOCK],
            kstack: [StackId::EMPTY; BLOCK],
            ustack: [StackId::EMPTY; BLOCK],
            ip: [0; BLOCK],
            sp: [0; BLOCK],
            bp: [0; BLOCK],
            raw_stack: [None; BLOCK],
            process: [None; BLOCK],
        })
    }

    /// Number of samples in the block (at most [`BLOCK`]).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    column_getters! {
        /// Index into [`Capture::breaches`].
        breach: u32,
        pid: i32,
        tgid: i32,
        comm: StrId,
        state: TaskState,
        /// [`task_flags`] bits.
        flags: u32,
        cpu: i32,
        cgroup_id: u64,
        kstack: StackId,
        ustack: StackId,
        /// User registers: instruction pointer.
        ip: u64,
        /// User registers: stack pointer.
        sp: u64,
        /// User registers: frame pointer.
        bp: u64,
        /// Index into [`Capture::raw_stacks`].
        raw_stack: Option<u32>,
        /// Index into [`Capture::processes`].
        process: Option<u32>,
    }

    /// Sample `i` as a [`TaskSample`], `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<TaskSample> {
        (i < self.len).then(|| self.at(i))
    }

    /// Sample `i < self.len`.
    #[inline(always)]
    fn at(&self, i: usize) -> TaskSample {
        TaskSample {
            breach: self.breach[i],
            pid: self.pid[i],
            tgid: self.tgid[i],
            comm: self.comm[i],
            state: self.state[i],
            cpu: self.cpu[i],
            cgroup_id: self.cgroup_id[i],
            kstack: self.kstack[i],
            ustack: self.ustack[i],
            regs: UserRegs {
                ip: self.ip[i],
                sp: self.sp[i],
                bp: self.bp[i],
            },
            raw_stack: self.raw_stack[i],
            process: self.process[i],
            flags: self.flags[i],
        }
    }

    /// The samples of the block, in file order, as [`TaskSample`]s.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = TaskSample> + '_ {
        (0..self.len).map(|i| self.at(i))
    }

    /// Keeps the samples whose `bad` flag is 0, in order.
    fn retain(&mut self, bad: &[u8]) {
        let mut w = 0;
        for (r, &b) in bad.iter().enumerate().take(self.len) {
            if b != 0 {
                continue;
            }
            if w != r {
                self.breach[w] = self.breach[r];
                self.pid[w] = self.pid[r];
                self.tgid[w] = self.tgid[r];
                self.comm[w] = self.comm[r];
                self.state[w] = self.state[r];
                self.flags[w] = self.flags[r];
                self.cpu[w] = self.cpu[r];
                self.cgroup_id[w] = self.cgroup_id[r];
                self.kstack[w] = self.kstack[r];
                self.ustack[w] = self.ustack[r];
                self.ip[w] = self.ip[r];
                self.sp[w] = self.sp[r];
                self.bp[w] = self.bp[r];
                self.raw_stack[w] = self.raw_stack[r];
                self.process[w] = self.process[r];
            }
            w += 1;
        }
        self.len = w;
    }
}

/// Where one SAMPLES chunk's decoding stands: column positions and the
/// running values of its delta-coded columns.
#[derive(Clone, Debug)]
pub(crate) struct ChunkCursor {
    /// Samples the chunk declares.
    pub declared: usize,
    /// Samples not decoded yet.
    pub left: usize,
    /// Byte offset of each column's next value in the payload, and its end.
    pos: [usize; SAMPLE_COLUMNS],
    end: [usize; SAMPLE_COLUMNS],
    breach: i64,
    pid: i64,
    cgroup: u64,
    sp: u64,
    raw_next: i64,
    proc_prev: i64,
}

impl ChunkCursor {
    /// Parses the chunk's sample count and column table.
    pub fn new(p: &[u8]) -> DResult<ChunkCursor> {
        let mut hdr = Cursor::new(p);
        let n = hdr.count(SAMPLE_COLUMNS, "sample count")?;
        let mut lens = [0u64; SAMPLE_COLUMNS];
        for l in lens.iter_mut() {
            *l = hdr.u("column length")?;
        }
        let mut at = p.len() - hdr.remaining();
        let mut pos = [0; SAMPLE_COLUMNS];
        let mut end = [0; SAMPLE_COLUMNS];
        for ((s, e), &l) in pos.iter_mut().zip(end.iter_mut()).zip(&lens) {
            let stop = usize::try_from(l)
                .ok()
                .and_then(|l| at.checked_add(l))
                .filter(|&stop| stop <= p.len())
                .ok_or(DecodeError::Eof("sample column"))?;
            *s = at;
            *e = stop;
            at = stop;
        }
        Ok(ChunkCursor {
            declared: n,
            left: n,
            pos,
            end,
            breach: 0,
            pid: 0,
            cgroup: 0,
            sp: 0,
            raw_next: 0,
            proc_prev: 0,
        })
    }
}

/// What sample validation needs from the tables.
#[derive(Clone, Copy)]
pub(crate) struct SampleCtx<'t> {
    pub limits: Limits,
    /// Stack table frames: column 9 (ip) is coded against the user stack's top.
    pub frames: &'t [u64],
}

/// Per-block working memory.
pub(crate) struct Scratch {
    vals: [u64; BLOCK + 8],
    bad: [u8; BLOCK],
}

impl Scratch {
    pub fn new_boxed() -> Box<Scratch> {
        Box::new(Scratch {
            vals: [0; BLOCK + 8],
            bad: [0; BLOCK],
        })
    }
}

/// Counts of one decode, merged over blocks and chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockStats {
    pub bad_refs: u64,
    pub bad_strings: u64,
}

/// One column's values for a block: the column's own bytes when every
/// value is a 1-byte varint (no decode step at all), else decoded words.
enum Vals<'a> {
    Bytes(&'a [u8]),
    Words(&'a [u64]),
}

/// The next `vals.len()` values of column `c`.
#[inline]
fn column<'a>(
    cur: &mut ChunkCursor,
    p: &'a [u8],
    c: usize,
    n: usize,
    vals: &'a mut [u64; BLOCK + 8],
) -> DResult<Vals<'a>> {
    let s = p.get(cur.pos[c]..cur.end[c]).unwrap_or(&[]);
    if let Some(b) = s.get(..n) {
        if b.iter().fold(0u8, |a, &x| a | x) < 0x80 {
            cur.pos[c] += n;
            return Ok(Vals::Bytes(b));
        }
    }
    let used = read_varints(s, vals, n)?;
    cur.pos[c] += used;
    Ok(Vals::Words(&vals[..n]))
}

/// `for (pat, v) in outputs.zip(values) body`, with `v: u64`, for either
/// kind of [`Vals`]: one monomorphic loop each, so both vectorise. `$f` is
/// a flag local to the loop (for `check!`); the expression's value.
macro_rules! each {
    ($vals:expr, $outs:expr, |$pat:pat_param, $v:ident, $f:ident| $body:block) => {{
        #[allow(unused_mut)]
        let mut $f = false;
        match $vals {
            Vals::Bytes(b) => {
                for ($pat, &$v) in $outs.zip(b) {
                    let $v = $v as u64;
                    $body
                }
            }
            Vals::Words(w) => {
                for ($pat, &$v) in $outs.zip(w) {
                    let $v: u64 = $v;
                    $body
                }
            }
        }
        $f
    }};
}

/// Decodes the next `min(left, BLOCK)` samples of the chunk into `blk`,
/// keeping the valid ones. On error `blk` is empty and the cursor unusable.
pub(crate) fn decode_block(
    cur: &mut ChunkCursor,
    p: &[u8],
    ctx: &SampleCtx<'_>,
    blk: &mut SampleBlock,
    sc: &mut Scratch,
    st: &mut BlockStats,
) -> DResult<()> {
    // Validity is first only OR-ed together (which vectorises); a block
    // with an invalid sample, rare, is decoded again marking each one.
    let before = cur.clone();
    if decode_block_with::<false>(cur, p, ctx, blk, sc, st)? {
        return Ok(());
    }
    *cur = before;
    decode_block_with::<true>(cur, p, ctx, blk, sc, st).map(|_| ())
}

/// One pass of [`decode_block`]. Without `MARK`, returns `Ok(false)` and
/// commits nothing when some sample is invalid; with `MARK`, drops those.
#[inline(always)]
fn decode_block_with<const MARK: bool>(
    cur: &mut ChunkCursor,
    p: &[u8],
    ctx: &SampleCtx<'_>,
    blk: &mut SampleBlock,
    sc: &mut Scratch,
    st: &mut BlockStats,
) -> DResult<bool> {
    blk.len = 0;
    let n = cur.left.min(BLOCK);
    let lim = ctx.limits;
    let Scratch { vals, bad } = sc;
    let bad = &mut bad[..n];
    if MARK {
        bad.fill(0);
    }
    let mut any_bad = false;
    // Records that the sample behind `$b` (its `bad` slot) is invalid; the
    // first pass only sets the loop's flag `$f`.
    macro_rules! check {
        ($f:ident, $b:expr, $cond:expr) => {{
            let c: bool = $cond;
            if MARK {
                *$b |= c as u8;
            } else {
                $f |= c;
            }
        }};
    }

    let mut breach = cur.breach;
    any_bad |= each!(
        column(cur, p, col::BREACH, n, vals)?,
        blk.breach.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            breach = breach.wrapping_add(unzigzag(v));
            *o = breach as u32;
            check!(f, b, (breach as u64) >= lim.breaches as u64);
        }
    );
    let mut pid = cur.pid;
    any_bad |= each!(
        column(cur, p, col::PID, n, vals)?,
        blk.pid.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            pid = pid.wrapping_add(unzigzag(v));
            *o = pid as i32;
            check!(f, b, pid as i32 as i64 != pid);
        }
    );
    any_bad |= each!(
        column(cur, p, col::PID_MINUS_TGID, n, vals)?,
        blk.tgid.iter_mut().zip(bad.iter_mut()).zip(&blk.pid),
        |((o, b), &pid), v, f| {
            let tgid = (pid as i64).wrapping_sub(unzigzag(v));
            *o = tgid as i32;
            check!(f, b, tgid as i32 as i64 != tgid);
        }
    );
    let mut unknown = 0u64;
    any_bad |= each!(
        column(cur, p, col::COMM, n, vals)?,
        blk.comm.iter_mut(),
        |o, v, f| {
            let ok = v < lim.strings as u64;
            if MARK {
                unknown += !ok as u64;
                *o = StrId(if ok { v as u32 } else { 0 });
            } else {
                // An unknown comm sends the block to the marking pass.
                *o = StrId(v as u32);
                f |= !ok;
            }
        }
    );
    any_bad |= each!(
        column(cur, p, col::FLAGS_STATE, n, vals)?,
        blk.state
            .iter_mut()
            .zip(blk.flags.iter_mut())
            .zip(bad.iter_mut()),
        |((o, fl), b), v, f| {
            *o = match v & 3 {
                0 => TaskState::Other,
                1 => TaskState::Running,
                2 => TaskState::Uninterruptible,
                _ => TaskState::RtLock,
            };
            *fl = (v >> 2) as u32;
            check!(f, b, v >> 34 != 0);
        }
    );
    any_bad |= each!(
        column(cur, p, col::CPU, n, vals)?,
        blk.cpu.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            let cpu = unzigzag(v);
            *o = cpu as i32;
            check!(f, b, cpu as i32 as i64 != cpu);
        }
    );
    let mut cgroup = cur.cgroup;
    any_bad |= each!(
        column(cur, p, col::CGROUP, n, vals)?,
        blk.cgroup_id.iter_mut(),
        |o, v, f| {
            cgroup = cgroup.wrapping_add(unzigzag(v) as u64);
            *o = cgroup;
        }
    );
    // Two copies of one loop for the kernel and the user stack: folding
    // them into a `for` over both columns measured 4% slower.
    any_bad |= each!(
        column(cur, p, col::KSTACK, n, vals)?,
        blk.kstack.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            // `id + 1`, 0 (empty) wrapping to StackId::EMPTY: valid when
            // at most the number of stack nodes.
            *o = StackId((v as u32).wrapping_sub(1));
            check!(f, b, v > lim.stacks as u64);
        }
    );
    any_bad |= each!(
        column(cur, p, col::USTACK, n, vals)?,
        blk.ustack.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            // `id + 1`, 0 (empty) wrapping to StackId::EMPTY: valid when
            // at most the number of stack nodes.
            *o = StackId((v as u32).wrapping_sub(1));
            check!(f, b, v > lim.stacks as u64);
        }
    );
    any_bad |= each!(
        column(cur, p, col::IP, n, vals)?,
        blk.ip.iter_mut().zip(&blk.ustack),
        |(o, u), v, f| {
            let top = ctx.frames.get(u.0 as usize).copied().unwrap_or(0);
            *o = top.wrapping_add(unzigzag(v) as u64);
        }
    );
    let mut sp = cur.sp;
    any_bad |= each!(
        column(cur, p, col::SP, n, vals)?,
        blk.sp.iter_mut(),
        |o, v, f| {
            sp = sp.wrapping_add(unzigzag(v) as u64);
            *o = sp;
        }
    );
    any_bad |= each!(
        column(cur, p, col::BP, n, vals)?,
        blk.bp.iter_mut().zip(&blk.sp),
        |(o, &sp), v, f| {
            *o = sp.wrapping_add(unzigzag(v) as u64);
        }
    );
    let mut raw_next = cur.raw_next;
    any_bad |= each!(
        column(cur, p, col::RAW_STACK, n, vals)?,
        blk.raw_stack.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            *o = if v == 0 {
                None
            } else {
                let r = raw_next.wrapping_add(unzigzag(v - 1));
                raw_next = r.wrapping_add(1);
                check!(f, b, (r as u64) >= lim.raw as u64);
                Some(r as u32)
            };
        }
    );
    let mut proc_prev = cur.proc_prev;
    any_bad |= each!(
        column(cur, p, col::PROCESS, n, vals)?,
        blk.process.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            *o = if v == 0 {
                None
            } else {
                proc_prev = proc_prev.wrapping_add(unzigzag(v - 1));
                check!(f, b, (proc_prev as u64) >= lim.processes as u64);
                Some(proc_prev as u32)
            };
        }
    );
    if !MARK && any_bad {
        return Ok(false);
    }
    // The block decoded: commit the running values.
    cur.breach = breach;
    cur.pid = pid;
    cur.cgroup = cgroup;
    cur.sp = sp;
    cur.raw_next = raw_next;
    cur.proc_prev = proc_prev;
    cur.left -= n;
    st.bad_strings += unknown;
    blk.len = n;
    if MARK {
        let dropped = bad.iter().map(|&b| b as u64).sum::<u64>();
        st.bad_refs += dropped;
        blk.retain(bad);
    }
    Ok(true)
}

const HIGH: u64 = 0x8080_8080_8080_8080;

/// Decodes `n` LEB128 varints from the front of `col` into `out[..n]`
/// (`out` may be longer: the fast path wants 8 slots of slack); returns
/// the bytes they took. Uses BMI2 (`pext`) where the CPU has it.
#[inline]
fn read_varints(col: &[u8], out: &mut [u64], n: usize) -> DResult<usize> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { read_varints_bmi2(col, out, n) };
    }
    read_varints_with::<false>(col, out, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi1,bmi2,popcnt")]
fn read_varints_bmi2(col: &[u8], out: &mut [u64], n: usize) -> DResult<usize> {
    read_varints_with::<true>(col, out, n)
}

/// A word of 8 bytes at a time: eight 1-byte varints are spread at once;
/// otherwise the varints that end in the word are extracted from its stop
/// bits, branch-free, 4 or 8 at a time, written speculatively into the
/// slack of `out` (its length is at least `n + 8`). The next word starts
/// after the last complete varint, an address computed from the stop bits
/// alone, so the loads run ahead of the extraction. Varints longer than 8
/// bytes and the column's last 7 bytes go one at a time. `PEXT` is only
/// true when inlined into a function compiled for BMI2.
#[inline(always)]
fn read_varints_with<const PEXT: bool>(col: &[u8], out: &mut [u64], n: usize) -> DResult<usize> {
    let mut i = 0;
    let mut next = 0;
    while i < n {
        let Some(w8) = col.get(next..).and_then(|s| s.first_chunk::<8>()) else {
            break;
        };
        let Some(o) = out
            .get_mut(i..i + 8)
            .and_then(|o| <&mut [u64; 8]>::try_from(o).ok())
        else {
            break;
        };
        let w = u64::from_le_bytes(*w8);
        let stops = !w & HIGH;
        if stops == 0 {
            // Longer than 8 bytes (or malformed): the exact decoder.
            let (v, used) = read_one(col.get(next..).unwrap_or(&[]))?;
            o[0] = v;
            i += 1;
            next += used;
            continue;
        }
        if stops == HIGH {
            let b = w.to_le_bytes();
            for (x, &b) in o.iter_mut().zip(&b) {
                *x = b as u64;
            }
            let take = (n - i).min(8);
            i += take;
            next += take;
            continue;
        }
        let found = stops.count_ones() as usize;
        let take = found.min(n - i);
        // Speculative extraction: past the last stop, values are garbage
        // that `take` leaves out.
        let mut s = stops;
        let mut start = 0u32;
        let mut extract = |k: usize, s: &mut u64, start: &mut u32| {
            let end = s.trailing_zeros().wrapping_add(1);
            o[k] = extract7::<PEXT>(w, *start, end);
            *start = end;
            *s &= s.wrapping_sub(1);
        };
        for k in 0..4 {
            extract(k, &mut s, &mut start);
        }
        if found > 4 {
            for k in 4..8 {
                extract(k, &mut s, &mut start);
            }
        }
        i += take;
        // The next word starts after the last varint taken; its address
        // depends on the stop bits only, not on the extraction.
        let last_end = if take == found {
            64 - stops.leading_zeros()
        } else {
            end_of_stop(stops, take)
        };
        next += (last_end / 8) as usize;
    }
    // The column's last few bytes: one varint at a time.
    while i < n {
        let (v, used) = read_one(col.get(next..).unwrap_or(&[]))?;
        if let Some(o) = out.get_mut(i) {
            *o = v;
        }
        i += 1;
        next += used;
    }
    Ok(next)
}

/// The bit just past the `k`-th (1-based) stop bit of `stops`.
#[cold]
fn end_of_stop(mut stops: u64, k: usize) -> u32 {
    for _ in 1..k {
        stops &= stops.wrapping_sub(1);
    }
    stops.trailing_zeros() + 1
}

/// The value of the varint in bits `start..end` of `w` (byte-aligned);
/// garbage, without panicking, for out-of-range bounds.
#[inline(always)]
fn extract7<const PEXT: bool>(w: u64, start: u32, end: u32) -> u64 {
    if PEXT {
        pext7(w, start, end)
    } else {
        let mask = u64::MAX.wrapping_shr(64u32.wrapping_sub(end));
        compact7((w & mask).wrapping_shr(start))
    }
}

/// The value of the varint in bytes `start / 8 .. end / 8` of `w`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn pext7(w: u64, start: u32, end: u32) -> u64 {
    use std::arch::x86_64::{_bzhi_u64, _pext_u64};
    // SAFETY: only reached (PEXT = true) inside `read_varints_bmi2`.
    unsafe { _pext_u64(_bzhi_u64(w, end).wrapping_shr(start), 0x7f7f_7f7f_7f7f_7f7f) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn pext7(w: u64, start: u32, end: u32) -> u64 {
    extract7::<false>(w, start, end)
}

/// Packs the 7-bit groups of a varint's bytes (at most 8, little-endian,
/// high bits ignored) into its value.
#[inline(always)]
fn compact7(x: u64) -> u64 {
    let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    (x & 0x0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4)
}

#[cold]
fn read_one(b: &[u8]) -> DResult<(u64, usize)> {
    let mut c = Cursor::new(b);
    let v = c.u("a sample column")?;
    Ok((v, b.len() - c.remaining()))
}

/// The sample decode's outcome, for one chunk or merged over many.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleReport {
    /// Task samples the chunks declared.
    pub declared: u64,
    /// Task samples delivered.
    pub kept: u64,
    /// Task samples dropped because an id they hold is not in the file, or
    /// their pid, tgid or cpu does not fit an `i32`.
    pub bad_refs: u64,
    /// Task samples whose comm is not in the string table (set to string 0).
    pub bad_strings: u64,
    /// SAMPLES chunks (or their tails) skipped, one warning each.
    pub chunk_warnings: Vec<Warning>,
}

impl SampleReport {
    /// Adds `other` (another part of the same file) to this report.
    pub fn merge(&mut self, other: SampleReport) {
        self.declared += other.declared;
        self.kept += other.kept;
        self.bad_refs += other.bad_refs;
        self.bad_strings += other.bad_strings;
        self.chunk_warnings.extend(other.chunk_warnings);
    }

    /// Every warning: the chunk warnings, then one summary per kind of
    /// sample-level damage.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut w = self.chunk_warnings.clone();
        if self.bad_refs > 0 {
            w.push(Warning {
                offset: 0,
                chunk_type: Some(crate::chunk::ChunkType::Samples as u16),
                message: format!(
                    "dropped {} task samples referring to breaches, stacks, processes or raw \
                     stacks the file does not hold (chunks lost to truncation or corruption)",
                    self.bad_refs
                ),
            });
        }
        if self.bad_strings > 0 {
            w.push(Warning {
                offset: 0,
                chunk_type: Some(crate::chunk::ChunkType::Samples as u16),
                message: format!(
                    "{} task samples had an unknown comm string; set to \"\"",
                    self.bad_strings
                ),
            });
        }
        w
    }

    pub(crate) fn add_stats(&mut self, st: BlockStats) {
        self.bad_refs += st.bad_refs;
        self.bad_strings += st.bad_strings;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::varint::put_u;

    #[test]
    fn read_varints_matches_the_scalar_decoder() {
        // Mixed lengths 1..=10, so every word shape and the tail are hit.
        let mut vals = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..3000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bits = [0, 7, 7, 14, 21, 3, 35, 49, 56, 63, 64][(i % 11) as usize];
            vals.push(if bits == 64 {
                x
            } else {
                x & ((1u64 << bits) - 1)
            });
            if i % 5 < 2 {
                vals.push(i as u64 % 100);
            }
        }
        let mut buf = Vec::new();
        for &v in &vals {
            put_u(&mut buf, v);
        }
        for split in [1usize, 7, 8, 9, 255, 256, 1000] {
            let mut pos = 0;
            let mut got: Vec<u64> = Vec::new();
            for chunk in vals.chunks(split) {
                let k = chunk.len();
                let mut runs = Vec::new();
                for slack in [0, 8] {
                    let mut out = vec![0; k + slack];
                    let used = read_varints(&buf[pos..], &mut out, k).unwrap();
                    runs.push((used, out[..k].to_vec()));
                    let mut out = vec![0; k + slack];
                    let used = read_varints_with::<false>(&buf[pos..], &mut out, k).unwrap();
                    runs.push((used, out[..k].to_vec()));
                }
                assert!(runs.iter().all(|r| *r == runs[0]), "split {split}");
                pos += runs[0].0;
                got.extend(&runs[0].1);
            }
            assert_eq!(got, vals, "split {split}");
            assert_eq!(pos, buf.len());
        }
        // One value short: the column ends inside the block.
        let mut out = vec![0; vals.len() + 9];
        assert_eq!(
            read_varints(&buf, &mut out, vals.len() + 1),
            Err(DecodeError::Eof("a sample column"))
        );
        // An 11-byte varint is refused wherever it sits.
        for pad in 0..10 {
            let mut b = vec![1u8; pad];
            b.extend_from_slice(&[0xff; 10]);
            b.push(0);
            b.extend_from_slice(&[0; 8]);
            let mut out = vec![0; pad + 9];
            assert_eq!(
                read_varints(&b, &mut out, pad + 1),
                Err(DecodeError::Overlong("a sample column")),
                "pad {pad}"
            );
        }
    }

    #[test]
    fn compact7_packs_groups() {
        assert_eq!(compact7(0x7f), 0x7f);
        assert_eq!(compact7(0x01_80), 0x80);
        assert_eq!(compact7(0x7f_ff_ff), (1 << 21) - 1);
        assert_eq!(compact7(0x7fff_ffff_ffff_ffff), (1 << 56) - 1);
    }
}
