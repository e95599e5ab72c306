//! Test support: a registry started in-process on an ephemeral loopback port, a small raw
//! HTTP/1.1 client (so the exact status codes and headers are visible), images built offline from
//! /bin/busybox as OCI layouts, and the external tools (`skopeo`, Debian's `docker-registry`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_registry::{Config, Server};
use sha2::{Digest as _, Sha256};

pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A registry in its own runtime and storage directory; stopped on drop.
pub struct Reg {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl Reg {
    pub fn start(edit: impl FnOnce(&mut Config, &Path)) -> Reg {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.http.addr = Some("127.0.0.1:0".into());
        cfg.storage.filesystem.rootdirectory = Some(dir.path().join("storage"));
        cfg.gc.grace = "0s".into();
        edit(&mut cfg, dir.path());
        Reg::with_config(cfg, dir)
    }

    pub fn with_config(cfg: Config, dir: tempfile::TempDir) -> Reg {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(Server::start(cfg)).expect("registry starts");
        let addr = server.addr();
        Reg {
            rt,
            server: Some(server),
            dir,
            addr,
        }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        http(self.addr, method, path, headers, body)
    }
}

impl Drop for Reg {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The first error code of a specification error body.
    pub fn code(&self) -> String {
        if self.body.is_empty() {
            return String::new();
        }
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    exchange(&mut s, &addr.to_string(), method, path, headers, body)
}

pub fn exchange<S: Read + Write>(
    s: &mut S,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    let mut has_len = false;
    for (k, v) in headers {
        has_len |=
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len && (!body.is_empty() || matches!(method, "PUT" | "POST" | "PATCH")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // The server may answer (and close) before taking a refused body: read the answer anyway.
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let _ = s.flush();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&raw)
}

pub fn parse(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = raw[end + 4..].to_vec();
    if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
    out
}

/// Pushes a blob monolithically and returns its digest.
pub fn push_blob(reg: &Reg, repo: &str, data: &[u8]) -> String {
    let d = sha(data);
    let r = reg.req(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[],
        data,
    );
    assert_eq!(r.status, 201, "{:?}", String::from_utf8_lossy(&r.body));
    d
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A minimal image manifest over a config and layers already pushed.
pub fn manifest_json(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(l), "size": l.len()
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Pushes config, layers and manifest; returns the manifest's digest.
pub fn push_image(reg: &Reg, repo: &str, tag: &str, config: &[u8], layers: &[&[u8]]) -> String {
    push_blob(reg, repo, config);
    for l in layers {
        push_blob(reg, repo, l);
    }
    let m = manifest_json(config, layers);
    let r = reg.req(
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", OCI_MANIFEST)],
        &m,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    sha(&m)
}

/// A layer tar holding busybox and a marker file that makes the layer (and image) unique.
pub fn busybox_layer(marker: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let bb =
        std::fs::read("/bin/busybox").expect("/bin/busybox (Debian's busybox-static) is needed");
    let mut h = tar::Header::new_gnu();
    h.set_size(bb.len() as u64);
    h.set_mode(0o755);
    h.set_mtime(0);
    b.append_data(&mut h, "bin/busybox", &bb[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(marker.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    b.append_data(&mut h, "marker", marker.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

pub fn image_config(arch: &str, layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
    }))
    .unwrap()
}

fn put_blob(dir: &Path, data: &[u8]) -> serde_json::Value {
    let d = sha(data);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    serde_json::json!({"digest": d, "size": data.len()})
}

/// Writes an OCI layout at `dir` whose `index.json` names one image (tag `ref_name`), or, with
/// several architectures, an image index of one image per architecture. Returns the digest of
/// the top manifest.
pub fn oci_layout(dir: &Path, ref_name: &str, marker: &str, arches: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut manifests = Vec::new();
    for arch in arches {
        let layer = busybox_layer(&format!("{marker}-{arch}"));
        let config = image_config(arch, &layer);
        let mut c = put_blob(dir, &config);
        c["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        // Compressed, as registries hold layers: skopeo would otherwise compress on push and
        // the manifest digest would change on the way.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer).unwrap();
        let mut l = put_blob(dir, &gz.finish().unwrap());
        l["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": c, "layers": [l],
        }))
        .unwrap();
        let mut md = put_blob(dir, &m);
        md["mediaType"] = OCI_MANIFEST.into();
        md["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
        manifests.push(md);
    }
    let mut top = if manifests.len() == 1 {
        manifests.pop().unwrap()
    } else {
        let idx = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests,
        }))
        .unwrap();
        let mut d = put_blob(dir, &idx);
        d["mediaType"] = OCI_INDEX.into();
        d
    };
    if let Some(o) = top.as_object_mut() {
        o.remove("platform");
    }
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": ref_name});
    let digest = top["digest"].as_str().unwrap().to_string();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]})).unwrap(),
    )
    .unwrap();
    digest
}

/// Runs skopeo (offline: only loopback registries), returning success and the combined output.
pub fn skopeo(args: &[&str]) -> (bool, String) {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("skopeo must be installed (apt-get install skopeo)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn skopeo_ok(args: &[&str]) -> String {
    let (ok, out) = skopeo(args);
    assert!(ok, "skopeo {args:?} failed:\n{out}");
    out
}

/// The digest of the manifest `image` (a skopeo image reference) as stored.
pub fn raw_digest(image: &str, extra: &[&str]) -> String {
    let mut args = vec!["inspect", "--raw"];
    args.extend_from_slice(extra);
    args.push(image);
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(&args)
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sha(&out.stdout)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's `docker-registry` (distribution 2.8) on a loopback port, as a peer.
pub struct Peer {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl Peer {
    pub fn start(extra_yaml: &str) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra_yaml}",
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
            .expect("docker-registry must be installed (apt-get install docker-registry)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "docker-registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Peer { child, dir, addr }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
