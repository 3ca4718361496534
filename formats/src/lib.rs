//! `vmon-format`: the `.vmt` capture format. See `SPEC.md`.
//!
//! Write with [`Writer`] (streamed) or [`write_capture`]; read with
//! [`VmtFile::open`] and [`VmtFile::decode`].

pub mod chunk;
mod error;
pub mod model;
mod reader;
pub mod varint;
mod writer;

pub use error::{Error, Result, Warning};
pub use model::*;
pub use reader::{ChunkInfo, Decoded, VmtFile};
pub use writer::{write_capture, write_capture_with, Compression, Writer, WriterOptions};
