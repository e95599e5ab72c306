//! Load generator for `bench/registry.sh`: N concurrent clients, each pulling one big image
//! (manifest and every blob, bodies drained) and pushing an image of its own (chunked layer
//! upload, config, manifest), for several rounds. Prints one JSON line with throughput and
//! latency percentiles. Speaks plain HTTP/1.1 over keep-alive connections, to any registry.
//!
//! ```text
//! loadgen seed  HOST:PORT REPO:TAG LAYERS MB_PER_LAYER
//! loadgen run   HOST:PORT REPO:TAG CLIENTS ROUNDS PUSH_MB
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};

type Err = Box<dyn std::error::Error + Send + Sync>;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

struct Conn {
    addr: String,
    send: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(addr: &str) -> Conn {
        Conn {
            addr: addr.to_string(),
            send: None,
        }
    }

    async fn req(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Response<hyper::body::Incoming>, Err> {
        if self.send.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(&self.addr).await?;
            stream.set_nodelay(true)?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            self.send = Some(send);
        }
        let send = self.send.as_mut().ok_or("no connection")?;
        send.ready().await?;
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("Host", &self.addr);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        Ok(send.send_request(b.body(Full::new(body))?).await?)
    }

    /// Sends a request, drains the body, returns status, Location and byte count.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, Option<String>, u64, Vec<u8>), Err> {
        let r = self.req(method, path, headers, body).await?;
        let status = r.status().as_u16();
        let loc = r
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = r.into_body();
        let mut n = 0u64;
        let mut keep = Vec::new();
        while let Some(f) = body.frame().await {
            if let Ok(d) = f?.into_data() {
                n += d.len() as u64;
                if keep.len() < (4 << 20) {
                    keep.extend_from_slice(&d);
                }
            }
        }
        Ok((status, loc, n, keep))
    }
}

/// The path (and query) part of a Location, which may be absolute (distribution) or not.
fn path_of(loc: &str) -> String {
    match loc.find("://") {
        Some(i) => loc[i + 3..]
            .find('/')
            .map(|j| loc[i + 3 + j..].to_string())
            .unwrap_or_default(),
        None => loc.to_string(),
    }
}

async fn push_blob(c: &mut Conn, repo: &str, data: Bytes) -> Result<String, Err> {
    let d = sha(&data);
    let (st, _, _, _) = c
        .call("HEAD", &format!("/v2/{repo}/blobs/{d}"), &[], Bytes::new())
        .await?;
    if st == 200 {
        return Ok(d);
    }
    let (st, loc, _, _) = c
        .call(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            Bytes::new(),
        )
        .await?;
    if st != 202 {
        return Err(format!("POST upload: {st}").into());
    }
    let loc = path_of(&loc.ok_or("no Location")?);
    let len = data.len().to_string();
    let range = format!("0-{}", data.len().saturating_sub(1));
    let (st, loc2, _, _) = c
        .call(
            "PATCH",
            &loc,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
                ("Content-Length", &len),
            ],
            data,
        )
        .await?;
    if st != 202 {
        return Err(format!("PATCH: {st}").into());
    }
    let loc = path_of(&loc2.unwrap_or(loc));
    let sep = if loc.contains('?') { '&' } else { '?' };
    let (st, _, _, _) = c
        .call(
            "PUT",
            &format!("{loc}{sep}digest={d}"),
            &[("Content-Length", "0")],
            Bytes::new(),
        )
        .await?;
    if st != 201 {
        return Err(format!("PUT upload: {st}").into());
    }
    Ok(d)
}

async fn push_image(c: &mut Conn, repo: &str, tag: &str, layers: Vec<Bytes>) -> Result<(), Err> {
    let mut descs = Vec::new();
    for l in layers {
        let size = l.len();
        let d = push_blob(c, repo, l).await?;
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": size}));
    }
    let config = Bytes::from(serde_json::to_vec(
        &serde_json::json!({"architecture": "amd64", "os": "linux", "tag": tag, "rootfs": {"type": "layers", "diff_ids": []}}),
    )?);
    let csize = config.len();
    let cd = push_blob(c, repo, config).await?;
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": csize},
        "layers": descs,
    }))?;
    let (st, _, _, body) = c
        .call(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", MANIFEST)],
            Bytes::from(m),
        )
        .await?;
    if st != 201 {
        return Err(format!("PUT manifest: {st} {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(())
}

async fn pull_image(c: &mut Conn, repo: &str, tag: &str) -> Result<u64, Err> {
    let (st, _, n, body) = c
        .call(
            "GET",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Accept", MANIFEST)],
            Bytes::new(),
        )
        .await?;
    if st != 200 {
        return Err(format!("GET manifest: {st}").into());
    }
    let m: serde_json::Value = serde_json::from_slice(&body)?;
    let mut total = n;
    let mut digests = vec![m["config"]["digest"].as_str().unwrap_or("").to_string()];
    for l in m["layers"].as_array().into_iter().flatten() {
        digests.push(l["digest"].as_str().unwrap_or("").to_string());
    }
    for d in digests {
        let (st, _, n, _) = c
            .call("GET", &format!("/v2/{repo}/blobs/{d}"), &[], Bytes::new())
            .await?;
        if st != 200 {
            return Err(format!("GET blob: {st}").into());
        }
        total += n;
    }
    Ok(total)
}

fn random(len: usize, seed: u64) -> Bytes {
    // xorshift: incompressible enough, cheap, reproducible.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Err> {
    let a: Vec<String> = std::env::args().collect();
    let (repo, tag) = a[3].split_once(':').ok_or("REPO:TAG")?;
    match a[1].as_str() {
        "seed" => {
            let (layers, mb): (usize, usize) = (a[4].parse()?, a[5].parse()?);
            let ls = (0..layers)
                .map(|i| random(mb << 20, 1000 + i as u64))
                .collect();
            let mut c = Conn::new(&a[2]);
            push_image(&mut c, repo, tag, ls).await?;
        }
        "run" => {
            let (clients, rounds, push_mb): (usize, usize, usize) =
                (a[4].parse()?, a[5].parse()?, a[6].parse()?);
            let start = Instant::now();
            let mut tasks = Vec::new();
            for i in 0..clients {
                let (addr, repo, tag) = (a[2].clone(), repo.to_string(), tag.to_string());
                tasks.push(tokio::spawn(async move {
                    let mut c = Conn::new(&addr);
                    let (mut pulls, mut pushes, mut bytes) = (Vec::new(), Vec::new(), 0u64);
                    for r in 0..rounds {
                        let t = Instant::now();
                        bytes += pull_image(&mut c, &repo, &tag).await?;
                        pulls.push(t.elapsed());
                        let layer = random(push_mb << 20, (i * 1000 + r) as u64 + 7);
                        let t = Instant::now();
                        bytes += layer.len() as u64;
                        push_image(
                            &mut c,
                            &format!("bench/push{i}"),
                            &format!("r{r}"),
                            vec![layer],
                        )
                        .await?;
                        pushes.push(t.elapsed());
                    }
                    Ok::<_, Err>((pulls, pushes, bytes))
                }));
            }
            let (mut pulls, mut pushes, mut bytes, mut errors) = (Vec::new(), Vec::new(), 0u64, 0);
            for t in tasks {
                match t.await? {
                    Ok((a, b, n)) => {
                        pulls.extend(a);
                        pushes.extend(b);
                        bytes += n;
                    }
                    Err(e) => {
                        eprintln!("client failed: {e}");
                        errors += 1;
                    }
                }
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({
                    "seconds": secs, "bytes": bytes, "mb_per_s": bytes as f64 / secs / 1e6,
                    "pulls": pulls.len(), "pushes": pushes.len(), "failed_clients": errors,
                    "pull_p50_ms": pct(&mut pulls, 0.5), "pull_p99_ms": pct(&mut pulls, 0.99),
                    "push_p50_ms": pct(&mut pushes, 0.5), "push_p99_ms": pct(&mut pushes, 0.99),
                })
            );
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}
