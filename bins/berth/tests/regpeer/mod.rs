//! Registry peers for the distribution tests: Debian's `docker-registry`, Berth's own
//! `berth registry serve`, and a scripted fake registry that misbehaves on purpose (corrupt,
//! truncated, broken-then-resumed and slow blobs). Images are pushed with plain HTTP requests
//! built here, so the tests depend on no client we wrote.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest as _;

pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(host: &str) {
    let start = Instant::now();
    while TcpStream::connect(host).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "registry on {host} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A registry process on a loopback port, killed on drop.
pub struct Registry {
    child: Child,
    pub dir: tempfile::TempDir,
    pub host: String,
}

impl Registry {
    /// Debian's docker-registry (distribution 2.8).
    pub fn docker() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("127.0.0.1:{}", free_port());
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry must be installed (scripts/deps.sh)");
        wait_port(&host);
        Registry { child, dir, host }
    }

    /// `berth registry serve` on storage `storage` (a fresh one when `None`) with `args`.
    pub fn berth(storage: Option<&Path>, args: &[&str]) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("127.0.0.1:{}", free_port());
        let storage = storage
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.path().join("data"));
        let child = Command::new(super::common::BERTH)
            .args(["registry", "serve", "--addr", &host, "--storage"])
            .arg(&storage)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_port(&host);
        Registry { child, dir, host }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange (Connection: close): (status, lower-cased headers, body).
pub fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, HashMap<String, String>, Vec<u8>) {
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let hdrs: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if hdrs
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let n =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[i + 2..i + 2 + n]);
            rest = &rest[i + 2 + n + 2..];
        }
        body = out;
    }
    (status, hdrs, body)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Pushes a blob monolithically (`POST …/uploads/?digest=`, then a `PUT` for registries that
/// want the two-step form).
pub fn push_blob(host: &str, repo: &str, data: &[u8]) -> String {
    let d = sha(data);
    let (st, h, _) = http(
        host,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        &[],
    );
    assert_eq!(st, 202, "starting an upload");
    let loc = h["location"].clone();
    let loc = loc
        .strip_prefix(&format!("http://{host}"))
        .unwrap_or(&loc)
        .to_string();
    let sep = if loc.contains('?') { '&' } else { '?' };
    let (st, _, body) = http(
        host,
        "PUT",
        &format!("{loc}{sep}digest={d}"),
        &[("Content-Type", "application/octet-stream")],
        data,
    );
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    d
}

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// An image config over uncompressed `layers`.
pub fn config_for(layers: &[Vec<u8>], arch: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha(l)).collect::<Vec<_>>()},
        "history": layers.iter().map(|_| serde_json::json!({"created_by": "test"})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// A Docker schema2 manifest over `config` and compressed `blobs`.
pub fn manifest_for(config: &[u8], blobs: &[Vec<u8>], layer_type: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "digest": sha(config), "size": config.len()},
        "layers": blobs.iter().map(|b| serde_json::json!({
            "mediaType": layer_type, "digest": sha(b), "size": b.len()
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Pushes an image of uncompressed `layers` (gzipped on the way) as `repo:tag`; returns the
/// manifest digest.
pub fn push_image(host: &str, repo: &str, tag: &str, layers: &[Vec<u8>]) -> String {
    let blobs: Vec<Vec<u8>> = layers.iter().map(|l| gzip(l)).collect();
    let config = config_for(layers, "amd64");
    push_blob(host, repo, &config);
    for b in &blobs {
        push_blob(host, repo, b);
    }
    let m = manifest_for(&config, &blobs, DOCKER_LAYER);
    put_manifest(host, repo, tag, DOCKER_MANIFEST, &m)
}

pub fn put_manifest(host: &str, repo: &str, tag: &str, media: &str, m: &[u8]) -> String {
    let (st, _, body) = http(
        host,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", media)],
        m,
    );
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    sha(m)
}

/// A tar of `(path, contents)`; a path ending in `/` is a directory.
pub fn tar_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, path, std::io::empty()).unwrap();
        } else {
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, data.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// The busybox rootfs as a layer.
pub fn busybox_layer() -> Vec<u8> {
    std::fs::read(super::common::busybox_rootfs_tar()).unwrap()
}

/// How the fake registry serves one blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blob {
    Normal,
    /// Same length, different bytes.
    Corrupt,
    /// Announces the full length, sends half, closes.
    Truncated,
    /// The first request breaks off halfway; later ones honour `Range`.
    BreaksOnce,
    /// Sends in small pieces with pauses (a download that takes a while).
    Slow,
}

/// A scripted registry: fixed manifests and blobs, behaviours per blob, request counts.
pub struct Fake {
    pub host: String,
    pub manifests: Shared<(String, Vec<u8>)>,
    pub blobs: Shared<(Vec<u8>, Blob)>,
    pub hits: Shared<usize>,
}

impl Fake {
    pub fn start() -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = l.local_addr().unwrap().to_string();
        let f = Fake {
            host,
            manifests: Default::default(),
            blobs: Default::default(),
            hits: Default::default(),
        };
        let (m, b, h) = (f.manifests.clone(), f.blobs.clone(), f.hits.clone());
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (m, b, h) = (m.clone(), b.clone(), h.clone());
                std::thread::spawn(move || serve(s, &m, &b, &h));
            }
        });
        f
    }

    /// Adds an image (uncompressed `layers`, each with a behaviour) under `repo:tag`.
    pub fn add_image(&self, repo: &str, tag: &str, layers: &[(Vec<u8>, Blob)]) -> String {
        let tars: Vec<Vec<u8>> = layers.iter().map(|(l, _)| l.clone()).collect();
        let blobs: Vec<Vec<u8>> = tars.iter().map(|l| gzip(l)).collect();
        let config = config_for(&tars, "amd64");
        self.blobs
            .lock()
            .unwrap()
            .insert(sha(&config), (config.clone(), Blob::Normal));
        for (blob, (_, how)) in blobs.iter().zip(layers) {
            self.blobs
                .lock()
                .unwrap()
                .insert(sha(blob), (blob.clone(), *how));
        }
        let m = manifest_for(&config, &blobs, DOCKER_LAYER);
        self.add_manifest(repo, tag, DOCKER_MANIFEST, &m);
        sha(&m)
    }

    pub fn add_manifest(&self, repo: &str, tag: &str, media: &str, m: &[u8]) {
        let mut ms = self.manifests.lock().unwrap();
        ms.insert(format!("{repo}:{tag}"), (media.into(), m.to_vec()));
        ms.insert(format!("{repo}:{}", sha(m)), (media.into(), m.to_vec()));
    }

    pub fn set_blob(&self, digest: &str, how: Blob) {
        if let Some(b) = self.blobs.lock().unwrap().get_mut(digest) {
            b.1 = how;
        }
    }

    pub fn hits(&self, path_part: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains(path_part))
            .map(|(_, v)| v)
            .sum()
    }
}

type Shared<T> = Arc<Mutex<HashMap<String, T>>>;

fn serve(
    mut s: TcpStream,
    manifests: &Shared<(String, Vec<u8>)>,
    blobs: &Shared<(Vec<u8>, Blob)>,
    hits: &Shared<usize>,
) {
    // A TLS probe never ends its "headers": give up on it.
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut first = head.lines().next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let range: Option<u64> = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if !k.eq_ignore_ascii_case("range") {
            return None;
        }
        v.trim()
            .strip_prefix("bytes=")?
            .trim_end_matches('-')
            .parse()
            .ok()
    });
    let count = {
        let mut h = hits.lock().unwrap();
        // Ranged requests are counted apart too: `hits("#range=")` finds them.
        let key = match range {
            Some(off) => format!("{path}#range={off}"),
            None => path.clone(),
        };
        *h.entry(key).or_insert(0) += 1;
        h.iter()
            .filter(|(k, _)| k.split('#').next() == Some(path.as_str()))
            .map(|(_, v)| *v)
            .sum::<usize>()
    };
    let reply = |s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]| {
        let mut r = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str("\r\n");
        let _ = s.write_all(r.as_bytes());
        if method != "HEAD" {
            let _ = s.write_all(body);
        }
    };
    if path == "/v2/" {
        return reply(&mut s, "200 OK", &[("Content-Length", "2".into())], b"{}");
    }
    let not_found = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
    if let Some((repo, reference)) = path
        .strip_prefix("/v2/")
        .and_then(|p| p.split_once("/manifests/"))
    {
        let found = manifests
            .lock()
            .unwrap()
            .get(&format!("{repo}:{reference}"))
            .cloned();
        return match found {
            Some((media, m)) => reply(
                &mut s,
                "200 OK",
                &[
                    ("Content-Type", media),
                    ("Docker-Content-Digest", sha(&m)),
                    ("Content-Length", m.len().to_string()),
                ],
                &m,
            ),
            None => reply(
                &mut s,
                "404 Not Found",
                &[("Content-Length", not_found.len().to_string())],
                not_found,
            ),
        };
    }
    let Some(digest) = path.split("/blobs/").nth(1) else {
        return reply(
            &mut s,
            "404 Not Found",
            &[("Content-Length", "0".into())],
            b"",
        );
    };
    let Some((data, how)) = blobs.lock().unwrap().get(digest).cloned() else {
        return reply(
            &mut s,
            "404 Not Found",
            &[("Content-Length", "0".into())],
            b"",
        );
    };
    let len = data.len();
    // The blob from `off` on: all of it (200), or the rest of it for a `Range` (206).
    let whole_or_rest = |s: &mut TcpStream, off: usize| {
        if off == 0 {
            return reply(s, "200 OK", &[("Content-Length", len.to_string())], &data);
        }
        reply(
            s,
            "206 Partial Content",
            &[
                ("Content-Length", (len - off).to_string()),
                ("Content-Range", format!("bytes {off}-{}/{len}", len - 1)),
            ],
            &data[off..],
        )
    };
    match how {
        Blob::Normal => match range {
            Some(off) if (off as usize) < len => whole_or_rest(&mut s, off as usize),
            _ => whole_or_rest(&mut s, 0),
        },
        Blob::Corrupt => {
            let mut bad = data.clone();
            for b in bad.iter_mut().skip(len / 2).take(16) {
                *b ^= 0xff;
            }
            reply(
                &mut s,
                "200 OK",
                &[("Content-Length", len.to_string())],
                &bad,
            )
        }
        Blob::Truncated => reply(
            &mut s,
            "200 OK",
            &[("Content-Length", len.to_string())],
            &data[..len / 2],
        ),
        Blob::BreaksOnce => match range {
            Some(off) if count > 1 => whole_or_rest(&mut s, off as usize),
            _ if count > 1 => whole_or_rest(&mut s, 0),
            _ => reply(
                &mut s,
                "200 OK",
                &[("Content-Length", len.to_string())],
                &data[..len / 2],
            ),
        },
        Blob::Slow => {
            let _ = s.write_all(
                format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n")
                    .as_bytes(),
            );
            for chunk in data.chunks((len / 40).max(1)) {
                if s.write_all(chunk).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
