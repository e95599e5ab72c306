//! Build cache records: a build step's cache key and the image it produced. A record dies with
//! its image (foreign key), so a cache hit never names a missing image.

use rusqlite::{params, OptionalExtension};

use crate::error::Result;
use crate::Db;

/// One cache record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildCacheRow {
    pub key: String,
    pub image_id: String,
    /// RFC 3339.
    pub created: String,
    pub last_used: String,
}

impl Db {
    /// The image recorded for `key`, marking the record used at `now`.
    pub fn build_cache_get(&self, key: &str, now: &str) -> Result<Option<String>> {
        let conn = self.lock();
        let id: Option<String> = conn
            .query_row(
                "SELECT image_id FROM build_cache WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?;
        if id.is_some() {
            conn.execute(
                "UPDATE build_cache SET last_used = ?2 WHERE key = ?1",
                params![key, now],
            )?;
        }
        Ok(id)
    }

    /// Records (or replaces) `key` → `image_id`.
    pub fn build_cache_put(&self, key: &str, image_id: &str, now: &str) -> Result<()> {
        self.lock().execute(
            "INSERT OR REPLACE INTO build_cache (key, image_id, created, last_used)
             VALUES (?1, ?2, ?3, ?3)",
            params![key, image_id, now],
        )?;
        Ok(())
    }

    /// Every record, oldest use first.
    pub fn build_cache_list(&self) -> Result<Vec<BuildCacheRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT key, image_id, created, last_used FROM build_cache ORDER BY last_used",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok(BuildCacheRow {
                    key: r.get(0)?,
                    image_id: r.get(1)?,
                    created: r.get(2)?,
                    last_used: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Deletes the record `key`.
    pub fn build_cache_delete(&self, key: &str) -> Result<()> {
        self.lock()
            .execute("DELETE FROM build_cache WHERE key = ?1", [key])?;
        Ok(())
    }
}
