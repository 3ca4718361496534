//! LEB128 varints, zigzag, and a bounds-checked cursor over a chunk payload.

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub fn put_u(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[inline]
pub fn put_i(out: &mut Vec<u8>, v: i64) {
    put_u(out, zigzag(v));
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Why a payload did not parse; the caller adds the chunk and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload ended inside a value.
    Eof(&'static str),
    /// A varint longer than 10 bytes or above 2^64.
    Overlong(&'static str),
    /// A value outside its allowed range.
    Range(&'static str, u64),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Eof(what) => write!(f, "payload ends inside {what}"),
            DecodeError::Overlong(what) => write!(f, "malformed varint in {what}"),
            DecodeError::Range(what, v) => write!(f, "{what} out of range: {v}"),
        }
    }
}

pub type DResult<T> = Result<T, DecodeError>;

/// A cursor over borrowed bytes; every read is bounds-checked.
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline(always)]
    pub fn u(&mut self, what: &'static str) -> DResult<u64> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        // Fast paths: one byte (most sample columns), then any varint of up
        // to 8 bytes decoded from one 8-byte load without a loop.
        if let Some(&b) = rest.first() {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
        }
        if let Some((v, n)) = rest.first_chunk::<8>().and_then(decode8) {
            self.pos += n;
            return Ok(v);
        }
        self.u_slow(what)
    }

    #[cold]
    fn u_slow(&mut self, what: &'static str) -> DResult<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(DecodeError::Eof(what));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(DecodeError::Overlong(what));
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError::Overlong(what));
            }
        }
    }

    #[inline(always)]
    pub fn i(&mut self, what: &'static str) -> DResult<i64> {
        Ok(unzigzag(self.u(what)?))
    }

    /// An unsigned varint that must fit a `u32`.
    #[inline(always)]
    pub fn u32(&mut self, what: &'static str) -> DResult<u32> {
        let v = self.u(what)?;
        u32::try_from(v).map_err(|_| DecodeError::Range(what, v))
    }

    /// A zigzag varint that must fit an `i32`.
    #[inline]
    pub fn i32(&mut self, what: &'static str) -> DResult<i32> {
        let v = self.i(what)?;
        i32::try_from(v).map_err(|_| DecodeError::Range(what, v as u64))
    }

    pub fn byte(&mut self, what: &'static str) -> DResult<u8> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Eof(what))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> DResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::Eof(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, what: &'static str) -> DResult<&'a [u8]> {
        let n = self.u(what)?;
        let n = usize::try_from(n).map_err(|_| DecodeError::Range(what, n))?;
        self.take(n, what)
    }

    /// A count of records each at least `min_size` bytes long: refuses
    /// counts the remaining bytes cannot hold, so callers can allocate it.
    pub fn count(&mut self, min_size: usize, what: &'static str) -> DResult<usize> {
        let n = self.u(what)?;
        let max = self.remaining() / min_size.max(1);
        if n > max as u64 {
            return Err(DecodeError::Range(what, n));
        }
        Ok(n as usize)
    }
}

/// Decodes a varint of at most 8 bytes from one 8-byte little-endian load,
/// without a loop: `(value, bytes used)`, or `None` when no byte of the 8
/// ends the varint (the caller falls back to the byte-wise decoder).
#[inline(always)]
pub(crate) fn decode8(w8: &[u8; 8]) -> Option<(u64, usize)> {
    let w = u64::from_le_bytes(*w8);
    let stops = !w & 0x8080_8080_8080_8080;
    if stops == 0 {
        return None;
    }
    let n = stops.trailing_zeros() / 8 + 1;
    let x = if n == 8 {
        w
    } else {
        w & ((1u64 << (8 * n)) - 1)
    };
    let v = (x & 0x7f)
        | ((x >> 1) & (0x7f << 7))
        | ((x >> 2) & (0x7f << 14))
        | ((x >> 3) & (0x7f << 21))
        | ((x >> 4) & (0x7f << 28))
        | ((x >> 5) & (0x7f << 35))
        | ((x >> 6) & (0x7f << 42))
        | ((x >> 7) & (0x7f << 49));
    Some((v, n as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_limits() {
        let vals = [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut buf = Vec::new();
        for &v in &vals {
            put_u(&mut buf, v);
        }
        let mut c = Cursor::new(&buf);
        for &v in &vals {
            assert_eq!(c.u("v").unwrap(), v);
        }
        assert!(c.is_empty());
        assert_eq!(c.u("v"), Err(DecodeError::Eof("v")));
        // 11 continuation bytes and a 2^64 overflow are both refused.
        let mut c = Cursor::new(&[0xff; 11]);
        assert_eq!(c.u("v"), Err(DecodeError::Overlong("v")));
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(Cursor::new(&over).u("v"), Err(DecodeError::Overlong("v")));
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        // Every length 1..=10, with and without 8 bytes of slack after it.
        for bits in 0..64u32 {
            for v in [1u64 << bits, (1u64 << bits) - 1, (1u64 << bits) | 0x55] {
                let mut buf = Vec::new();
                put_u(&mut buf, v);
                let n = buf.len();
                let mut tight = Cursor::new(&buf);
                assert_eq!(tight.u("v"), Ok(v));
                assert_eq!(tight.pos, n);
                buf.extend_from_slice(&[0xff; 9]);
                let mut slack = Cursor::new(&buf);
                assert_eq!(slack.u("v"), Ok(v));
                assert_eq!(slack.pos, n);
            }
        }
    }

    #[test]
    fn zigzag_round_trip() {
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -12345, 12345] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn count_is_capped_by_remaining_bytes() {
        let mut buf = Vec::new();
        put_u(&mut buf, 1 << 40);
        buf.extend_from_slice(&[0; 16]);
        assert!(matches!(
            Cursor::new(&buf).count(1, "n"),
            Err(DecodeError::Range(..))
        ));
        let mut buf = Vec::new();
        put_u(&mut buf, 4);
        buf.extend_from_slice(&[0; 8]);
        assert_eq!(Cursor::new(&buf).count(2, "n"), Ok(4));
    }
}
