//! `import`: a root filesystem tar (plain, gzip or zstd) becomes a one-layer image, configured
//! by `--change` instructions.

use std::io::Read;

use berth_archive::Compression;
use berth_content::Digest;
use berth_types::api::ContainerConfig;
use berth_types::image::{History, ImageConfig, RootFs};

use crate::changes::apply_changes;
use crate::error::{Error, Result};
use crate::oci::{self, Descriptor, Manifest};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::now;
use crate::unpack::Added;
use crate::ImageStore;

impl ImageStore {
    /// Imports the root filesystem tar `src` as a new image and returns its ID. `reference`
    /// (`name[:tag]`) tags it; `changes` are Dockerfile instructions (CMD, ENTRYPOINT, ENV,
    /// EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL); `message` becomes the
    /// image's comment; `platform` (`os/arch[/variant]`) defaults to the host's.
    pub fn import(
        &self,
        src: impl Read,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
        platform: Option<&str>,
    ) -> Result<String> {
        // Everything the caller can get wrong is checked before any work is done.
        let tag = reference.map(Reference::parse).transpose()?;
        if let Some(t) = &tag {
            if t.digest.is_some() {
                return Err(Error::InvalidReference {
                    reference: t.to_string(),
                    reason: "cannot import with a digest reference".into(),
                });
            }
        }
        let platform = platform
            .filter(|p| !p.is_empty())
            .map_or_else(|| Ok(Platform::host()), Platform::parse)?;
        let mut run_config = ContainerConfig::default();
        apply_changes(&mut run_config, changes)?;

        let mut added = Added::default();
        match self.import_inner(src, tag, run_config, message, platform, &mut added) {
            Ok(id) => Ok(id),
            Err(e) => {
                self.rollback(added);
                Err(e)
            }
        }
    }

    fn import_inner(
        &self,
        src: impl Read,
        tag: Option<Reference>,
        run_config: ContainerConfig,
        message: Option<&str>,
        platform: Platform,
        added: &mut Added,
    ) -> Result<String> {
        let reference = format!("import-{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut w = self.content.writer(&reference)?;
        std::io::copy(&mut { src }, &mut w).map_err(|e| Error::Io {
            op: "reading import stream".into(),
            source: e,
        })?;
        let blob = self.commit_blob(w, None, None, added)?;

        let layer = self.unpack_layer(&blob, None, None, "import", 0, added)?;
        let created = now();
        let config = ImageConfig {
            architecture: Some(platform.architecture),
            os: Some(platform.os),
            variant: platform.variant,
            created: Some(created.clone()),
            comment: message.map(str::to_string),
            config: Some(run_config),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.to_string()],
            },
            history: vec![History {
                created: Some(created),
                comment: Some(
                    message.map_or_else(|| "Imported from -".to_string(), str::to_string),
                ),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidConfig {
            id: "import".into(),
            reason: e.to_string(),
        })?;
        let id = self.content.write_blob(&bytes, None)?;
        added.blobs.push(id.clone());
        let manifest = self.synthesize_manifest(&id, &[blob], &[layer.compression])?;
        added.blobs.push(manifest.clone());
        let names: Vec<String> = tag.iter().filter_map(|t| t.tagged_name()).collect();
        self.register(crate::store::Registration {
            id: &id,
            config: &config,
            top_chain: Some(&layer.chain),
            size: layer.size,
            manifest: Some(&manifest),
            tags: &names,
            parent: "",
        })?;
        Ok(id.to_string())
    }

    /// Writes an OCI manifest for an image that arrived without one (docker save's legacy
    /// layout, import), so that every image can later be saved or pushed the same way.
    pub(crate) fn synthesize_manifest(
        &self,
        config: &Digest,
        layers: &[Digest],
        compressions: &[Option<Compression>],
    ) -> Result<Digest> {
        let mut descs = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let compression = match compressions.get(i).copied().flatten() {
                Some(c) => c,
                None => {
                    let mut head = [0u8; 4];
                    let n = self.content.reader(l)?.read(&mut head).unwrap_or(0);
                    Compression::detect(&head[..n])
                }
            };
            let media_type = match compression {
                Compression::None => oci::MEDIA_OCI_LAYER,
                Compression::Gzip => oci::MEDIA_OCI_LAYER_GZIP,
                Compression::Zstd => oci::MEDIA_OCI_LAYER_ZSTD,
            };
            descs.push(Descriptor {
                media_type: media_type.into(),
                digest: l.to_string(),
                size: self.content.info(l)?.size as i64,
                ..Default::default()
            });
        }
        let m = Manifest {
            schema_version: 2,
            media_type: oci::MEDIA_OCI_MANIFEST.into(),
            config: Descriptor {
                media_type: oci::MEDIA_OCI_CONFIG.into(),
                digest: config.to_string(),
                size: self.content.info(config)?.size as i64,
                ..Default::default()
            },
            layers: descs,
        };
        let bytes = serde_json::to_vec(&m).map_err(|e| Error::InvalidConfig {
            id: config.to_string(),
            reason: e.to_string(),
        })?;
        Ok(self.content.write_blob(&bytes, None)?)
    }
}
