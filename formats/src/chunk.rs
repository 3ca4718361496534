//! Byte layout of the file header, chunk headers and the trailer (SPEC.md §2–§4).

/// First 8 bytes of every `.vmt` file (PNG-style: catches 7-bit and
/// newline-translating transfers).
pub const FILE_MAGIC: [u8; 8] = *b"\x89VMT\r\n\x1a\n";
pub const FILE_HEADER_LEN: usize = 16;
/// The major version this crate reads and writes; a reader refuses a newer one.
pub const VERSION_MAJOR: u16 = 1;
/// The minor version this crate writes; a reader reads what it knows of a newer one.
pub const VERSION_MINOR: u16 = 2;
/// The minor version of a file whose task samples are SAMPLES chunks
/// (what [`crate::SampleEncoding::Plain`] writes): 1.1 readers read it all.
pub const VERSION_MINOR_PLAIN_SAMPLES: u16 = 1;

pub const CHUNK_MAGIC: [u8; 4] = *b"VMTC";
pub const CHUNK_HEADER_LEN: usize = 28;
/// Upper bound of a chunk's stored and decompressed payload; bounds what
/// a reader allocates per chunk.
pub const MAX_PAYLOAD: u32 = 64 << 20;

pub const TRAILER_MAGIC: [u8; 8] = *b"VMTINDEX";
pub const TRAILER_LEN: usize = 16;

/// Compression of a chunk payload: bits 0..4 of the chunk flags.
pub const COMPRESSION_MASK: u16 = 0x000f;
pub const COMPRESSION_NONE: u16 = 0;
pub const COMPRESSION_ZSTD: u16 = 1;

/// Chunk types (SPEC.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkType {
    Meta = 1,
    Strings = 2,
    KernelSymbols = 3,
    Watches = 4,
    Breaches = 5,
    Stacks = 6,
    Samples = 7,
    RawStacks = 8,
    Processes = 9,
    SymbolTables = 10,
    Losses = 11,
    /// Task samples with per-column encodings (format 1.2, SPEC.md §5.7.1).
    Samples2 = 12,
    Triggers = 13,
    Index = 15,
}

impl ChunkType {
    pub fn from_u16(v: u16) -> Option<ChunkType> {
        Some(match v {
            1 => ChunkType::Meta,
            2 => ChunkType::Strings,
            3 => ChunkType::KernelSymbols,
            4 => ChunkType::Watches,
            5 => ChunkType::Breaches,
            6 => ChunkType::Stacks,
            7 => ChunkType::Samples,
            8 => ChunkType::RawStacks,
            9 => ChunkType::Processes,
            10 => ChunkType::SymbolTables,
            11 => ChunkType::Losses,
            12 => ChunkType::Samples2,
            13 => ChunkType::Triggers,
            15 => ChunkType::Index,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ChunkType::Meta => "META",
            ChunkType::Strings => "STRINGS",
            ChunkType::KernelSymbols => "KSYMS",
            ChunkType::Watches => "WATCHES",
            ChunkType::Breaches => "BREACHES",
            ChunkType::Stacks => "STACKS",
            ChunkType::Samples => "SAMPLES",
            ChunkType::RawStacks => "RAW_STACKS",
            ChunkType::Processes => "PROCESSES",
            ChunkType::SymbolTables => "SYMTABS",
            ChunkType::Losses => "LOSSES",
            ChunkType::Samples2 => "SAMPLES2",
            ChunkType::Triggers => "TRIGGERS",
            ChunkType::Index => "INDEX",
        }
    }
}

impl ChunkType {
    /// Whether chunks of this type hold task samples (SAMPLES or SAMPLES2).
    pub fn is_samples(ty: u16) -> bool {
        ty == ChunkType::Samples as u16 || ty == ChunkType::Samples2 as u16
    }
}

/// A human name for a raw chunk type, for messages.
pub fn type_name(ty: u16) -> String {
    match ChunkType::from_u16(ty) {
        Some(t) => t.name().to_string(),
        None => format!("unknown type {ty}"),
    }
}

pub fn file_header(major: u16, minor: u16) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..8].copy_from_slice(&FILE_MAGIC);
    h[8..10].copy_from_slice(&major.to_le_bytes());
    h[10..12].copy_from_slice(&minor.to_le_bytes());
    h
}

/// A parsed, header-CRC-checked chunk header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    pub ty: u16,
    pub flags: u16,
    pub stored_len: u32,
    pub raw_len: u32,
    pub count: u32,
    pub payload_crc: u32,
}

impl ChunkHeader {
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut h = [0u8; CHUNK_HEADER_LEN];
        h[0..4].copy_from_slice(&CHUNK_MAGIC);
        h[4..6].copy_from_slice(&self.ty.to_le_bytes());
        h[6..8].copy_from_slice(&self.flags.to_le_bytes());
        h[8..12].copy_from_slice(&self.stored_len.to_le_bytes());
        h[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        h[16..20].copy_from_slice(&self.count.to_le_bytes());
        h[20..24].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32c::crc32c(&h[..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Parses a header; `Err` says why these bytes are not one.
    pub fn parse(b: &[u8]) -> Result<ChunkHeader, &'static str> {
        let b: &[u8; CHUNK_HEADER_LEN] = b
            .get(..CHUNK_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or("truncated chunk header")?;
        if b[0..4] != CHUNK_MAGIC {
            return Err("no chunk magic");
        }
        let crc = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
        if crc32c::crc32c(&b[..24]) != crc {
            return Err("chunk header CRC mismatch");
        }
        let u16at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let h = ChunkHeader {
            ty: u16at(4),
            flags: u16at(6),
            stored_len: u32at(8),
            raw_len: u32at(12),
            count: u32at(16),
            payload_crc: u32at(20),
        };
        if h.stored_len > MAX_PAYLOAD || h.raw_len > MAX_PAYLOAD {
            return Err("chunk length above the 64 MiB limit");
        }
        Ok(h)
    }
}
