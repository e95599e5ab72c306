//! The image store's records: images (keyed by config digest), tags (normalised reference →
//! image), repo digests (normalised `repo@digest` → image) and layers (chain ID → diff ID, parent,
//! size). Tags and repo digests go with their image when it is deleted.
//!
//! The meaning of names (normalisation, familiar forms) belongs to the image crate; here they are
//! opaque unique strings.

use rusqlite::{params, OptionalExtension, Row};

use crate::error::{Error, Result};
use crate::Db;

/// One image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageRow {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
    /// Creation time from the image config (RFC 3339), if it had one.
    pub created: Option<String>,
    /// When this store first recorded the image (RFC 3339).
    pub added: String,
    /// Parent image ID (`sha256:...`), or empty.
    pub parent: String,
    /// Unpacked size in bytes of all its layers.
    pub size: i64,
    /// Chain ID of the top layer, `None` for an image without layers.
    pub chain_id: Option<String>,
    /// Digest of the manifest blob, if the store kept one.
    pub manifest: Option<String>,
    /// When a tag was last set on this image (RFC 3339).
    pub last_tag_time: Option<String>,
}

/// A tag: a normalised reference naming an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub name: String,
    pub image_id: String,
    pub tagged: String,
}

/// One unpacked layer, known by its chain ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRow {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    pub size: i64,
}

const IMAGE_COLS: &str = "id, created, added, parent, size, chain_id, manifest, last_tag_time";

fn image_from_row(r: &Row<'_>) -> rusqlite::Result<ImageRow> {
    Ok(ImageRow {
        id: r.get(0)?,
        created: r.get(1)?,
        added: r.get(2)?,
        parent: r.get(3)?,
        size: r.get(4)?,
        chain_id: r.get(5)?,
        manifest: r.get(6)?,
        last_tag_time: r.get(7)?,
    })
}

fn layer_from_row(r: &Row<'_>) -> rusqlite::Result<LayerRow> {
    Ok(LayerRow {
        chain_id: r.get(0)?,
        diff_id: r.get(1)?,
        parent: r.get(2)?,
        size: r.get(3)?,
    })
}

fn tag_from_row(r: &Row<'_>) -> rusqlite::Result<TagRow> {
    Ok(TagRow {
        name: r.get(0)?,
        image_id: r.get(1)?,
        tagged: r.get(2)?,
    })
}

impl Db {
    /// Records an image unless one with its ID exists. Returns whether it was new. An existing
    /// row keeps its `added` time; its manifest digest is filled in if it had none.
    pub fn put_image(&self, img: &ImageRow) -> Result<bool> {
        let conn = self.lock();
        let n = conn.execute(
            &format!(
                "INSERT INTO images ({IMAGE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO NOTHING"
            ),
            params![
                img.id,
                img.created,
                img.added,
                img.parent,
                img.size,
                img.chain_id,
                img.manifest,
                img.last_tag_time
            ],
        )?;
        if n == 0 && img.manifest.is_some() {
            conn.execute(
                "UPDATE images SET manifest = ?2 WHERE id = ?1 AND manifest IS NULL",
                params![img.id, img.manifest],
            )?;
        }
        Ok(n == 1)
    }

    /// The image with this exact ID.
    pub fn get_image(&self, id: &str) -> Result<Option<ImageRow>> {
        Ok(self
            .lock()
            .query_row(
                &format!("SELECT {IMAGE_COLS} FROM images WHERE id = ?1"),
                [id],
                image_from_row,
            )
            .optional()?)
    }

    /// Every image, newest (by creation time, then by when it was added) first.
    pub fn list_images(&self) -> Result<Vec<ImageRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {IMAGE_COLS} FROM images ORDER BY created DESC, added DESC"
        ))?;
        let rows = st
            .query_map([], image_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// IDs of images whose ID starts with `prefix` (which includes the `sha256:`).
    pub fn image_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let conn = self.lock();
        // substr comparison rather than LIKE, so '%' and '_' in the input mean nothing.
        let mut st = conn.prepare(
            "SELECT id FROM images WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT 16",
        )?;
        let rows = st
            .query_map([prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Deletes an image with its tags and repo digests; [`Error::NotFound`] if absent.
    pub fn delete_image(&self, id: &str) -> Result<()> {
        let n = self
            .lock()
            .execute("DELETE FROM images WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(Error::NotFound(format!("image {id}")));
        }
        Ok(())
    }

    /// Points tag `name` at `image_id` (moving it if it named another image) and stamps the
    /// image's last tag time. Returns the image the tag named before, if it moved.
    pub fn set_tag(&self, name: &str, image_id: &str, now: &str) -> Result<Option<String>> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let prev: Option<String> = tx
            .query_row("SELECT image_id FROM tags WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        let n = tx.execute(
            "UPDATE images SET last_tag_time = ?2 WHERE id = ?1",
            params![image_id, now],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("image {image_id}")));
        }
        tx.execute(
            "INSERT INTO tags (name, image_id, tagged) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, tagged = excluded.tagged",
            params![name, image_id, now],
        )?;
        tx.commit()?;
        Ok(prev.filter(|p| p != image_id))
    }

    /// The tag `name`, if set.
    pub fn get_tag(&self, name: &str) -> Result<Option<TagRow>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT name, image_id, tagged FROM tags WHERE name = ?1",
                [name],
                tag_from_row,
            )
            .optional()?)
    }

    /// Removes tag `name`; returns whether it existed.
    pub fn delete_tag(&self, name: &str) -> Result<bool> {
        Ok(self
            .lock()
            .execute("DELETE FROM tags WHERE name = ?1", [name])?
            == 1)
    }

    /// Every tag, in name order.
    pub fn list_tags(&self) -> Result<Vec<TagRow>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT name, image_id, tagged FROM tags ORDER BY name")?;
        let rows = st
            .query_map([], tag_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The tags naming `image_id`, in name order.
    pub fn tags_for_image(&self, image_id: &str) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
        let rows = st
            .query_map([image_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Records `name` (`repo@sha256:...`) as a repo digest of `image_id`.
    pub fn add_repo_digest(&self, name: &str, image_id: &str) -> Result<()> {
        self.lock().execute(
            "INSERT INTO repo_digests (name, image_id) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![name, image_id],
        )?;
        Ok(())
    }

    /// The image a repo digest names.
    pub fn get_repo_digest(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT image_id FROM repo_digests WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The repo digests of `image_id`, in name order.
    pub fn repo_digests_for_image(&self, image_id: &str) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut st =
            conn.prepare("SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name")?;
        let rows = st
            .query_map([image_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Records a layer unless its chain ID is known. Returns whether it was new.
    pub fn put_layer(&self, layer: &LayerRow) -> Result<bool> {
        let n = self.lock().execute(
            "INSERT INTO layers (chain_id, diff_id, parent, size) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(chain_id) DO NOTHING",
            params![layer.chain_id, layer.diff_id, layer.parent, layer.size],
        )?;
        Ok(n == 1)
    }

    /// The layer with this chain ID.
    pub fn get_layer(&self, chain_id: &str) -> Result<Option<LayerRow>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT chain_id, diff_id, parent, size FROM layers WHERE chain_id = ?1",
                [chain_id],
                layer_from_row,
            )
            .optional()?)
    }

    /// Every layer.
    pub fn list_layers(&self) -> Result<Vec<LayerRow>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT chain_id, diff_id, parent, size FROM layers")?;
        let rows = st
            .query_map([], layer_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Deletes a layer row; fails (foreign key) while a child layer still names it as parent.
    pub fn delete_layer(&self, chain_id: &str) -> Result<bool> {
        Ok(self
            .lock()
            .execute("DELETE FROM layers WHERE chain_id = ?1", [chain_id])?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, created: &str) -> ImageRow {
        ImageRow {
            id: id.into(),
            created: Some(created.into()),
            added: "2024-01-01T00:00:00Z".into(),
            ..Default::default()
        }
    }

    #[test]
    fn images_tags_and_cascade() {
        let db = Db::open_in_memory().unwrap();
        assert!(db.put_image(&image("sha256:aaa1", "2020")).unwrap());
        assert!(!db.put_image(&image("sha256:aaa1", "2020")).unwrap());
        db.put_image(&image("sha256:aab2", "2021")).unwrap();
        let ids: Vec<_> = db
            .list_images()
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids, ["sha256:aab2", "sha256:aaa1"]);
        assert_eq!(db.image_ids_with_prefix("sha256:aa").unwrap().len(), 2);
        assert_eq!(
            db.image_ids_with_prefix("sha256:aab").unwrap(),
            ["sha256:aab2"]
        );
        assert!(db.image_ids_with_prefix("sha256:a%").unwrap().is_empty());

        assert_eq!(db.set_tag("x:latest", "sha256:aaa1", "t1").unwrap(), None);
        assert_eq!(
            db.get_image("sha256:aaa1")
                .unwrap()
                .unwrap()
                .last_tag_time
                .unwrap(),
            "t1"
        );
        // Moving a tag reports where it was.
        assert_eq!(
            db.set_tag("x:latest", "sha256:aab2", "t2")
                .unwrap()
                .as_deref(),
            Some("sha256:aaa1")
        );
        assert!(db.tags_for_image("sha256:aaa1").unwrap().is_empty());
        assert!(matches!(
            db.set_tag("y:1", "sha256:nope", "t"),
            Err(Error::NotFound(_))
        ));

        db.add_repo_digest("x@sha256:m", "sha256:aab2").unwrap();
        assert_eq!(
            db.repo_digests_for_image("sha256:aab2").unwrap(),
            ["x@sha256:m"]
        );
        db.delete_image("sha256:aab2").unwrap();
        assert!(db.get_tag("x:latest").unwrap().is_none(), "tags cascade");
        assert!(db.get_repo_digest("x@sha256:m").unwrap().is_none());
        assert!(matches!(
            db.delete_image("sha256:aab2"),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn layers_chain() {
        let db = Db::open_in_memory().unwrap();
        let base = LayerRow {
            chain_id: "c1".into(),
            diff_id: "d1".into(),
            parent: None,
            size: 5,
        };
        let top = LayerRow {
            chain_id: "c2".into(),
            diff_id: "d2".into(),
            parent: Some("c1".into()),
            size: 7,
        };
        assert!(db.put_layer(&base).unwrap());
        assert!(db.put_layer(&top).unwrap());
        assert!(!db.put_layer(&top).unwrap());
        assert_eq!(db.get_layer("c2").unwrap().unwrap(), top);
        assert!(db.delete_layer("c1").is_err(), "parent of a live layer");
        assert!(db.delete_layer("c2").unwrap());
        assert!(db.delete_layer("c1").unwrap());
        assert!(db.list_layers().unwrap().is_empty());
    }
}
