//! A fixed-size bitset over rule ranks, and a small fast hasher for the value interners.

use std::hash::{BuildHasherDefault, Hasher};

/// Bits over `0..len`, packed in `u64` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// Bits `0..len` set.
    pub(crate) fn full(len: usize) -> Bitset {
        let mut b = Bitset {
            words: vec![u64::MAX; len.div_ceil(64)],
        };
        let rem = len % 64;
        if rem != 0 {
            if let Some(last) = b.words.last_mut() {
                *last = (1u64 << rem) - 1;
            }
        }
        b
    }

    pub(crate) fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn clear(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }

    pub(crate) fn get(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    pub(crate) fn and_with(&mut self, other: &Bitset) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }

    /// Set bits in increasing order.
    pub(crate) fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let tz = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + tz)
            })
        })
    }
}

/// The multiply-rotate hash used by rustc (FxHash). The interner's keys are the rule
/// set's own values; a lookup's cost depends on the table, not on the looked-up text, so
/// buyer-controlled input cannot slow it down the way it could grow a table.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The tail's length goes in its unused top byte, so "a" and "a\0" differ.
            w[7] = rest.len() as u8;
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap` hasher builder using [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn full_masks_the_tail_and_ones_iterates_in_order() {
        let mut b = Bitset::full(70);
        assert_eq!(b.ones().count(), 70);
        b.clear(0);
        b.clear(64);
        let ones: Vec<usize> = b.ones().take(3).collect();
        assert_eq!(ones, vec![1, 2, 3]);
        assert!(!b.get(64) && b.get(69));
        let mut c = Bitset::full(70);
        for i in 0..70 {
            if i != 5 && i != 66 {
                c.clear(i);
            }
        }
        b.and_with(&c);
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![5, 66]);
        assert_eq!(Bitset::full(0).ones().count(), 0);
        assert_eq!(Bitset::full(64).ones().count(), 64);
    }

    #[test]
    fn hasher_distinguishes_lengths_and_content() {
        let h = FxBuild::default();
        assert_ne!(h.hash_one("ab"), h.hash_one("ba"));
        assert_ne!(h.hash_one("a"), h.hash_one("a\0"));
        assert_eq!(h.hash_one("seller-1"), h.hash_one(String::from("seller-1")));
    }
}
