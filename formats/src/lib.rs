//! `vmon-format`: the `.vmt` capture format. See `SPEC.md`.
//!
//! Write with [`Writer`] (streamed) or [`write_capture`]; read with
//! [`VmtFile::open`], then either [`VmtFile::decode`] (the whole capture in
//! memory) or [`VmtFile::tables`] and [`Tables::samples`], which streams the
//! task samples block by block as columns, without materialising them.

pub mod chunk;
mod codec;
mod container;
mod error;
pub mod model;
mod reader;
mod samples;
mod stream;
mod tables;
mod unpack;
pub mod varint;
mod writer;

pub use container::ChunkInfo;
pub use error::{Error, Result, Warning};
pub use model::*;
pub use reader::{Decoded, Tables, VmtFile};
pub use samples::{SampleBlock, SampleReport, BLOCK};
pub use stream::SampleStream;
pub use writer::{
    write_capture, write_capture_with, Compression, SampleEncoding, Writer, WriterOptions,
};
