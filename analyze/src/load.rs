//! Reading `.vmt` inputs, with the reader's warnings kept for the report.

use anyhow::{bail, Context, Result};

use vmon_format::{Capture, TaskSample};

/// One decoded input file.
pub struct LoadedInput {
    /// The file as given.
    pub path: String,
    /// The capture; its `samples` are empty when `file` streams them.
    pub capture: Capture,
    /// The opened file, when its task samples are streamed from it (against
    /// `capture`'s tables) rather than held in `capture.samples`.
    pub file: Option<vmon_format::VmtFile<'static>>,
    /// Reader warnings (damage recovered from).
    pub warnings: Vec<String>,
}

impl LoadedInput {
    /// Calls `f` on every task sample in file order: streamed from the file
    /// block by block, or from `capture.samples`. Returns the warnings of
    /// the stream (damaged SAMPLES chunks, dropped samples).
    pub fn for_each_sample(&self, mut f: impl FnMut(&TaskSample)) -> Vec<String> {
        match &self.file {
            Some(file) => {
                let mut stream = file.samples_for(&self.capture);
                while let Some(block) = stream.next_block() {
                    for s in block.iter() {
                        f(&s);
                    }
                }
                stream
                    .report()
                    .warnings()
                    .iter()
                    .map(|w| w.to_string())
                    .collect()
            }
            None => {
                self.capture.samples.iter().for_each(f);
                Vec::new()
            }
        }
    }
}

/// The default limit on what one input may decode to (decompressed chunk
/// payloads): 32 times its size, at least 64 MiB. Real captures stay far
/// below (tables compress 3-5x, task samples about 2x, see BENCHMARKS.md);
/// a zstd bomb does not.
pub fn default_decode_limit(file_len: u64) -> u64 {
    file_len.saturating_mul(32).max(64 << 20)
}

/// Opens a capture and decodes its tables; the task samples stay in the
/// file and are streamed during ingest ([`LoadedInput::for_each_sample`]), so
/// that no `Vec<TaskSample>` is materialized. Damage the reader stepped over
/// becomes warnings; a file that cannot be read at all (not a capture, a
/// newer format version) is an error with the reader's explanation.
pub fn load(path: &str) -> Result<LoadedInput> {
    load_limited(path, None)
}

/// [`load`], refusing an input whose chunks decompress to more than
/// `max_decoded` bytes (default [`default_decode_limit`]).
pub fn load_limited(path: &str, max_decoded: Option<u64>) -> Result<LoadedInput> {
    let file = open(path)?;
    let len = file.file_len();
    let decoded: u64 = file.chunks().iter().map(|c| c.header.raw_len as u64).sum();
    let limit = max_decoded.unwrap_or_else(|| default_decode_limit(len));
    if decoded > limit {
        bail!(
            "{path}: its chunks decompress to {decoded} bytes from a {len}-byte file, over the \
             limit of {limit} bytes: a damaged or hostile file (a zstd bomb), or a capture larger \
             than this limit allows; if it is real, raise the limit with --max-memory SIZE"
        );
    }
    let tables = file.tables().with_context(|| format!("decoding {path}"))?;
    let (mut capture, warnings) = tables.into_parts();
    let ksyms_damaged = warnings
        .iter()
        .any(|w| w.chunk_type == Some(vmon_format::chunk::ChunkType::KernelSymbols as u16));
    let mut warnings = collapse(&warnings);
    if ksyms_damaged && !capture.kernel_symbols.is_empty() {
        // The symbols that survived cannot say where the lost ones were: a
        // frame would take the nearest survivor's name (a wrong name, not
        // an unknown one). Show kernel frames as addresses instead.
        capture.kernel_symbols.clear();
        warnings.push(
            "part of the kernel symbol table was lost to the damage above: kernel frames are \
             shown as [kernel]+0x... rather than named from an incomplete table"
                .into(),
        );
    }
    Ok(LoadedInput {
        path: path.to_string(),
        capture,
        file: Some(file.0),
        warnings,
    })
}

/// An opened input and its size in bytes.
struct Opened(vmon_format::VmtFile<'static>, u64);

impl Opened {
    fn file_len(&self) -> u64 {
        self.1
    }
}

impl std::ops::Deref for Opened {
    type Target = vmon_format::VmtFile<'static>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Opens `path` (`-` for stdin): mapped when it is a regular file, read
/// into memory when it is a pipe or another file that cannot be mapped.
fn open(path: &str) -> Result<Opened> {
    use std::io::Read;
    let read_all = |r: &mut dyn Read| -> Result<Opened> {
        let mut v = Vec::new();
        r.read_to_end(&mut v)
            .with_context(|| format!("reading {path}"))?;
        let len = v.len() as u64;
        // Lives until the process exits, as a mapping would.
        let bytes: &'static [u8] = Box::leak(v.into_boxed_slice());
        let f =
            vmon_format::VmtFile::from_bytes(bytes).with_context(|| format!("reading {path}"))?;
        Ok(Opened(f, len))
    };
    if path == "-" {
        return read_all(&mut std::io::stdin().lock());
    }
    let meta = std::fs::metadata(path).with_context(|| format!("reading {path}"))?;
    if meta.is_dir() {
        bail!("{path} is a directory, not a capture file (pass the .vmt files in it)");
    }
    if meta.is_file() {
        let f = vmon_format::VmtFile::open(path).map_err(|e| match e {
            // The error names the path and the OS error once.
            vmon_format::Error::Open { .. } => anyhow::anyhow!("{e}"),
            e => anyhow::Error::new(e).context(format!("reading {path}")),
        })?;
        return Ok(Opened(f, meta.len()));
    }
    // A pipe, FIFO or character device: cannot be mapped.
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {path}"))?;
    read_all(&mut f)
}

/// The reader's warnings with repeats (same chunk type and message, as from
/// a million damaged or unknown chunks) collapsed into one line with a count.
pub fn collapse(warnings: &[vmon_format::Warning]) -> Vec<String> {
    let mut first: std::collections::HashMap<(Option<u16>, &str), usize> =
        std::collections::HashMap::new();
    // (first warning, count, last offset)
    let mut groups: Vec<(&vmon_format::Warning, u64, u64)> = Vec::new();
    for w in warnings {
        match first.entry((w.chunk_type, w.message.as_str())) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let g = &mut groups[*e.get()];
                g.1 += 1;
                g.2 = w.offset;
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(groups.len());
                groups.push((w, 1, w.offset));
            }
        }
    }
    groups
        .into_iter()
        .map(|(w, n, last)| {
            if n == 1 {
                w.to_string()
            } else {
                format!("{w} (and {} more like it, the last at byte {last})", n - 1)
            }
        })
        .collect()
}
