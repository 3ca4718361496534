//! The decompression layer: a chunk's CRC-checked payload, borrowed from
//! the file or decompressed (zstd, exactly one frame) into a reused buffer.

use std::borrow::Cow;

use crate::chunk::*;
use crate::container::{checked_stored, chunk_warning, ChunkInfo};
use crate::error::Warning;

/// Checks and decompresses chunk payloads, reusing one zstd context and
/// one buffer from chunk to chunk: one code path for every reader, and no
/// context allocation per chunk in files of many small chunks.
#[derive(Default)]
pub(crate) struct Unpacker {
    pub(crate) zctx: Option<zstd::bulk::Decompressor<'static>>,
    pub(crate) buf: Vec<u8>,
}

impl Unpacker {
    /// CRC-checks `c`: `Some(stored)` when its payload is the stored bytes,
    /// `None` when it was decompressed into `self.buf`.
    pub(crate) fn unpack<'d>(
        &mut self,
        data: &'d [u8],
        c: &ChunkInfo,
    ) -> std::result::Result<Option<&'d [u8]>, Warning> {
        let stored = checked_stored(data, c)?;
        match c.header.flags & COMPRESSION_MASK {
            COMPRESSION_NONE if c.header.raw_len == c.header.stored_len => Ok(Some(stored)),
            COMPRESSION_NONE => Err(chunk_warning(
                c,
                "uncompressed chunk with raw length != stored length".into(),
            )),
            COMPRESSION_ZSTD => {
                let z = match &mut self.zctx {
                    Some(z) => z,
                    None => self
                        .zctx
                        .insert(zstd::bulk::Decompressor::new().map_err(|e| {
                            chunk_warning(c, format!("zstd decompressor unavailable: {e}"))
                        })?),
                };
                zstd_exact(z, c, stored, &mut self.buf)?;
                Ok(None)
            }
            other => Err(chunk_warning(
                c,
                format!("unknown compression {other}: chunk skipped (written by a newer vmon?)"),
            )),
        }
    }

    /// The CRC-checked payload of `c`: borrowed from the file, or
    /// decompressed into the reused buffer.
    pub(crate) fn payload<'s, 'd: 's>(
        &'s mut self,
        data: &'d [u8],
        c: &ChunkInfo,
    ) -> std::result::Result<&'s [u8], Warning> {
        Ok(match self.unpack(data, c)? {
            Some(stored) => stored,
            None => &self.buf,
        })
    }

    /// [`Unpacker::payload`], owned when it had to be decompressed.
    pub(crate) fn payload_cow<'d>(
        &mut self,
        data: &'d [u8],
        c: &ChunkInfo,
    ) -> std::result::Result<Cow<'d, [u8]>, Warning> {
        Ok(match self.unpack(data, c)? {
            Some(stored) => Cow::Borrowed(stored),
            None => Cow::Owned(std::mem::take(&mut self.buf)),
        })
    }
}

/// Decompresses `stored` into `out`, which must come out exactly
/// `raw_len` bytes long. The one zstd path of both read paths: the
/// decompressor gets exactly `raw_len` bytes of room (not a reused
/// buffer's larger capacity), so a damaged frame fails the same way in
/// `decode()` and in a sample stream.
pub(crate) fn zstd_exact(
    z: &mut zstd::bulk::Decompressor<'_>,
    c: &ChunkInfo,
    stored: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(), Warning> {
    // raw_len is capped at MAX_PAYLOAD by the header parser.
    let raw_len = c.header.raw_len as usize;
    // One frame (SPEC §2.2): the bulk decompressor would also run a second
    // frame or skip trailing skippable frames, which the spec does not allow.
    match zstd::zstd_safe::find_frame_compressed_size(stored) {
        Ok(n) if n == stored.len() => {}
        Ok(n) => {
            return Err(chunk_warning(
                c,
                format!(
                    "zstd payload is not one frame: the first frame ends at byte {n} of {}",
                    stored.len()
                ),
            ))
        }
        Err(_) => {
            return Err(chunk_warning(
                c,
                "zstd payload does not start with a valid zstd frame".to_string(),
            ))
        }
    }
    out.clear();
    out.resize(raw_len, 0);
    let got = z
        .decompress_to_buffer(stored, out.as_mut_slice())
        .map_err(|e| chunk_warning(c, format!("zstd payload does not decompress: {e}")))?;
    if got != raw_len {
        out.truncate(got);
        return Err(chunk_warning(
            c,
            format!("zstd payload decompressed to {got} bytes, header says {raw_len}"),
        ));
    }
    Ok(())
}
