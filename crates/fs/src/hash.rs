//! A stable hash for names that must never change between versions or machines: cache
//! folders, shard assignment, resume keys. FNV-1a is fixed by its definition (no per-process
//! seed, unlike the standard library's hasher).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_never_change() {
        assert_eq!(stable_hash::<u64>(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash::<u64>(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash::<u128>(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }
}
