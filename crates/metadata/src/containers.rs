//! Container rows. The daemon owns the meaning of a container's `record` (opaque JSON); this
//! module only guarantees that IDs and names are unique and that writes are atomic.

use rusqlite::{params, OptionalExtension, Row};

use crate::error::{Error, Result};
use crate::Db;

/// One container as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRow {
    /// 64-hex container ID.
    pub id: String,
    /// The container's name, unique among containers (without Docker's leading `/`; the daemon
    /// decides).
    pub name: String,
    /// RFC 3339 creation time; rows are listed newest first by this string, so it must be in a
    /// sortable form (UTC, fixed precision).
    pub created: String,
    /// Opaque JSON owned by the daemon.
    pub record: String,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<ContainerRow> {
    Ok(ContainerRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        record: r.get(3)?,
    })
}

impl Db {
    /// Records a new container. Fails with [`Error::NameInUse`] if the name is taken and with
    /// [`Error::AlreadyExists`] if the ID is.
    pub fn insert_container(&self, row: &ContainerRow) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if name_taken(&tx, &row.name, None)? {
            return Err(Error::NameInUse(row.name.clone()));
        }
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM containers WHERE id = ?1)",
            [&row.id],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::AlreadyExists(format!("container {}", row.id)));
        }
        tx.execute(
            "INSERT INTO containers (id, name, created, record) VALUES (?1, ?2, ?3, ?4)",
            params![row.id, row.name, row.created, row.record],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces a container's record.
    pub fn update_container_record(&self, id: &str, record: &str) -> Result<()> {
        let n = self.lock().execute(
            "UPDATE containers SET record = ?2 WHERE id = ?1",
            params![id, record],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("container {id}")));
        }
        Ok(())
    }

    /// Gives a container a new name; [`Error::NameInUse`] if another container has it.
    /// Renaming a container to its own name succeeds and changes nothing.
    pub fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if name_taken(&tx, new_name, Some(id))? {
            return Err(Error::NameInUse(new_name.to_string()));
        }
        let n = tx.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, new_name],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("container {id}")));
        }
        tx.commit()?;
        Ok(())
    }

    /// The container with this exact ID, if any.
    pub fn get_container(&self, id: &str) -> Result<Option<ContainerRow>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT id, name, created, record FROM containers WHERE id = ?1",
                [id],
                from_row,
            )
            .optional()?)
    }

    /// Every container, newest first.
    pub fn list_containers(&self) -> Result<Vec<ContainerRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT id, name, created, record FROM containers ORDER BY created DESC, rowid DESC",
        )?;
        let rows = st
            .query_map([], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Removes a container's row; [`Error::NotFound`] if there is none.
    pub fn delete_container(&self, id: &str) -> Result<()> {
        let n = self
            .lock()
            .execute("DELETE FROM containers WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(Error::NotFound(format!("container {id}")));
        }
        Ok(())
    }
}

fn name_taken(conn: &rusqlite::Connection, name: &str, except_id: Option<&str>) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM containers WHERE name = ?1 AND id IS NOT ?2)",
        params![name, except_id],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str, created: &str) -> ContainerRow {
        ContainerRow {
            id: id.into(),
            name: name.into(),
            created: created.into(),
            record: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    #[test]
    fn insert_get_list_update_delete() {
        let db = Db::open_in_memory().unwrap();
        db.insert_container(&row("a1", "web", "2024-01-01T00:00:00Z"))
            .unwrap();
        db.insert_container(&row("b2", "db", "2024-01-02T00:00:00Z"))
            .unwrap();
        assert_eq!(db.get_container("a1").unwrap().unwrap().name, "web");
        assert!(db.get_container("zz").unwrap().is_none());
        let ids: Vec<_> = db
            .list_containers()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["b2", "a1"], "newest first");

        db.update_container_record("a1", "{\"x\":1}").unwrap();
        assert_eq!(db.get_container("a1").unwrap().unwrap().record, "{\"x\":1}");
        assert!(matches!(
            db.update_container_record("zz", "{}"),
            Err(Error::NotFound(_))
        ));

        db.delete_container("a1").unwrap();
        assert!(db.get_container("a1").unwrap().is_none());
        assert!(matches!(db.delete_container("a1"), Err(Error::NotFound(_))));
    }

    #[test]
    fn names_and_ids_are_unique() {
        let db = Db::open_in_memory().unwrap();
        db.insert_container(&row("a1", "web", "t1")).unwrap();
        match db.insert_container(&row("b2", "web", "t2")) {
            Err(Error::NameInUse(n)) => assert_eq!(n, "web"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            db.insert_container(&row("a1", "other", "t2")),
            Err(Error::AlreadyExists(_))
        ));
        assert_eq!(db.list_containers().unwrap().len(), 1);
    }

    #[test]
    fn rename_checks_clashes() {
        let db = Db::open_in_memory().unwrap();
        db.insert_container(&row("a1", "web", "t1")).unwrap();
        db.insert_container(&row("b2", "db", "t2")).unwrap();
        assert!(matches!(
            db.rename_container("a1", "db"),
            Err(Error::NameInUse(_))
        ));
        db.rename_container("a1", "web").unwrap();
        db.rename_container("a1", "front").unwrap();
        assert_eq!(db.get_container("a1").unwrap().unwrap().name, "front");
        // The old name is free again.
        db.insert_container(&row("c3", "web", "t3")).unwrap();
        assert!(matches!(
            db.rename_container("zz", "x"),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn file_database_is_wal_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        {
            let db = Db::open(&path).unwrap();
            db.insert_container(&row("a1", "web", "t1")).unwrap();
            let mode: String = db
                .lock()
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            let fk: i64 = db
                .lock()
                .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
                .unwrap();
            assert_eq!(fk, 1);
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), crate::migrations::latest());
        assert_eq!(db.get_container("a1").unwrap().unwrap().name, "web");
    }

    #[test]
    fn handle_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Db>();
        let db = Db::open_in_memory().unwrap();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    db.insert_container(&row(&format!("id{i}"), &format!("n{i}"), "t"))
                        .unwrap()
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(db.list_containers().unwrap().len(), 4);
    }
}
