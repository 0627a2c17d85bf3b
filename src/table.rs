//! A per-thread table of native state named by number, for the binding's
//! plain functions: calling a function with a number costs less than calling
//! a method of a native object, and an entry costs far less to make than a
//! native object (bench/results.md). JavaScript frees entries through a
//! FinalizationRegistry when the object holding the number is collected.

pub struct Table<T> {
    entries: Vec<Option<T>>,
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
    pub fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(value);
                id
            }
            None => {
                self.entries.push(Some(value));
                (self.entries.len() - 1) as u32
            }
        }
    }

    pub fn get(&self, id: u32) -> Option<&T> {
        self.entries.get(id as usize).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.entries.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// The entries in use.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().flatten()
    }

    pub fn remove(&mut self, id: u32) {
        self.take(id);
    }

    pub fn take(&mut self, id: u32) -> Option<T> {
        let value = self.entries.get_mut(id as usize).and_then(Option::take);
        if value.is_some() {
            self.free.push(id);
        }
        value
    }
}
