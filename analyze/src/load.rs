//! Reading `.vmt` inputs, with the reader's warnings kept for the report.

use anyhow::{Context, Result};

use crate::ingest::LoadedInput;

/// Opens and decodes one capture. Damage the reader stepped over becomes
/// warnings; a file that cannot be read at all (not a capture, a newer
/// format version) is an error with the reader's explanation.
pub fn load(path: &str) -> Result<LoadedInput> {
    let file = vmon_format::VmtFile::open(path).with_context(|| format!("reading {path}"))?;
    let decoded = file
        .decode_with_warnings()
        .with_context(|| format!("decoding {path}"))?;
    let mut warnings: Vec<String> = decoded.warnings.iter().map(|w| w.to_string()).collect();
    let c = &decoded.capture;
    if !warnings.is_empty() {
        warnings.push(format!(
            "recovered {} breaches and {} task samples despite the damage above",
            c.breaches.len(),
            c.samples.len()
        ));
    }
    Ok(LoadedInput {
        path: path.to_string(),
        capture: decoded.capture,
        warnings,
    })
}
