//! The container layer of a `.vmt` file: where its chunks are (the footer
//! index, or a linear scan of a file that was not finished), each chunk's
//! payload CRC-checked, and the warnings that name a chunk.

use crate::chunk::*;
use crate::error::Warning;
use crate::samples::ChunkCursor;
use crate::varint::{Cursor, DecodeError};

/// Where a chunk is and what its header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Offset of the chunk header.
    pub offset: u64,
    pub header: ChunkHeader,
}

impl ChunkInfo {
    pub(crate) fn payload_range(&self) -> std::ops::Range<usize> {
        let start = self.offset as usize + CHUNK_HEADER_LEN;
        start..start + self.header.stored_len as usize
    }
}

pub(crate) fn skipped(c: &ChunkInfo, e: DecodeError) -> Warning {
    Warning {
        offset: c.offset,
        chunk_type: Some(c.header.ty),
        message: format!("skipped: {e}"),
    }
}

/// A SAMPLES chunk that failed after `cur.declared - cur.left` samples.
pub(crate) fn skipped_at(c: &ChunkInfo, cur: &ChunkCursor, e: DecodeError) -> Warning {
    let done = cur.declared - cur.left;
    if done == 0 {
        return skipped(c, e);
    }
    Warning {
        offset: c.offset,
        chunk_type: Some(c.header.ty),
        message: format!(
            "skipped after {done} of {} task samples: {e} (the {} after it are lost)",
            cur.declared, cur.left
        ),
    }
}

pub(crate) fn first8(b: &[u8]) -> [u8; 8] {
    let mut m = [0u8; 8];
    for (d, s) in m.iter_mut().zip(b) {
        *d = *s;
    }
    m
}

pub(crate) fn chunk_warning(c: &ChunkInfo, message: String) -> Warning {
    Warning {
        offset: c.offset,
        chunk_type: Some(c.header.ty),
        message,
    }
}

/// The stored payload of `c`, CRC-checked.
pub(crate) fn checked_stored<'d>(
    data: &'d [u8],
    c: &ChunkInfo,
) -> std::result::Result<&'d [u8], Warning> {
    let stored = data
        .get(c.payload_range())
        .ok_or_else(|| chunk_warning(c, "payload runs past the end of the file".into()))?;
    if crc32c::crc32c(stored) != c.header.payload_crc {
        return Err(chunk_warning(
            c,
            format!(
                "payload CRC mismatch: {} bytes corrupt, chunk skipped",
                c.header.stored_len
            ),
        ));
    }
    Ok(stored)
}

/// Locates chunks through the footer; `Err` says why the footer is unusable.
pub(crate) fn read_index(data: &[u8]) -> std::result::Result<Vec<ChunkInfo>, String> {
    let len = data.len();
    if len < FILE_HEADER_LEN + CHUNK_HEADER_LEN + TRAILER_LEN {
        return Err("file too short for a footer".into());
    }
    let t = &data[len - TRAILER_LEN..];
    if t[8..] != TRAILER_MAGIC {
        return Err("no trailer magic at the end".into());
    }
    let mut off8 = [0u8; 8];
    off8.copy_from_slice(&t[..8]);
    let index_off = u64::from_le_bytes(off8);
    let end = (len - TRAILER_LEN) as u64;
    if index_off < FILE_HEADER_LEN as u64 || index_off.saturating_add(CHUNK_HEADER_LEN as u64) > end
    {
        return Err(format!(
            "trailer points to byte {index_off}, outside the file"
        ));
    }
    let hdr = ChunkHeader::parse(&data[index_off as usize..])
        .map_err(|e| format!("index at byte {index_off}: {e}"))?;
    let idx = ChunkInfo {
        offset: index_off,
        header: hdr,
    };
    if hdr.ty != ChunkType::Index as u16 || idx.payload_range().end as u64 != end {
        return Err(format!("no index chunk at byte {index_off}"));
    }
    if hdr.flags & COMPRESSION_MASK != COMPRESSION_NONE || hdr.raw_len != hdr.stored_len {
        return Err(format!(
            "index at byte {index_off} is compressed (never written so)"
        ));
    }
    let payload = checked_stored(data, &idx).map_err(|w| w.message)?;
    let mut c = Cursor::new(payload);
    let n = c.count(2, "index entries").map_err(|e| e.to_string())?;
    let mut chunks = Vec::with_capacity(n);
    let mut off = 0u64;
    let mut expect = FILE_HEADER_LEN as u64;
    for _ in 0..n {
        off = off
            .checked_add(c.u("index offset").map_err(|e| e.to_string())?)
            .ok_or("index offset overflows")?;
        let ty = c.u("index type").map_err(|e| e.to_string())?;
        // Chunks must tile the file from the header to the index.
        if off != expect || off + CHUNK_HEADER_LEN as u64 > index_off {
            return Err(format!(
                "index entry at byte {off} does not follow the previous chunk"
            ));
        }
        let h = ChunkHeader::parse(&data[off as usize..])
            .map_err(|e| format!("chunk at byte {off}: {e}"))?;
        if h.ty as u64 != ty {
            return Err(format!(
                "index says type {ty} at byte {off}, chunk says {}",
                h.ty
            ));
        }
        let info = ChunkInfo {
            offset: off,
            header: h,
        };
        expect = info.payload_range().end as u64;
        if expect > index_off {
            return Err(format!("chunk at byte {off} overlaps the index"));
        }
        chunks.push(info);
    }
    if expect != index_off {
        return Err(format!("bytes {expect}..{index_off} are not indexed"));
    }
    Ok(chunks)
}

/// Finds chunks by walking headers from the file header on; resynchronises
/// on the next valid chunk header after damage. Returns chunks and bytes lost.
pub(crate) fn scan(data: &[u8], warnings: &mut Vec<Warning>) -> (Vec<ChunkInfo>, u64) {
    let mut chunks = Vec::new();
    let mut lost = 0u64;
    let mut pos = FILE_HEADER_LEN;
    let len = data.len();
    while pos < len {
        match ChunkHeader::parse(&data[pos..]) {
            Ok(h) => {
                let info = ChunkInfo {
                    offset: pos as u64,
                    header: h,
                };
                let end = info.payload_range().end;
                if end > len {
                    let got = len - pos - CHUNK_HEADER_LEN;
                    let index = h.ty == ChunkType::Index as u16;
                    warnings.push(Warning {
                        offset: pos as u64,
                        chunk_type: Some(h.ty),
                        message: if index {
                            "file ends inside the footer index: no data lost".to_string()
                        } else {
                            format!(
                                "file ends inside this chunk ({got} of {} payload bytes): {} bytes lost",
                                h.stored_len,
                                len - pos
                            )
                        },
                    });
                    if !index {
                        lost += (len - pos) as u64;
                    }
                    break;
                }
                if h.ty == ChunkType::Index as u16 {
                    // The footer index is not data; what may follow it is
                    // (part of) the trailer.
                    if len - end <= TRAILER_LEN {
                        break;
                    }
                } else {
                    chunks.push(info);
                }
                pos = end;
            }
            Err(_)
                if len - pos < CHUNK_HEADER_LEN
                    && data[pos..].iter().zip(&CHUNK_MAGIC).all(|(a, b)| a == b) =>
            {
                warnings.push(Warning {
                    offset: pos as u64,
                    chunk_type: None,
                    message: format!("file ends inside a chunk header: {} bytes lost", len - pos),
                });
                lost += (len - pos) as u64;
                break;
            }
            Err(why) => {
                let next = find_next_header(data, pos + 1);
                let skipped = next.unwrap_or(len) - pos;
                warnings.push(Warning {
                    offset: pos as u64,
                    chunk_type: None,
                    message: format!(
                        "{why}: {skipped} bytes skipped{}",
                        match next {
                            Some(n) => format!(", resuming at the chunk at byte {n}"),
                            None => " to the end of the file".into(),
                        }
                    ),
                });
                lost += skipped as u64;
                match next {
                    Some(n) => pos = n,
                    None => break,
                }
            }
        }
    }
    (chunks, lost)
}

pub(crate) fn find_next_header(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 4 <= data.len() {
        let rel = data[i..].windows(4).position(|w| w == CHUNK_MAGIC)?;
        let at = i + rel;
        if ChunkHeader::parse(&data[at..]).is_ok() {
            return Some(at);
        }
        i = at + 1;
    }
    None
}
