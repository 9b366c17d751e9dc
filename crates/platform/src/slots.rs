//! Connections held per key (an account, an address), in this instance's memory: a slot is held
//! by a connection to this instance, and a crashed instance's slots vanish with it. The feed's
//! streams and chat's WebSockets count with it.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, PoisonError},
};

/// Open connections per key, released when a connection ends.
pub struct Slots<K>(Mutex<HashMap<K, usize>>);

impl<K> Default for Slots<K> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

/// One held slot; dropping it gives the slot back.
pub struct Slot<K: Hash + Eq + Copy>(Arc<Slots<K>>, K);

impl<K: Hash + Eq + Copy> Slots<K> {
    /// A slot for `key`, or `None` when it holds `max` already.
    pub fn acquire(self: &Arc<Self>, key: K, max: usize) -> Option<Slot<K>> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), key))
    }
}

impl<K: Hash + Eq + Copy> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut open = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}
