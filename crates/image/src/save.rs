//! `save`: images as one archive in the layout Docker 25+ writes, which is both an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/…`) and a `docker save` archive
//! (`manifest.json`, `repositories`) whose paths point into the same blobs. Layers are written
//! uncompressed, named by their diff ID, so that every loader — old Docker, new Docker,
//! containerd, skopeo — finds what it expects; a shared layer is written once.
//!
//! Names are resolved before a byte is written ([`ImageStore::save_plan`]), so that a missing
//! image is an error rather than a truncated archive.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, Write};

use berth_archive::decompress;
use berth_content::Digest;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::oci::{self, Descriptor, Manifest};
use crate::reference::{familiar, Reference};
use crate::store::{Matched, MAX_DOC_SIZE};
use crate::ImageStore;

/// The images a save will write, resolved.
#[derive(Debug, Clone)]
pub struct SavePlan {
    images: Vec<SaveImage>,
}

#[derive(Debug, Clone)]
struct SaveImage {
    id: Digest,
    /// Normalised names (`docker.io/library/busybox:latest`).
    tags: Vec<String>,
    diff_ids: Vec<Digest>,
    /// The stored layer blobs (possibly compressed), in order.
    blobs: Vec<Digest>,
}

impl ImageStore {
    /// Resolves `names` for [`ImageStore::save`]. A name with a tag saves that tag; a bare
    /// repository name saves every tag of the repository (Docker's rule); an ID saves the image
    /// with no names.
    pub fn save_plan(&self, names: &[String]) -> Result<SavePlan> {
        let mut images: Vec<SaveImage> = Vec::new();
        for name in names {
            let (rec, matched) = self.resolve_matched(name)?;
            let mut tags = Vec::new();
            if let Matched::Name(_) = matched {
                if let Ok(r) = Reference::parse(name) {
                    if r.digest.is_some() {
                        // Saved by digest: no tag to record.
                    } else if r.tag.is_some() && has_explicit_tag(name) {
                        tags.extend(r.tagged_name());
                    } else {
                        let repo = r.repository();
                        for t in self.db.list_tags()? {
                            if t.name.rsplit_once(':').is_some_and(|(r, _)| r == repo) {
                                tags.push(t.name);
                            }
                        }
                    }
                }
            }
            let mut group: Vec<(String, Digest)> = Vec::new();
            if tags.is_empty() {
                group.push((String::new(), Digest::parse(&rec.id).map_err(bad_id)?));
            }
            for t in tags {
                let id = match self.db.get_tag(&t)? {
                    Some(row) => row.image_id,
                    None => continue,
                };
                group.push((t, Digest::parse(&id).map_err(bad_id)?));
            }
            for (tag, id) in group {
                if let Some(img) = images.iter_mut().find(|i| i.id == id) {
                    if !tag.is_empty() && !img.tags.contains(&tag) {
                        img.tags.push(tag);
                    }
                    continue;
                }
                images.push(self.save_image(&id, tag)?);
            }
        }
        Ok(SavePlan { images })
    }

    fn save_image(&self, id: &Digest, tag: String) -> Result<SaveImage> {
        let config = self.config(id.as_str())?;
        let diff_ids = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d).map_err(bad_id))
            .collect::<Result<Vec<_>>>()?;
        let row = self
            .db
            .get_image(id.as_str())?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let manifest = row
            .manifest
            .as_deref()
            .ok_or_else(|| Error::InvalidArchive(format!("image {id} has no manifest")))?;
        let manifest = Digest::parse(manifest).map_err(bad_id)?;
        let m: Manifest = serde_json::from_slice(&self.content.read_blob(&manifest, MAX_DOC_SIZE)?)
            .map_err(|e| Error::InvalidConfig {
                id: id.to_string(),
                reason: format!("manifest: {e}"),
            })?;
        let blobs = m
            .layers
            .iter()
            .map(|l| Digest::parse(&l.digest).map_err(bad_id))
            .collect::<Result<Vec<_>>>()?;
        if blobs.len() != diff_ids.len() {
            return Err(Error::InvalidConfig {
                id: id.to_string(),
                reason: "manifest and config disagree on the number of layers".into(),
            });
        }
        Ok(SaveImage {
            id: id.clone(),
            tags: if tag.is_empty() { vec![] } else { vec![tag] },
            diff_ids,
            blobs,
        })
    }

    /// Writes the archive of `plan` to `out`.
    pub fn save(&self, plan: &SavePlan, out: impl Write) -> Result<()> {
        let mut b = tar::Builder::new(out);
        let io_err = |e: io::Error| Error::Io {
            op: "writing the image archive".into(),
            source: e,
        };
        append_dir(&mut b, "blobs/").map_err(io_err)?;
        append_dir(&mut b, "blobs/sha256/").map_err(io_err)?;
        let mut written: HashSet<Digest> = HashSet::new();
        let mut index = Vec::new();
        let mut manifest_json = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for img in &plan.images {
            let mut layer_descs = Vec::new();
            for (blob, diff) in img.blobs.iter().zip(&img.diff_ids) {
                let size = self.write_layer(&mut b, blob, diff, &mut written)?;
                layer_descs.push(Descriptor {
                    media_type: oci::MEDIA_OCI_LAYER.into(),
                    digest: diff.to_string(),
                    size: size as i64,
                    ..Default::default()
                });
            }
            let config = self.content.read_blob(&img.id, MAX_DOC_SIZE)?;
            append_blob(&mut b, &img.id, &config, &mut written).map_err(io_err)?;
            let m = Manifest {
                schema_version: 2,
                media_type: oci::MEDIA_OCI_MANIFEST.into(),
                config: Descriptor {
                    media_type: oci::MEDIA_OCI_CONFIG.into(),
                    digest: img.id.to_string(),
                    size: config.len() as i64,
                    ..Default::default()
                },
                layers: layer_descs,
            };
            let mbytes = serde_json::to_vec(&m).map_err(|e| Error::InvalidConfig {
                id: img.id.to_string(),
                reason: e.to_string(),
            })?;
            let mdigest = Digest::of(&mbytes);
            append_blob(&mut b, &mdigest, &mbytes, &mut written).map_err(io_err)?;
            let desc = |annotations: Option<serde_json::Value>| {
                let mut d = json!({
                    "mediaType": oci::MEDIA_OCI_MANIFEST,
                    "digest": mdigest.to_string(),
                    "size": mbytes.len(),
                });
                if let Some(a) = annotations {
                    d["annotations"] = a;
                }
                d
            };
            if img.tags.is_empty() {
                index.push(desc(None));
            }
            let mut familiar_tags = Vec::new();
            for t in &img.tags {
                let short = familiar(t);
                let (repo, tag) = short.rsplit_once(':').unwrap_or((&short, "latest"));
                index.push(desc(Some(json!({
                    oci::ANNOTATION_CONTAINERD_NAME: t,
                    oci::ANNOTATION_REF_NAME: tag,
                }))));
                if let Some(top) = img.diff_ids.last() {
                    repositories
                        .entry(repo.to_string())
                        .or_default()
                        .insert(tag.to_string(), top.hex().to_string());
                }
                familiar_tags.push(short.clone());
            }
            manifest_json.push(json!({
                "Config": format!("blobs/sha256/{}", img.id.hex()),
                "RepoTags": if familiar_tags.is_empty() { serde_json::Value::Null } else { json!(familiar_tags) },
                "Layers": img.diff_ids.iter().map(|d| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
            }));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": oci::MEDIA_OCI_INDEX,
            "manifests": index,
        });
        let doc = |v: &serde_json::Value| serde_json::to_vec(v).unwrap_or_default();
        append_file(&mut b, "index.json", &doc(&index)).map_err(io_err)?;
        append_file(&mut b, "manifest.json", &doc(&json!(manifest_json))).map_err(io_err)?;
        append_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err)?;
        if !repositories.is_empty() {
            append_file(&mut b, "repositories", &doc(&json!(repositories))).map_err(io_err)?;
        }
        b.into_inner().map_err(io_err)?.flush().map_err(io_err)?;
        Ok(())
    }

    /// Writes layer `diff` (stored as `blob`) uncompressed as `blobs/sha256/<diff>` unless
    /// already written, verifying the diff ID on the way. Returns its size.
    fn write_layer<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        blob: &Digest,
        diff: &Digest,
        written: &mut HashSet<Digest>,
    ) -> Result<u64> {
        let io_err = |e: io::Error| Error::Io {
            op: format!("saving layer {diff}"),
            source: e,
        };
        if blob == diff {
            let size = self.content.info(blob)?.size;
            if written.insert(diff.clone()) {
                let f = self.content.reader(blob)?;
                append_reader(b, &format!("blobs/sha256/{}", diff.hex()), size, f)
                    .map_err(io_err)?;
            }
            return Ok(size);
        }
        // Compressed in the store: the archive needs the size before the bytes, so decompress
        // into an anonymous file first (gone by itself if we are killed).
        let tmp_dir = self
            .content
            .blob_path(blob)
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.to_path_buf())
            .unwrap_or_else(std::env::temp_dir);
        let mut tmp: File = tempfile::tempfile_in(tmp_dir).map_err(io_err)?;
        let (_, mut r) = decompress(self.content.reader(blob)?).map_err(io_err)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = r.read(&mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io_err)?;
            size += n as u64;
        }
        let actual = Digest::from_sha256(hasher.finalize().into());
        if actual != *diff {
            return Err(Error::DiffIdMismatch {
                image: blob.to_string(),
                index: 0,
                expected: diff.to_string(),
                actual: actual.to_string(),
            });
        }
        if written.insert(diff.clone()) {
            tmp.rewind().map_err(io_err)?;
            append_reader(b, &format!("blobs/sha256/{}", diff.hex()), size, tmp).map_err(io_err)?;
        }
        Ok(size)
    }
}

fn bad_id(e: berth_content::Error) -> Error {
    Error::InvalidArchive(e.to_string())
}

/// Whether the user wrote a tag (`repo:tag`), as opposed to a bare repository that a registry
/// port's colon might make look tagged.
fn has_explicit_tag(name: &str) -> bool {
    name.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/'))
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    b.append_data(&mut h, path, io::empty())
}

fn append_file<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) -> io::Result<()> {
    append_reader(b, path, data.len() as u64, data)
}

fn append_reader<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    r: impl Read,
) -> io::Result<()> {
    let mut h = header(tar::EntryType::Regular, size, 0o644);
    b.append_data(&mut h, path, r)
}

fn append_blob<W: Write>(
    b: &mut tar::Builder<W>,
    digest: &Digest,
    data: &[u8],
    written: &mut HashSet<Digest>,
) -> io::Result<()> {
    if !written.insert(digest.clone()) {
        return Ok(());
    }
    append_file(b, &format!("blobs/sha256/{}", digest.hex()), data)
}
