//! `load`: images from the archive `docker save` writes (legacy `<id>/layer.tar` layout and the
//! OCI-ish layout of Docker 25+) or from an OCI image layout tar.
//!
//! The archive is read once, front to back; every file goes into the content store (so its
//! digest is known and verified whatever order the archive lists things in), symlinks are
//! remembered. Then the manifests are checked in full — paths, digests, layer counts against
//! the configs' diff IDs — before any layer is unpacked, and images are recorded only after all
//! their layers are. Any failure takes back every blob and layer the load added.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use berth_archive::clean_path;
use berth_content::Digest;
use berth_types::image::ImageConfig;

use crate::error::{Error, Result};
use crate::oci::{self, Descriptor, Index, Manifest, SaveManifestEntry};
use crate::reference::Reference;
use crate::store::MAX_DOC_SIZE;
use crate::unpack::Added;
use crate::ImageStore;

/// One image a load recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// `sha256:<hex>` image ID.
    pub id: String,
    /// Tags set, in familiar form (`busybox:latest`).
    pub tags: Vec<String>,
    /// Tags that were moved here from another image: (familiar tag, previous image ID).
    pub replaced: Vec<(String, String)>,
}

impl LoadedImage {
    /// The lines `docker load` prints for this image.
    pub fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .replaced
            .iter()
            .map(|(t, old)| {
                format!(
                    "The image {t} already exists, renaming the old one with ID {old} to empty string"
                )
            })
            .collect();
        if self.tags.is_empty() {
            out.push(format!("Loaded image ID: {}", self.id));
        } else {
            out.extend(self.tags.iter().map(|t| format!("Loaded image: {t}")));
        }
        out
    }
}

/// An image planned for loading, fully validated.
struct Planned {
    id: Digest,
    config: ImageConfig,
    layers: Vec<Digest>,
    diff_ids: Vec<Digest>,
    tags: Vec<Reference>,
    manifest: Option<Digest>,
}

/// What the archive held: files by path (as blobs) and symlinks by path.
#[derive(Default)]
struct Archive {
    files: HashMap<PathBuf, (Digest, u64)>,
    links: HashMap<PathBuf, PathBuf>,
}

const MAX_LINK_HOPS: usize = 16;

impl Archive {
    fn lookup(&self, path: &str) -> Result<&(Digest, u64)> {
        let mut p = clean_path(Path::new(path))
            .map_err(|_| Error::InvalidArchive(format!("unsafe path {path:?} in manifest")))?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&p) {
                return Ok(f);
            }
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(Error::InvalidArchive(format!(
            "{path:?} is missing from the archive"
        )))
    }

    fn by_digest(&self, d: &Descriptor) -> Result<Digest> {
        let digest = Digest::parse(&d.digest)
            .map_err(|_| Error::InvalidArchive(format!("invalid digest {:?}", d.digest)))?;
        let (found, size) = self.lookup(&format!("blobs/sha256/{}", digest.hex()))?;
        if d.size > 0 && *size != d.size as u64 {
            return Err(Error::InvalidArchive(format!(
                "blob {digest} is {size} bytes, descriptor says {}",
                d.size
            )));
        }
        Ok(found.clone())
    }
}

impl ImageStore {
    /// Loads every image in the archive `src`. See the module documentation.
    pub fn load(&self, src: impl Read) -> Result<Vec<LoadedImage>> {
        let mut added = Added::default();
        let result = self.load_inner(src, &mut added);
        match result {
            Ok((loaded, keep)) => {
                // Archive files that are not part of any image (manifest.json, repositories,
                // legacy json/VERSION files) served their purpose.
                for b in added.blobs.iter().filter(|b| !keep.contains(*b)) {
                    let _ = self.content.delete(b);
                }
                Ok(loaded)
            }
            Err(e) => {
                self.rollback(added);
                Err(e)
            }
        }
    }

    fn load_inner(
        &self,
        src: impl Read,
        added: &mut Added,
    ) -> Result<(Vec<LoadedImage>, HashSet<Digest>)> {
        let archive = self.read_archive(src, added)?;
        let plans = if archive.files.contains_key(Path::new("manifest.json")) {
            self.plan_docker(&archive)?
        } else if archive.files.contains_key(Path::new("index.json")) {
            self.plan_oci(&archive)?
        } else {
            return Err(Error::InvalidArchive(
                "neither manifest.json (docker save) nor index.json (OCI layout) found".into(),
            ));
        };
        if plans.is_empty() {
            return Err(Error::InvalidArchive("the archive holds no images".into()));
        }

        let mut keep = HashSet::new();
        let mut unpacked = Vec::new();
        for p in &plans {
            let mut parent: Option<String> = None;
            let mut size = 0i64;
            let mut compressions = Vec::new();
            for (i, (blob, diff)) in p.layers.iter().zip(&p.diff_ids).enumerate() {
                let u = self.unpack_layer(
                    blob,
                    parent.as_deref(),
                    Some(diff),
                    p.id.as_str(),
                    i,
                    added,
                )?;
                size = size.saturating_add(u.size);
                compressions.push(u.compression);
                parent = Some(u.chain);
                keep.insert(blob.clone());
            }
            keep.insert(p.id.clone());
            let manifest = match &p.manifest {
                Some(m) => m.clone(),
                None => {
                    let m = self.synthesize_manifest(&p.id, &p.layers, &compressions)?;
                    if !added.blobs.contains(&m) {
                        added.blobs.push(m.clone());
                    }
                    m
                }
            };
            keep.insert(manifest.clone());
            unpacked.push((parent, size, manifest));
        }

        let mut loaded = Vec::new();
        for (p, (top, size, manifest)) in plans.iter().zip(unpacked) {
            let names: Vec<String> = p.tags.iter().filter_map(|t| t.tagged_name()).collect();
            let moved = self.register(crate::store::Registration {
                id: &p.id,
                config: &p.config,
                top_chain: top.as_deref(),
                size,
                manifest: Some(&manifest),
                tags: &names,
                parent: "",
            })?;
            loaded.push(LoadedImage {
                id: p.id.to_string(),
                tags: p.tags.iter().map(|t| t.familiar()).collect(),
                replaced: moved
                    .into_iter()
                    .map(|(t, old)| (crate::reference::familiar(&t), old))
                    .collect(),
            });
        }
        Ok((loaded, keep))
    }

    /// Reads the whole archive into the content store.
    fn read_archive(&self, src: impl Read, added: &mut Added) -> Result<Archive> {
        let mut archive = Archive::default();
        let mut tar = tar::Archive::new(src);
        let bad = |e: std::io::Error| Error::InvalidArchive(e.to_string());
        for (n, entry) in tar.entries().map_err(bad)?.enumerate() {
            let mut entry = entry.map_err(bad)?;
            let raw = entry.path().map_err(bad)?.into_owned();
            let path = clean_path(&raw).map_err(|_| {
                Error::InvalidArchive(format!("unsafe path {:?} in archive", raw.display()))
            })?;
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let reference = format!("load-{}-{n}", hex::encode(rand::random::<[u8; 8]>()));
                    let mut w = self.content.writer(&reference)?;
                    std::io::copy(&mut entry, &mut w).map_err(bad)?;
                    let size = w.written();
                    let digest = w.digest();
                    let digest = self.commit_blob(w, Some(size), Some(&digest), added)?;
                    // Blob files name their own digest: check it.
                    if let Some(name) = path
                        .strip_prefix("blobs/sha256")
                        .ok()
                        .and_then(|p| p.to_str())
                    {
                        if name != digest.hex() {
                            return Err(Error::InvalidArchive(format!(
                                "blob {} has digest {digest}",
                                path.display()
                            )));
                        }
                    }
                    archive.files.insert(path, (digest, size));
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name()
                        .map_err(bad)?
                        .ok_or_else(|| Error::InvalidArchive("symlink without target".into()))?;
                    let joined = path.parent().unwrap_or(Path::new("")).join(&target);
                    let resolved = normalize_within(&joined).ok_or_else(|| {
                        Error::InvalidArchive(format!(
                            "symlink {} -> {} leaves the archive",
                            path.display(),
                            target.display()
                        ))
                    })?;
                    archive.links.insert(path, resolved);
                }
                _ => {}
            }
        }
        Ok(archive)
    }

    fn read_config(&self, id: &Digest) -> Result<ImageConfig> {
        let bytes = self.content.read_blob(id, MAX_DOC_SIZE)?;
        let config: ImageConfig =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidConfig {
                id: id.to_string(),
                reason: e.to_string(),
            })?;
        if config.rootfs.kind != "layers" {
            return Err(Error::InvalidConfig {
                id: id.to_string(),
                reason: format!("rootfs type {:?}, expected \"layers\"", config.rootfs.kind),
            });
        }
        Ok(config)
    }

    fn diff_ids(&self, id: &Digest, config: &ImageConfig, layers: usize) -> Result<Vec<Digest>> {
        let diff_ids = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidConfig {
                id: id.to_string(),
                reason: e.to_string(),
            })?;
        if diff_ids.len() != layers {
            return Err(Error::InvalidArchive(format!(
                "image {id} lists {layers} layers but its config has {} diff IDs",
                diff_ids.len()
            )));
        }
        Ok(diff_ids)
    }

    fn plan_docker(&self, archive: &Archive) -> Result<Vec<Planned>> {
        let (m, _) = archive.lookup("manifest.json")?;
        let bytes = self.content.read_blob(m, MAX_DOC_SIZE)?;
        let entries: Vec<SaveManifestEntry> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidArchive(format!("manifest.json: {e}")))?;
        let mut plans = Vec::new();
        for e in entries {
            let (id, _) = archive.lookup(&e.config)?;
            let config = self.read_config(id)?;
            let layers = e
                .layers
                .iter()
                .map(|l| archive.lookup(l).map(|(d, _)| d.clone()))
                .collect::<Result<Vec<_>>>()?;
            let diff_ids = self.diff_ids(id, &config, layers.len())?;
            let tags = e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse(t))
                .collect::<Result<Vec<_>>>()?;
            plans.push(Planned {
                id: id.clone(),
                config,
                layers,
                diff_ids,
                tags,
                manifest: None,
            });
        }
        Ok(plans)
    }

    fn plan_oci(&self, archive: &Archive) -> Result<Vec<Planned>> {
        if let Ok((layout, _)) = archive.lookup("oci-layout") {
            let v: serde_json::Value =
                serde_json::from_slice(&self.content.read_blob(layout, 4096)?)
                    .map_err(|e| Error::InvalidArchive(format!("oci-layout: {e}")))?;
            if v.get("imageLayoutVersion")
                .and_then(|v| v.as_str())
                .is_none()
            {
                return Err(Error::InvalidArchive(
                    "oci-layout lacks imageLayoutVersion".into(),
                ));
            }
        }
        let (index, _) = archive.lookup("index.json")?;
        let index: Index = serde_json::from_slice(&self.content.read_blob(index, MAX_DOC_SIZE)?)
            .map_err(|e| Error::InvalidArchive(format!("index.json: {e}")))?;
        let mut plans: Vec<Planned> = Vec::new();
        for desc in &index.manifests {
            let tag = desc.annotations.as_ref().and_then(|a| {
                a.get(oci::ANNOTATION_CONTAINERD_NAME).or_else(|| {
                    a.get(oci::ANNOTATION_REF_NAME)
                        .filter(|n| n.contains(['/', ':']))
                })
            });
            let tag = tag.map(|t| Reference::parse(t)).transpose()?;
            let manifest = self.pick_manifest(archive, desc, 0)?;
            let bytes = self.content.read_blob(&manifest, MAX_DOC_SIZE)?;
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| Error::InvalidArchive(format!("manifest {manifest}: {e}")))?;
            let id = archive.by_digest(&m.config)?;
            let config = self.read_config(&id)?;
            let layers = m
                .layers
                .iter()
                .map(|l| archive.by_digest(l))
                .collect::<Result<Vec<_>>>()?;
            let diff_ids = self.diff_ids(&id, &config, layers.len())?;
            // One image may be listed under several names.
            if let Some(p) = plans.iter_mut().find(|p| p.id == id) {
                p.tags.extend(tag);
                continue;
            }
            plans.push(Planned {
                id,
                config,
                layers,
                diff_ids,
                tags: tag.into_iter().collect(),
                manifest: Some(manifest),
            });
        }
        Ok(plans)
    }

    /// The image manifest `desc` names, choosing this host's platform from an index.
    fn pick_manifest(&self, archive: &Archive, desc: &Descriptor, depth: usize) -> Result<Digest> {
        let digest = archive.by_digest(desc)?;
        let bytes = self.content.read_blob(&digest, MAX_DOC_SIZE)?;
        let media = if desc.media_type.is_empty() {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default()
        } else {
            desc.media_type.clone()
        };
        if !oci::is_index(&media) {
            return Ok(digest);
        }
        if depth > 4 {
            return Err(Error::InvalidArchive("indexes nested too deep".into()));
        }
        let index: Index = serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidArchive(format!("index {digest}: {e}")))?;
        let (os, arch) = crate::platform::host();
        let candidates: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| {
                // Attestations (buildx provenance) are not images.
                !d.annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("vnd.docker.reference.type"))
            })
            .collect();
        let chosen = candidates
            .iter()
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == os && p.architecture == arch)
            })
            .or_else(|| {
                if candidates.len() == 1 {
                    candidates.first()
                } else {
                    None
                }
            })
            .ok_or_else(|| {
                Error::InvalidArchive(format!("index {digest} has no image for {os}/{arch}"))
            })?;
        self.pick_manifest(archive, chosen, depth + 1)
    }
}

/// Lexically normalises a path inside the archive; `None` if it climbs out.
fn normalize_within(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}
