use std::path::PathBuf;

/// Errors that stop a file from being read or written at all. Damage a
/// reader can step over is a [`Warning`] instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the capture failed: {0} (check free disk space and permissions)")]
    Write(#[from] std::io::Error),
    #[error(
        "not a .vmt capture: the file is {len} bytes, shorter than the 16-byte header \
         (the capture was killed before it wrote anything; capture again)"
    )]
    TooShort { len: u64 },
    #[error(
        "not a .vmt capture: bytes 0..8 are {found:02x?}, expected the magic 89 56 4d 54 0d 0a 1a 0a \
         (pass a file written by vmon-capture or vmon-gen)"
    )]
    BadMagic { found: [u8; 8] },
    #[error(
        "the capture has format version {major}.{minor}, newer than this reader's {supported}.x: \
         upgrade vmon (vmon-format) to read it"
    )]
    NewerMajor {
        major: u16,
        minor: u16,
        supported: u16,
    },
    #[error(
        "not a valid .vmt capture: format version 0.{minor} does not exist (versions start at \
         1.0); the file header is damaged or the file was not written by vmon"
    )]
    ZeroMajor { minor: u16 },
    #[error("invalid capture data given to the writer: {0}")]
    InvalidInput(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something the reader stepped over: what, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Byte offset in the file the warning is about.
    pub offset: u64,
    /// The chunk type, when the warning is about a chunk.
    pub chunk_type: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.chunk_type {
            Some(t) => write!(
                f,
                "byte {} ({} chunk): {}",
                self.offset,
                crate::chunk::type_name(t),
                self.message
            ),
            None => write!(f, "byte {}: {}", self.offset, self.message),
        }
    }
}
