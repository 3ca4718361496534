//! The stream API: task samples decoded block by block from the SAMPLES
//! chunks, through one reused block and one decompression buffer.

use crate::chunk::ChunkType;
use crate::container::{skipped, skipped_at, ChunkInfo};
use crate::error::Warning;
use crate::samples::{
    decode_block, BlockStats, ChunkCursor, SampleBlock, SampleCtx, SampleReport, Scratch,
};
use crate::unpack::Unpacker;

/// The chunk a [`SampleStream`] is in.
pub(crate) struct OpenChunk {
    pub(crate) info: ChunkInfo,
    pub(crate) cur: ChunkCursor,
    /// The payload is the stream's decompression buffer, not the file.
    pub(crate) decompressed: bool,
}

/// Task samples of a file, decoded block by block into one reused
/// [`SampleBlock`]: memory stays at one block plus one decompressed chunk.
/// Samples that fail validation are dropped and counted, damaged chunks
/// skipped with a warning; see [`SampleStream::report`].
///
/// ```no_run
/// # fn main() -> vmon_format::Result<()> {
/// let file = vmon_format::VmtFile::open("capture.vmt")?;
/// let tables = file.tables()?;
/// let mut stream = tables.samples();
/// let mut on_cpu = 0usize;
/// while let Some(block) = stream.next_block() {
///     on_cpu += block.cpu().iter().filter(|&&c| c >= 0).count();
/// }
/// for w in stream.report().warnings() {
///     eprintln!("warning: {w}");
/// }
/// # Ok(()) }
/// ```
pub struct SampleStream<'t> {
    pub(crate) data: &'t [u8],
    pub(crate) chunks: std::slice::Iter<'t, ChunkInfo>,
    pub(crate) ctx: SampleCtx<'t>,
    pub(crate) cur: Option<OpenChunk>,
    pub(crate) unpack: Unpacker,
    pub(crate) block: Box<SampleBlock>,
    pub(crate) scratch: Box<Scratch>,
    pub(crate) stats: BlockStats,
    pub(crate) report: SampleReport,
}

impl<'t> SampleStream<'t> {
    /// A stream over the SAMPLES chunks among `chunks`.
    pub(crate) fn new(data: &'t [u8], chunks: &'t [ChunkInfo], ctx: SampleCtx<'t>) -> Self {
        SampleStream {
            data,
            chunks: chunks.iter(),
            ctx,
            cur: None,
            unpack: Unpacker::default(),
            block: SampleBlock::new_boxed(),
            scratch: Scratch::new_boxed(),
            stats: BlockStats::default(),
            report: SampleReport::default(),
        }
    }

    /// The next block of valid samples (never empty), or `None` at the end.
    pub fn next_block(&mut self) -> Option<&SampleBlock> {
        loop {
            let Some(open) = &mut self.cur else {
                let c = *self.chunks.next()?;
                if !ChunkType::is_samples(c.header.ty) {
                    continue;
                }
                match self.open(&c) {
                    Ok(open) => {
                        self.report.declared += open.cur.declared as u64;
                        self.cur = Some(open);
                    }
                    Err(w) => self.report.chunk_warnings.push(w),
                }
                continue;
            };
            if open.cur.left == 0 {
                self.cur = None;
                continue;
            }
            let p: &[u8] = if open.decompressed {
                &self.unpack.buf
            } else {
                self.data.get(open.info.payload_range()).unwrap_or(&[])
            };
            let res = decode_block(
                &mut open.cur,
                p,
                &self.ctx,
                &mut self.block,
                &mut self.scratch,
                &mut self.stats,
            );
            if let Err(e) = res {
                self.report
                    .chunk_warnings
                    .push(skipped_at(&open.info, &open.cur, e));
                self.cur = None;
                continue;
            }
            if !self.block.is_empty() {
                self.report.kept += self.block.len() as u64;
                return Some(&self.block);
            }
        }
    }

    /// What the stream delivered and stepped over so far; complete once
    /// [`SampleStream::next_block`] returned `None`.
    pub fn report(&self) -> SampleReport {
        let mut r = self.report.clone();
        r.add_stats(self.stats);
        r
    }

    /// CRC-checks and (when compressed) decompresses a chunk into the
    /// reused buffer, and parses its column table.
    pub(crate) fn open(&mut self, c: &ChunkInfo) -> std::result::Result<OpenChunk, Warning> {
        let stored = self.unpack.unpack(self.data, c)?;
        let p = stored.unwrap_or(&self.unpack.buf);
        let cur = ChunkCursor::new(p, c.header.ty).map_err(|e| skipped(c, e))?;
        Ok(OpenChunk {
            info: *c,
            cur,
            decompressed: stored.is_none(),
        })
    }
}
