//! Stable hashes: [`stable_hash`] (FNV-1a) for names that must never change between versions
//! or machines (cache folders, shard assignment, resume keys), fixed by its definition (no
//! per-process seed, unlike the standard library's hasher); [`ContentDigest`] (length and
//! xxh3-64) for "is this still the file we wrote?".

use std::io::{self, Read};

/// The widths FNV-1a is defined for here, with the definition's offset basis and prime.
pub trait FnvWidth: Copy {
    /// The offset basis.
    const OFFSET: Self;
    /// Folds one byte into the hash.
    fn step(self, byte: u8) -> Self;
}

impl FnvWidth for u64 {
    const OFFSET: Self = 0xcbf2_9ce4_8422_2325;
    fn step(self, byte: u8) -> Self {
        (self ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    }
}

impl FnvWidth for u128 {
    const OFFSET: Self = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    fn step(self, byte: u8) -> Self {
        (self ^ u128::from(byte)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
    }
}

/// FNV-1a of `bytes` in the width asked for: `stable_hash::<u64>(b"a")`.
pub fn stable_hash<H: FnvWidth>(bytes: &[u8]) -> H {
    bytes.iter().fold(H::OFFSET, |h, &b| h.step(b))
}

/// The length and the xxh3-64 of a file's bytes: what a record of a written file keeps, so
/// that a later command acts on the file only while it still holds exactly those bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentDigest {
    /// Bytes.
    pub len: u64,
    /// xxh3-64 of the bytes.
    pub xxh3: u64,
}

impl ContentDigest {
    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self { len: bytes.len() as u64, xxh3: xxhash_rust::xxh3::xxh3_64(bytes) }
    }

    /// The digest of everything `reader` yields, read in 64 KiB pieces.
    pub fn of_reader(mut reader: impl Read) -> io::Result<Self> {
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        let mut buffer = vec![0u8; 1 << 16];
        let mut len = 0u64;
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buffer[..n]);
                    len += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self { len, xxh3: hasher.digest() })
    }

    /// The digest of the regular file `path` (links followed; a FIFO or device is refused
    /// without blocking, see [`open_regular`](crate::open_regular)).
    pub fn of_file(path: &std::path::Path) -> io::Result<Self> {
        Self::of_reader(crate::read::open_regular(path)?)
    }

    /// The xxh3 as 16 lowercase hex digits.
    pub fn xxh3_hex(&self) -> String {
        format!("{:016x}", self.xxh3)
    }

    /// Parses [`xxh3_hex`](Self::xxh3_hex)'s form back, with the length.
    pub fn from_hex(len: u64, hex: &str) -> Option<Self> {
        let valid = hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| u64::from_str_radix(hex, 16).ok()).flatten().map(|xxh3| Self { len, xxh3 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_agree_and_round_trip() {
        let bytes = vec![7u8; 200_000];
        let d = ContentDigest::of_bytes(&bytes);
        assert_eq!(ContentDigest::of_reader(&bytes[..]).unwrap(), d);
        assert_eq!(d.len, 200_000);
        assert_eq!(ContentDigest::from_hex(d.len, &d.xxh3_hex()), Some(d));
        assert_eq!(ContentDigest::of_bytes(b"").xxh3_hex(), "2d06800538d394c2");
        assert_eq!(ContentDigest::from_hex(1, "xyz"), None);
    }

    #[test]
    fn known_values_never_change() {
        assert_eq!(stable_hash::<u64>(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash::<u64>(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash::<u128>(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }
}
