//! Network rows and IP address allocations (IPAM). The daemon owns the meaning of a network's
//! `record`; this module guarantees unique IDs and names, and that one address of a network is
//! held by at most one container — the allocation is a row, taken in one transaction with the
//! choice of the address, so a crash can leave a stale allocation (released at the next start)
//! but never a duplicate.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, Row};

use crate::error::{Error, Result};
use crate::Db;

/// One network as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRow {
    /// 64-hex network ID.
    pub id: String,
    /// Unique among networks.
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// Opaque JSON owned by the daemon.
    pub record: String,
}

/// One address held by a container on a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAllocation {
    pub network_id: String,
    pub address: String,
    pub container_id: String,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<NetworkRow> {
    Ok(NetworkRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        record: r.get(3)?,
    })
}

impl Db {
    /// Records a new network; [`Error::NameInUse`] if the name is taken.
    pub fn insert_network(&self, row: &NetworkRow) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM networks WHERE name = ?1 OR id = ?2)",
            params![row.name, row.id],
            |r| r.get(0),
        )?;
        if taken {
            return Err(Error::NameInUse(row.name.clone()));
        }
        tx.execute(
            "INSERT INTO networks (id, name, created, record) VALUES (?1, ?2, ?3, ?4)",
            params![row.id, row.name, row.created, row.record],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces a network's record.
    pub fn update_network_record(&self, id: &str, record: &str) -> Result<()> {
        let n = self.lock().execute(
            "UPDATE networks SET record = ?2 WHERE id = ?1",
            params![id, record],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("network {id}")));
        }
        Ok(())
    }

    pub fn get_network(&self, id: &str) -> Result<Option<NetworkRow>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT id, name, created, record FROM networks WHERE id = ?1",
                [id],
                from_row,
            )
            .optional()?)
    }

    /// Every network, oldest first.
    pub fn list_networks(&self) -> Result<Vec<NetworkRow>> {
        let conn = self.lock();
        let mut st =
            conn.prepare("SELECT id, name, created, record FROM networks ORDER BY created, id")?;
        let rows = st.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes a network and (by cascade) its allocations.
    pub fn delete_network(&self, id: &str) -> Result<()> {
        let n = self
            .lock()
            .execute("DELETE FROM networks WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(Error::NotFound(format!("network {id}")));
        }
        Ok(())
    }

    /// Gives `container_id` an address on `network_id`: the one it already holds there, else
    /// `requested` if free, else what `pick` chooses among the addresses not in use. `None` from
    /// `pick` means the network is full ([`Error::Exhausted`]); a taken `requested` address is
    /// [`Error::AddressInUse`].
    pub fn allocate_ip(
        &self,
        network_id: &str,
        container_id: &str,
        requested: Option<&str>,
        pick: &dyn Fn(&HashSet<String>) -> Option<String>,
    ) -> Result<String> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let held: Option<String> = tx
            .query_row(
                "SELECT address FROM ip_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![network_id, container_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(a) = held {
            if requested.is_none_or(|r| r == a) {
                return Ok(a);
            }
            tx.execute(
                "DELETE FROM ip_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![network_id, container_id],
            )?;
        }
        let used: HashSet<String> = {
            let mut st = tx.prepare("SELECT address FROM ip_allocations WHERE network_id = ?1")?;
            let rows = st.query_map([network_id], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let address = match requested {
            Some(r) if used.contains(r) => return Err(Error::AddressInUse(r.to_owned())),
            Some(r) => r.to_owned(),
            None => pick(&used).ok_or_else(|| Error::Exhausted(network_id.to_owned()))?,
        };
        tx.execute(
            "INSERT INTO ip_allocations (network_id, address, container_id) VALUES (?1, ?2, ?3)",
            params![network_id, address, container_id],
        )?;
        tx.commit()?;
        Ok(address)
    }

    /// Releases what `container_id` holds on `network_id` (every network when `None`).
    pub fn release_ips(&self, container_id: &str, network_id: Option<&str>) -> Result<()> {
        let conn = self.lock();
        match network_id {
            Some(n) => conn.execute(
                "DELETE FROM ip_allocations WHERE container_id = ?1 AND network_id = ?2",
                params![container_id, n],
            )?,
            None => conn.execute(
                "DELETE FROM ip_allocations WHERE container_id = ?1",
                [container_id],
            )?,
        };
        Ok(())
    }

    /// Every allocation (to reconcile with the containers really running at start-up).
    pub fn list_ip_allocations(&self) -> Result<Vec<IpAllocation>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT network_id, address, container_id FROM ip_allocations ORDER BY network_id, address",
        )?;
        let rows = st.query_map([], |r| {
            Ok(IpAllocation {
                network_id: r.get(0)?,
                address: r.get(1)?,
                container_id: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(id: &str, name: &str) -> NetworkRow {
        NetworkRow {
            id: id.into(),
            name: name.into(),
            created: "2026-01-01T00:00:00Z".into(),
            record: "{}".into(),
        }
    }

    fn first_free(used: &HashSet<String>) -> Option<String> {
        (2..5)
            .map(|i| format!("10.0.0.{i}"))
            .find(|a| !used.contains(a))
    }

    #[test]
    fn names_are_unique_and_rows_round_trip() {
        let db = Db::open_in_memory().unwrap();
        db.insert_network(&net("a", "one")).unwrap();
        assert!(matches!(
            db.insert_network(&net("b", "one")),
            Err(Error::NameInUse(_))
        ));
        assert_eq!(db.get_network("a").unwrap().unwrap().name, "one");
        assert_eq!(db.list_networks().unwrap().len(), 1);
        db.delete_network("a").unwrap();
        assert!(db.get_network("a").unwrap().is_none());
    }

    #[test]
    fn an_address_is_never_handed_out_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let db = Db::open(&path).unwrap();
        db.insert_network(&net("n", "net")).unwrap();
        let a = db.allocate_ip("n", "c1", None, &first_free).unwrap();
        assert_eq!(a, "10.0.0.2");
        // Asking again gives the same address, not a second one.
        assert_eq!(db.allocate_ip("n", "c1", None, &first_free).unwrap(), a);
        drop(db);
        // A restart (a new handle on the same file) still knows it is taken.
        let db = Db::open(&path).unwrap();
        assert_eq!(
            db.allocate_ip("n", "c2", None, &first_free).unwrap(),
            "10.0.0.3"
        );
        assert!(matches!(
            db.allocate_ip("n", "c3", Some("10.0.0.2"), &first_free),
            Err(Error::AddressInUse(_))
        ));
        db.allocate_ip("n", "c3", None, &first_free).unwrap();
        assert!(matches!(
            db.allocate_ip("n", "c4", None, &first_free),
            Err(Error::Exhausted(_))
        ));
        db.release_ips("c1", None).unwrap();
        assert_eq!(
            db.allocate_ip("n", "c4", None, &first_free).unwrap(),
            "10.0.0.2"
        );
        assert_eq!(db.list_ip_allocations().unwrap().len(), 3);
        // Removing the network drops its allocations.
        db.delete_network("n").unwrap();
        assert!(db.list_ip_allocations().unwrap().is_empty());
    }
}
