//! Where records come from (the device or a saved raw stream), and the
//! reader thread that drains it.
//!
//! The module's ring holds a few dumps; converting a read (unwinding the
//! user stacks in it) takes longer than the next dump takes to arrive, so
//! reading and converting on one thread lost records at rates the ring
//! itself could carry. The reader thread only polls and reads, into a
//! bounded queue of buffers (READ_BYTES × QUEUE_DEPTH); when the converter
//! falls that far behind, the reader waits and the ring fills, and the
//! module counts what it drops, as before.

use crate::exit::{Exit, Failure};
use anyhow::{anyhow, Context as _, Result};
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use vmon_kabi::{WatchError, Watcher};

/// Bytes asked for per read.
pub const READ_BYTES: usize = 1 << 20;
/// Reads queued for the converter at most.
pub const QUEUE_DEPTH: usize = 32;
/// A read smaller than this was a trickle: the reader waits BATCH_WAIT
/// before the next poll, so records gather instead of costing a poll and a
/// read each (the module wakes the reader for every record).
const BATCH_BYTES: usize = 256 << 10;
const BATCH_WAIT: Duration = Duration::from_millis(10);
/// How long a poll waits, so that a stop request is seen.
const POLL_MS: i32 = 200;

/// What to read.
#[derive(Clone, Debug)]
pub enum Input {
    /// The module's character device.
    Device(PathBuf),
    /// A raw record stream saved with --dump-raw (`-` for stdin).
    Raw(PathBuf),
}

/// An open source of records.
pub enum Source {
    Device(Watcher),
    Raw(File),
}

/// The outcome of one wait-and-read.
enum Got {
    Bytes(usize),
    Nothing,
    End,
}

impl Source {
    /// Opens `input`, refusing what cannot be a record stream.
    pub fn open(input: &Input) -> Result<Source, Failure> {
        match input {
            Input::Raw(p) => open_raw(p),
            Input::Device(p) => open_device(p),
        }
    }

    /// The watcher, for registering watches (None for a raw stream).
    pub fn watcher(&self) -> Option<&Watcher> {
        match self {
            Source::Device(w) => Some(w),
            Source::Raw(_) => None,
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Source::Device(w) => w.as_fd(),
            Source::Raw(f) => f.as_fd(),
        }
    }

    /// Waits up to POLL_MS for data and reads what is there.
    fn read_some(&self, buf: &mut [u8]) -> Result<Got> {
        let mut pfd = libc::pollfd {
            fd: self.fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, owned, valid for the call.
        if unsafe { libc::poll(&mut pfd, 1, POLL_MS) } <= 0 {
            return Ok(Got::Nothing); // timeout or EINTR
        }
        match self {
            Source::Device(w) => match w.read(buf) {
                Ok(n) => Ok(Got::Bytes(n)),
                Err(WatchError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    Ok(Got::Nothing)
                }
                Err(e) => Err(e.into()),
            },
            Source::Raw(f) => match (&mut &*f).read(buf) {
                Ok(0) => Ok(Got::End),
                Ok(n) => Ok(Got::Bytes(n)),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(Got::Nothing),
                Err(e) => Err(anyhow!(e).context("reading the raw stream")),
            },
        }
    }
}

fn open_raw(p: &Path) -> Result<Source, Failure> {
    if p.as_os_str() == "-" {
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("opening stdin")?;
        return Ok(Source::Raw(File::from(fd)));
    }
    let mut f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Failure::usage(anyhow!(
            "--from-raw {} is a directory, not a raw record stream",
            p.display()
        )));
    }
    let mut magic = [0u8; 8];
    if f.metadata().is_ok_and(|m| m.is_file())
        && f.read_exact(&mut magic).is_ok()
        && magic == vmon_format::chunk::FILE_MAGIC
    {
        return Err(Failure::usage(anyhow!(
            "--from-raw {} is a .vmt capture already, not a raw record stream: analyze it \
             with vmon-analyze",
            p.display()
        )));
    }
    // A fresh descriptor: the conversion reads from the start.
    Ok(Source::Raw(
        File::open(p).with_context(|| format!("opening {}", p.display()))?,
    ))
}

fn open_device(p: &Path) -> Result<Source, Failure> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(m) = std::fs::metadata(p) {
        if !m.file_type().is_char_device() {
            return Err(Failure::new(
                Exit::Error,
                anyhow!(
                    "{} is not a vmon device ({}): pass the character device the \
                     variable_monitor module creates, /dev/variable_monitor",
                    p.display(),
                    if m.is_dir() {
                        "a directory"
                    } else {
                        "not a character device"
                    }
                ),
            ));
        }
    }
    let w = Watcher::open_path(p)?;
    // Non-blocking: poll() decides when to read, so a stop request is seen.
    // SAFETY: fcntl on a descriptor we own, no pointers.
    unsafe {
        let fl = libc::fcntl(w.as_fd().as_raw_fd(), libc::F_GETFL);
        libc::fcntl(w.as_fd().as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    Ok(Source::Device(w))
}

/// What the reader thread hands the converter.
pub enum Chunk {
    /// `buf[..len]` was read, in stream order; give the buffer back with
    /// [`Reader::recycle`].
    Bytes { buf: Vec<u8>, len: usize },
    /// The raw stream ended.
    End,
    /// Reading failed; nothing follows.
    Failed(anyhow::Error),
}

/// The converter's end of the reader thread.
pub struct Reader {
    chunks: mpsc::Receiver<Chunk>,
    spare: mpsc::Sender<Vec<u8>>,
}

/// What the converter waited for.
pub enum Next {
    Chunk(Chunk),
    /// Nothing arrived within the wait.
    Idle,
    /// The reader has stopped and everything it read was delivered.
    Done,
}

impl Reader {
    /// Starts the reader thread in `scope`; it stops when `stop` is set (within
    /// a poll), at the end of a raw stream, on a read error, or when the
    /// Reader is dropped.
    pub fn spawn<'scope, 'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        source: &'env Source,
        stop: &'env AtomicBool,
    ) -> Reader {
        let (tx, chunks) = mpsc::sync_channel(QUEUE_DEPTH);
        let (spare, spares) = mpsc::channel::<Vec<u8>>();
        scope.spawn(move || pump(source, stop, &tx, &spares));
        Reader { chunks, spare }
    }

    /// Waits up to `wait` for the next chunk.
    pub fn next(&self, wait: Duration) -> Next {
        match self.chunks.recv_timeout(wait) {
            Ok(c) => Next::Chunk(c),
            Err(mpsc::RecvTimeoutError::Timeout) => Next::Idle,
            Err(mpsc::RecvTimeoutError::Disconnected) => Next::Done,
        }
    }

    /// Returns a buffer for the reader to fill again.
    pub fn recycle(&self, buf: Vec<u8>) {
        let _ = self.spare.send(buf);
    }
}

fn pump(
    source: &Source,
    stop: &AtomicBool,
    tx: &mpsc::SyncSender<Chunk>,
    spares: &mpsc::Receiver<Vec<u8>>,
) {
    let mut last = 0usize;
    let mut idle: Option<Vec<u8>> = None;
    while !stop.load(Ordering::SeqCst) {
        if (1..BATCH_BYTES).contains(&last) && matches!(source, Source::Device(_)) {
            std::thread::sleep(BATCH_WAIT);
        }
        // Buffers keep their length when recycled: no zeroing per read.
        let mut buf = idle
            .take()
            .or_else(|| spares.try_recv().ok())
            .unwrap_or_else(|| vec![0; READ_BYTES]);
        let chunk = match source.read_some(&mut buf) {
            Ok(Got::Nothing) => {
                last = 0;
                idle = Some(buf);
                continue;
            }
            Ok(Got::Bytes(n)) => {
                last = n;
                Chunk::Bytes { buf, len: n }
            }
            Ok(Got::End) => Chunk::End,
            Err(e) => Chunk::Failed(e),
        };
        let last_chunk = !matches!(chunk, Chunk::Bytes { .. });
        // Blocks while the queue is full; fails once the converter is gone.
        if tx.send(chunk).is_err() || last_chunk {
            return;
        }
    }
}
