//! `vmon-kabi`: the vmon kernel module's ABI in Rust, and a safe watch API.
//!
//! - [`abi`]: `#[repr(C)]` mirror of `kmod/include/uapi/vmon.h` (checked
//!   against the header by a test that compiles it).
//! - [`records`]: zero-copy parser of the record stream the device delivers.
//! - [`encode`]: builds record streams, for tests and synthetic captures.
//! - [`watch`]: [`Watcher`], [`Watch`]: register watches from Rust.
//!
//! ```no_run
//! use std::sync::atomic::{AtomicI32, Ordering};
//! use vmon_kabi::{Threshold, Watcher};
//! static QUEUE: AtomicI32 = AtomicI32::new(0);
//! let w = Watcher::open()?;
//! let watch = w.watch(&QUEUE, "queue", Threshold::Above(100), None)?;
//! QUEUE.store(101, Ordering::Relaxed); // the module dumps R and D tasks
//! drop(watch);
//! # Ok::<(), vmon_kabi::WatchError>(())
//! ```

pub mod abi;
pub mod encode;
pub mod records;
pub mod watch;

pub use encode::Encoder;
pub use records::{Body, Record, RecordError, Records};
pub use watch::{Threshold, Trigger, Watch, WatchError, WatchId, WatchSpec, Watchable, Watcher};
