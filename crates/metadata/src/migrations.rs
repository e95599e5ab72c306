//! Schema migrations, in order. Migration `i` (0-based) takes the schema from version `i` to
//! `i + 1`; the version is kept in `PRAGMA user_version`. Never edit a migration that has shipped:
//! append a new one.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The ordered list of migrations.
pub const MIGRATIONS: &[&str] = &[
    // 1: containers, and the image store's images, tags, repo digests and layers.
    r#"
    CREATE TABLE containers (
        id      TEXT PRIMARY KEY NOT NULL,
        name    TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        record  TEXT NOT NULL
    );
    CREATE INDEX containers_created ON containers(created);

    CREATE TABLE images (
        id            TEXT PRIMARY KEY NOT NULL,  -- sha256:<hex> of the config blob
        created       TEXT,                       -- from the config, RFC 3339
        added         TEXT NOT NULL,              -- when this store first recorded it
        parent        TEXT NOT NULL DEFAULT '',
        size          INTEGER NOT NULL DEFAULT 0, -- unpacked size of all layers
        chain_id      TEXT,                       -- top layer's chain ID, NULL for no layers
        manifest      TEXT,                       -- digest of the manifest blob, if stored
        last_tag_time TEXT
    );

    CREATE TABLE tags (
        name     TEXT PRIMARY KEY NOT NULL,       -- normalised, e.g. docker.io/library/busybox:latest
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        tagged   TEXT NOT NULL
    );
    CREATE INDEX tags_image ON tags(image_id);

    CREATE TABLE repo_digests (
        name     TEXT PRIMARY KEY NOT NULL,       -- normalised repo@sha256:<manifest digest>
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX repo_digests_image ON repo_digests(image_id);

    CREATE TABLE layers (
        chain_id TEXT PRIMARY KEY NOT NULL,
        diff_id  TEXT NOT NULL,
        parent   TEXT REFERENCES layers(chain_id),
        size     INTEGER NOT NULL DEFAULT 0       -- unpacked bytes of this layer alone
    );
    "#,
    // 2: networks (record is opaque JSON owned by the daemon) and IPAM: one row per address
    // handed out, so that an address is never given twice, even across a crash and restart.
    r#"
    CREATE TABLE networks (
        id      TEXT PRIMARY KEY NOT NULL,
        name    TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        record  TEXT NOT NULL
    );

    CREATE TABLE ip_allocations (
        network_id   TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
        address      TEXT NOT NULL,
        container_id TEXT NOT NULL,
        PRIMARY KEY (network_id, address),
        UNIQUE (network_id, container_id)
    );
    "#,
    // 3: the build cache: a step's cache key (parent, instruction, build args, file checksums)
    // names the image the step made. The row goes with the image.
    r#"
    CREATE TABLE build_cache (
        key       TEXT PRIMARY KEY NOT NULL,
        image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        created   TEXT NOT NULL,
        last_used TEXT NOT NULL
    );
    CREATE INDEX build_cache_image ON build_cache(image_id);
    "#,
];

/// The schema version this build writes.
pub fn latest() -> u32 {
    MIGRATIONS.len() as u32
}

/// The schema version recorded in the database.
pub fn version(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies every migration the database has not seen, in one transaction: either the schema
/// reaches the latest version or it stays where it was.
pub fn apply(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current = version(&tx)?;
    if current > latest() {
        return Err(Error::UnknownSchema {
            found: current,
            supported: latest(),
        });
    }
    for sql in &MIGRATIONS[current as usize..] {
        tx.execute_batch(sql)?;
    }
    if current < latest() {
        tx.pragma_update(None, "user_version", latest())?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_reaches_latest_and_reapply_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), latest());
        apply(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), latest());
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name='containers'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest() + 1)
            .unwrap();
        assert!(matches!(apply(&mut conn), Err(Error::UnknownSchema { .. })));
    }
}
