//! Push: every layer blob in parallel — skipped when the registry has it (`HEAD`), mounted
//! from another repository of the same registry when one is known to hold it, else uploaded
//! monolithically from the content store — then the config, then the manifest under the tag.
//! Progress is reported as dockerd does (`Preparing`, `Pushing`, `Layer already exists`,
//! `Mounted from`, `Pushed`, `<tag>: digest: … size: …` and an `aux` message).

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_content::{Digest, Store};
use berth_image::oci::Descriptor;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::progress::{self, Sink};
use crate::registry::Repository;
use crate::transport::Body;

const TICK: Duration = Duration::from_millis(100);

/// What to push: a manifest already in the content store whose blobs are all there too.
#[derive(Debug, Clone)]
pub struct PushSource {
    pub manifest: Bytes,
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    /// The layers' diff IDs (from the config), which name them in push progress.
    pub diff_ids: Vec<String>,
    /// Repositories (paths) of the same registry known to hold these layers.
    pub mount_from: Vec<String>,
}

/// Pushes `source` to `repo` as `tag`; returns the manifest digest and size.
pub async fn push(
    repo: Arc<Repository>,
    content: &Store,
    tag: &str,
    source: PushSource,
    sink: &Sink,
) -> Result<(Digest, usize)> {
    // dockerd names pushed layers by their diff IDs, top layer first.
    let ids: Vec<String> = (0..source.layers.len())
        .map(|i| progress::short(source.diff_ids.get(i).unwrap_or(&source.layers[i].digest)))
        .collect();
    for id in ids.iter().rev() {
        let _ = sink.send(progress::layer(id, "Preparing"));
    }
    let mut uploads = tokio::task::JoinSet::new();
    for (l, id) in source.layers.iter().zip(&ids).rev() {
        let (repo, content, sink, l) = (repo.clone(), content.clone(), sink.clone(), l.clone());
        let mounts = source.mount_from.clone();
        let show = Some((sink, id.clone()));
        uploads.spawn(async move { push_blob(&repo, &content, &l, &mounts, show).await });
    }
    let config = source.config.clone();
    let cfg_repo = repo.clone();
    let cfg_content = content.clone();
    uploads.spawn(async move { push_blob(&cfg_repo, &cfg_content, &config, &[], None).await });
    while let Some(r) = uploads.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                uploads.abort_all();
                return Err(e);
            }
            Err(e) => return Err(Error::Internal(format!("upload task: {e}"))),
        }
    }

    let digest = Digest::of(&source.manifest);
    let size = source.manifest.len();
    let r = repo
        .send(
            Method::PUT,
            &repo.url(&format!("manifests/{tag}")),
            &[(CONTENT_TYPE.as_str(), source.media_type.clone())],
            Some(crate::transport::full(source.manifest.clone())),
        )
        .await?;
    if !r.status().is_success() {
        return Err(repo.fail(&format!("manifest {tag}"), r).await);
    }
    let _ = sink.send(progress::status(
        None,
        &format!("{tag}: digest: {digest} size: {size}"),
    ));
    let _ = sink.send(json!({
        "progressDetail": {},
        "aux": { "Tag": tag, "Digest": digest.to_string(), "Size": size },
    }));
    Ok((digest, size))
}

/// Makes sure the registry has blob `d`; `sink` gets the layer's progress lines.
async fn push_blob(
    repo: &Repository,
    content: &Store,
    d: &Descriptor,
    mounts: &[String],
    show: Option<(Sink, String)>,
) -> Result<()> {
    let say = |s: &str| {
        if let Some((sink, id)) = &show {
            let _ = sink.send(progress::layer(id, s));
        }
    };
    let digest = Digest::parse(&d.digest)
        .map_err(|_| Error::InvalidManifest(format!("invalid digest {:?}", d.digest)))?;
    let r = repo
        .send(
            Method::HEAD,
            &repo.url(&format!("blobs/{digest}")),
            &[],
            None,
        )
        .await?;
    if r.status().is_success() {
        say("Layer already exists");
        return Ok(());
    }
    // Cross-repository mount: the registry links the blob without a byte sent.
    let mut upload_at = None;
    for from in mounts.iter().filter(|m| **m != repo.path) {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("mount", digest.as_str())
            .append_pair("from", from)
            .finish();
        let r = repo
            .send(
                Method::POST,
                &repo.url(&format!("blobs/uploads/?{q}")),
                &[(CONTENT_LENGTH.as_str(), "0".into())],
                Some(crate::transport::empty()),
            )
            .await?;
        match r.status() {
            StatusCode::CREATED => {
                say(&format!("Mounted from {from}"));
                return Ok(());
            }
            StatusCode::ACCEPTED => {
                upload_at = location(&r);
                break;
            }
            _ => {}
        }
    }
    let upload_at = match upload_at {
        Some(l) => l,
        None => {
            let r = repo
                .send(
                    Method::POST,
                    &repo.url("blobs/uploads/"),
                    &[(CONTENT_LENGTH.as_str(), "0".into())],
                    Some(crate::transport::empty()),
                )
                .await?;
            if r.status() != StatusCode::ACCEPTED {
                return Err(repo.fail("starting an upload", r).await);
            }
            location(&r).ok_or_else(|| Error::Registry("upload without Location".into()))?
        }
    };
    let size = content.info(&digest)?.size;
    let file = tokio::fs::File::from_std(content.reader(&digest)?);
    let body = file_body(file, size, show.clone());
    let sep = if upload_at.contains('?') { '&' } else { '?' };
    let r = repo
        .send(
            Method::PUT,
            &format!("{upload_at}{sep}digest={digest}"),
            &[
                (CONTENT_LENGTH.as_str(), size.to_string()),
                (CONTENT_TYPE.as_str(), "application/octet-stream".into()),
            ],
            Some(body),
        )
        .await?;
    if r.status() != StatusCode::CREATED {
        return Err(repo.fail(&format!("uploading {digest}"), r).await);
    }
    say("Pushed");
    Ok(())
}

/// The path and query of an upload's `Location` (absolute or relative).
fn location(r: &hyper::Response<hyper::body::Incoming>) -> Option<String> {
    let l = r.headers().get(LOCATION)?.to_str().ok()?;
    if l.starts_with('/') {
        return Some(l.to_string());
    }
    let uri: hyper::Uri = l.parse().ok()?;
    uri.path_and_query().map(|p| p.as_str().to_string())
}

/// A request body streaming `file`, reporting `Pushing` progress.
fn file_body(file: tokio::fs::File, size: u64, show: Option<(Sink, String)>) -> Body {
    struct St {
        file: tokio::fs::File,
        sent: u64,
        last: Instant,
    }
    let st = St {
        file,
        sent: 0,
        last: Instant::now() - TICK,
    };
    let stream = futures_util::stream::unfold(st, move |mut st| {
        let show = show.clone();
        async move {
            let mut buf = vec![0u8; 256 << 10];
            match st.file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    st.sent += n as u64;
                    if let Some((s, id)) = &show {
                        if st.last.elapsed() >= TICK || st.sent == size {
                            st.last = Instant::now();
                            let _ = s.send(progress::bar(id, "Pushing", st.sent, size));
                        }
                    }
                    Some((Ok(Frame::data(Bytes::from(buf))), st))
                }
                Err(e) => Some((Err(e), st)),
            }
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

/// Gathers what pushing image `manifest` (a digest in `store`) needs. Uncompressed layers
/// (from `load` or `import`) are gzipped once; the compressed blob is remembered under
/// `cache_dir` by the uncompressed digest, so later pushes reuse it. When a layer changed, a
/// Docker schema2 manifest is written for the push.
pub fn prepare(
    store: &Store,
    manifest: &Digest,
    cache_dir: &std::path::Path,
) -> Result<PushSource> {
    use berth_image::oci::{self, Manifest};
    let bytes = store.read_blob(manifest, crate::manifest::MAX_MANIFEST as u64)?;
    let mut m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidManifest(format!("manifest {manifest}: {e}")))?;
    let mut changed = false;
    for l in &mut m.layers {
        let d = Digest::parse(&l.digest)
            .map_err(|_| Error::InvalidManifest(format!("invalid digest {:?}", l.digest)))?;
        if !store.exists(&d) {
            return Err(Error::NotImplemented(format!(
                "layer {d} is not in the content store; this image cannot be pushed"
            )));
        }
        let mut head = [0u8; 4];
        let n = std::io::Read::read(&mut store.reader(&d)?, &mut head).unwrap_or(0);
        if head[..n].starts_with(&[0x1f, 0x8b]) || head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        {
            continue;
        }
        let gz = compressed(store, &d, cache_dir)?;
        l.digest = gz.to_string();
        l.size = store.info(&gz)?.size as i64;
        l.media_type = crate::manifest::MEDIA_DOCKER_LAYER.into();
        changed = true;
    }
    let (manifest, media_type) = if changed {
        m.media_type = oci::MEDIA_DOCKER_MANIFEST.into();
        m.config.media_type = crate::manifest::MEDIA_DOCKER_CONFIG.into();
        let b = serde_json::to_vec(&m).map_err(|e| Error::Internal(e.to_string()))?;
        store.write_blob(&b, None)?;
        (Bytes::from(b), oci::MEDIA_DOCKER_MANIFEST.to_string())
    } else {
        let mt = if m.media_type.is_empty() {
            oci::MEDIA_OCI_MANIFEST.to_string()
        } else {
            m.media_type.clone()
        };
        (Bytes::from(bytes), mt)
    };
    let config_digest = Digest::parse(&m.config.digest)
        .map_err(|_| Error::InvalidManifest(format!("invalid digest {:?}", m.config.digest)))?;
    let config: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&config_digest, 16 << 20)?)
            .map_err(|e| Error::InvalidManifest(format!("config {config_digest}: {e}")))?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(PushSource {
        manifest,
        media_type,
        config: m.config,
        layers: m.layers,
        diff_ids,
        mount_from: Vec::new(),
    })
}

/// The gzipped copy of uncompressed blob `d`, made once.
fn compressed(store: &Store, d: &Digest, cache_dir: &std::path::Path) -> Result<Digest> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::Internal(format!("compressing {d}: {e}"));
    let entry = cache_dir.join(d.hex());
    if let Ok(text) = std::fs::read_to_string(&entry) {
        if let Ok(gz) = Digest::parse(text.trim()) {
            if store.exists(&gz) {
                return Ok(gz);
            }
        }
    }
    let mut w = store.writer(&format!("push-gzip-{}-{}", d.hex(), std::process::id()))?;
    {
        let mut enc = flate2::write::GzEncoder::new(&mut w, flate2::Compression::fast());
        std::io::copy(&mut store.reader(d)?, &mut enc).map_err(io)?;
        enc.finish().map_err(io)?;
    }
    let gz = w.commit(None, None)?;
    std::fs::create_dir_all(cache_dir).map_err(io)?;
    let tmp = cache_dir.join(format!(".{}.{}", d.hex(), std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(gz.as_str().as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &entry).map_err(io)?;
    Ok(gz)
}
