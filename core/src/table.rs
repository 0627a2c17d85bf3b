//! A per-thread table of native state named by number, for the binding's
//! plain functions: calling a function with a number costs less than calling
//! a method of a native object, and an entry costs far less to make than a
//! native object (bench/results.md). JavaScript frees an entry when what it
//! names has closed, and through a FinalizationRegistry when the object
//! holding the number is collected without a close.
//!
//! Entries are boxed: the vector keeps the capacity of its high-water mark,
//! which is the number of objects JavaScript has not collected yet (after a
//! burst of short connections, tens of thousands, whatever is open now), so
//! a slot that outlives its entry must cost a pointer, not the entry
//! (bench/lifecycle.js measures it; docs/ARCHITECTURE.md has the figures).

/// Entries named by small numbers; a freed number is given to the next
/// entry.
pub struct Table<T> {
    entries: Vec<Option<Box<T>>>,
    free: Vec<u32>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Table<T> {
    /// Stores `value` and returns its number.
    pub fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(Box::new(value));
                id
            }
            None => {
                self.entries.push(Some(Box::new(value)));
                (self.entries.len() - 1) as u32
            }
        }
    }

    /// The entry numbered `id`.
    pub fn get(&self, id: u32) -> Option<&T> {
        self.entries.get(id as usize).and_then(Option::as_deref)
    }

    /// The entry numbered `id`, to change.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.entries
            .get_mut(id as usize)
            .and_then(Option::as_deref_mut)
    }

    /// How many entries are in use.
    pub fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    /// Whether no entry is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in use.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().flatten().map(|entry| &**entry)
    }

    /// Drops the entry numbered `id`, if any.
    pub fn remove(&mut self, id: u32) {
        self.take(id);
    }

    /// Takes the entry numbered `id` out; its number is free again.
    pub fn take(&mut self, id: u32) -> Option<T> {
        let value = self
            .entries
            .get_mut(id as usize)
            .and_then(Option::take)
            .map(|entry| *entry);
        if value.is_some() {
            self.free.push(id);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn numbers_are_reused_and_entries_freed() {
        let mut table = Table::default();
        let a = table.insert(String::from("a"));
        let b = table.insert(String::from("b"));
        assert_ne!(a, b);
        assert_eq!(table.take(a).as_deref(), Some("a"));
        assert_eq!(table.get(a), None);
        assert_eq!(table.take(a), None);
        let c = table.insert(String::from("c"));
        assert_eq!(c, a);
        table.get_mut(b).unwrap().push('!');
        let mut all: Vec<&String> = table.iter().collect();
        all.sort();
        assert_eq!(all, ["b!", "c"]);
        table.remove(b);
        assert_eq!(table.get(b), None);
    }

    #[test]
    fn a_free_slot_costs_a_pointer_whatever_the_entry() {
        // The table keeps its slots at their high-water mark.
        assert_eq!(
            std::mem::size_of::<Option<Box<[u8; 256]>>>(),
            std::mem::size_of::<usize>()
        );
        let mut table = Table::default();
        let ids: Vec<u32> = (0..1000).map(|_| table.insert([7u8; 256])).collect();
        for id in ids {
            table.remove(id);
        }
        assert!(table.entries.capacity() * std::mem::size_of_val(&table.entries[0]) < 16 * 1024);
    }
}
