//! Reading `.vmt` inputs, with the reader's warnings kept for the report.

use anyhow::{Context, Result};

use crate::ingest::LoadedInput;

/// Opens a capture and decodes its tables; the task samples stay in the
/// file and are streamed during ingest (see `ingest::for_each_sample`), so
/// that no `Vec<TaskSample>` is materialized. Damage the reader stepped over
/// becomes warnings; a file that cannot be read at all (not a capture, a
/// newer format version) is an error with the reader's explanation.
pub fn load(path: &str) -> Result<LoadedInput> {
    let file = vmon_format::VmtFile::open(path).with_context(|| format!("reading {path}"))?;
    let tables = file.tables().with_context(|| format!("decoding {path}"))?;
    let (capture, warnings) = tables.into_parts();
    let warnings: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    Ok(LoadedInput {
        path: path.to_string(),
        capture,
        file: Some(file),
        warnings,
    })
}
