//! Rendered tiles kept in memory with the version they were rendered at. A hit still asks the
//! database for the tile's current version (the cheap query), so a cached tile is served only while
//! nothing touching it has changed: the cache saves rendering, never freshness. This is what Martin's
//! cache lacks (maplibre/martin#288): it keys by z/x/y alone and serves stale tiles after writes.

use std::sync::Mutex;

use bytes::Bytes;
use hashlink::LruCache;

use super::store::Version;

type Key = (i32, i32, i32);

pub struct TileCache(Option<Mutex<LruCache<Key, (Version, Bytes)>>>);

impl TileCache {
    /// `entries == 0` turns the cache off.
    pub fn new(entries: usize) -> Self {
        Self((entries > 0).then(|| Mutex::new(LruCache::new(entries))))
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The tile if it was rendered at exactly `version`.
    pub fn get(&self, key: Key, version: Version) -> Option<Bytes> {
        let mut cache = self.0.as_ref()?.lock().ok()?;
        match cache.get(&key) {
            Some((v, tile)) if *v == version => Some(tile.clone()),
            _ => None,
        }
    }

    pub fn put(&self, key: Key, version: Version, tile: Bytes) {
        if let Some(Ok(mut cache)) = self.0.as_ref().map(Mutex::lock) {
            cache.insert(key, (version, tile));
        }
    }
}
