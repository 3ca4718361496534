//! `vmon-format`: the `.vmt` capture format. See `SPEC.md`.
//!
//! Write with [`Writer`] (streamed) or [`write_capture`]; read with
//! [`VmtFile::open`], then either [`VmtFile::decode`] (the whole capture in
//! memory) or [`VmtFile::tables`] and [`Tables::samples`], which streams the
//! task samples block by block as columns, without materialising them.

pub mod chunk;
mod error;
pub mod model;
mod reader;
mod samples;
pub mod varint;
mod writer;

pub use error::{Error, Result, Warning};
pub use model::*;
pub use reader::{ChunkInfo, Decoded, SampleStream, Tables, VmtFile};
pub use samples::{SampleBlock, SampleReport, BLOCK};
pub use writer::{write_capture, write_capture_with, Compression, Writer, WriterOptions};
