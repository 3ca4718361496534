//! Get-or-insert interning, written once: every table of unique values in
//! the analyzer (modules, names, addresses, raw stacks, functions, frames,
//! stacks, watches) hands out its dense ids through an [`Interner`], which
//! is the only place those ids come from.

use std::hash::Hash;

use crate::analysis::FxHashMap;

/// A dense id: the index of a value in its table.
pub trait Idx: Copy {
    /// The id of the value at `index`.
    fn from_index(index: usize) -> Self;
}

impl Idx for u32 {
    #[inline]
    fn from_index(index: usize) -> u32 {
        index as u32
    }
}

/// Unique values in insertion order, each named by the id of its position.
#[derive(Clone, Debug)]
pub struct Interner<K, I = u32> {
    ids: FxHashMap<K, I>,
    values: Vec<K>,
}

impl<K, I> Default for Interner<K, I> {
    fn default() -> Self {
        Interner {
            ids: FxHashMap::default(),
            values: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, I: Idx> Interner<K, I> {
    /// The id of `key`, and whether it was new (inserted now).
    #[inline]
    pub fn insert(&mut self, key: K) -> (I, bool) {
        if let Some(&id) = self.ids.get(&key) {
            return (id, false);
        }
        let id = I::from_index(self.values.len());
        self.values.push(key.clone());
        self.ids.insert(key, id);
        (id, true)
    }

    /// The id of `key`, inserted when new.
    #[inline]
    pub fn intern(&mut self, key: K) -> I {
        self.insert(key).0
    }

    /// [`Interner::intern`] for a borrowed key: allocates only when new.
    #[inline]
    pub fn intern_ref<Q>(&mut self, key: &Q) -> I
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.ids.get(key) {
            Some(&id) => id,
            None => self.insert(key.to_owned()).0,
        }
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The values, in id order.
    pub fn values(&self) -> &[K] {
        &self.values
    }

    /// The values, in id order, without the index.
    pub fn into_values(self) -> Vec<K> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_in_first_insertion_order() {
        let mut it: Interner<String> = Interner::default();
        assert_eq!(it.intern_ref("b"), 0);
        assert_eq!(it.intern_ref("a"), 1);
        assert_eq!(it.insert("b".to_string()), (0, false));
        assert_eq!(it.insert("c".to_string()), (2, true));
        assert_eq!(it.values(), ["b", "a", "c"]);
    }
}
