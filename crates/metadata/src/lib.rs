//! Berth's metadata database.
//!
//! One SQLite file (`<data-root>/berth.db`) holds the records that are not content: containers,
//! images and their tags, layers. Content (blobs) and unpacked layers (snapshots) live on disk in
//! their own stores; the rule that keeps the two consistent is that **the database commits after
//! the files it points to exist**, so a row never names something half-written.
//!
//! Lifecycle:
//!
//! 1. [`Db::open`] opens (or creates) the file in WAL mode with `synchronous=NORMAL` (durable at
//!    every checkpoint, and a crash loses at most the last transactions, never consistency),
//!    a busy timeout so concurrent writers wait instead of failing, and foreign keys enforced.
//! 2. It then applies the in-tree [`migrations`] that the file has not seen yet, in one
//!    transaction, recording the schema version in `PRAGMA user_version`. A database written by a
//!    newer Berth (a version we do not know) is refused rather than misread.
//! 3. The handle is cheap to clone and may be shared between threads; each call takes the one
//!    connection for the duration of its statement or transaction.
//!
//! Each resource has its own module: [`containers`] (rows whose `record` is opaque JSON owned by
//! the daemon), [`networks`] (networks and their IP allocations), [`images`] (images, tags, repo digests and layers of the image store).

pub mod build_cache;
pub mod containers;
mod error;
pub mod images;
pub mod migrations;
pub mod networks;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub use build_cache::BuildCacheRow;
pub use containers::ContainerRow;
pub use error::{Error, Result};
pub use images::{ImageRow, LayerRow, TagRow};
pub use networks::{IpAllocation, NetworkRow};

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the metadata database. Clones share one connection.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path)?;
        // WAL lets readers proceed while one writer commits; NORMAL sync is the documented
        // safe pairing with WAL (no corruption on power loss, only the last commits may roll back).
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Config(format!(
                "journal_mode is {mode}, expected wal"
            )));
        }
        Self::setup(conn)
    }

    /// An in-memory database with the current schema, for tests.
    pub fn open_in_memory() -> Result<Db> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Db> {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        migrations::apply(&mut conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> Result<u32> {
        migrations::version(&self.lock())
    }

    /// Takes the connection. A panic while it was held leaves SQLite itself consistent (any open
    /// transaction is rolled back when its guard drops), so a poisoned lock is safe to reuse.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}
