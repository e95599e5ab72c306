//! Operations: garbage collection while serving (and dry), the pull-through cache with several
//! upstreams chosen by prefix, and the YAML configuration.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use berth_registry::config::{Htpasswd, ProxyRemote, Tls, Token};
use berth_registry::Config;
use common::*;

fn gc(r: &Reg, dry: bool) -> serde_json::Value {
    let path = if dry {
        "/admin/gc?dry-run=true"
    } else {
        "/admin/gc"
    };
    let res = r.req("POST", path, &[], b"");
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

fn deleted(report: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = report["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn gc_dry_run_then_sweep() {
    let r = Reg::start(|_, _| {});
    let (shared, only_a, only_b) = (
        b"shared layer".to_vec(),
        b"layer a".to_vec(),
        b"layer b".to_vec(),
    );
    let (cfg_a, cfg_b) = (b"{\"a\":1}".to_vec(), b"{\"b\":1}".to_vec());
    let a = push_image(&r, "g", "a", &cfg_a, &[&shared, &only_a]);
    let b = push_image(&r, "g", "b", &cfg_b, &[&shared, &only_b]);
    // Only blobs; never referenced by a manifest.
    let stray = push_blob(&r, "g2", b"stray");

    // Nothing unreferenced yet except the stray blob.
    assert_eq!(deleted(&gc(&r, true)), vec![stray.clone()]);
    assert_eq!(
        r.req("DELETE", &format!("/v2/g/manifests/{b}"), &[], b"")
            .status,
        202
    );

    let mut want = vec![b.clone(), sha(&cfg_b), sha(&only_b), stray.clone()];
    want.sort();
    let dry = gc(&r, true);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(deleted(&dry), want);
    // A dry run deletes nothing.
    assert_eq!(
        r.req("GET", &format!("/v2/g/blobs/{}", sha(&only_b)), &[], b"")
            .status,
        200
    );

    let real = gc(&r, false);
    assert_eq!(deleted(&real), want);
    assert_eq!(
        real["freedBytes"],
        (b"stray".len()
            + only_b.len()
            + cfg_b.len()
            + manifest_json(&cfg_b, &[&shared, &only_b]).len()) as u64
    );
    let res = r.req("GET", &format!("/v2/g/blobs/{}", sha(&only_b)), &[], b"");
    assert_eq!((res.status, res.code()), (404, "BLOB_UNKNOWN".into()));
    assert_eq!(
        r.req("HEAD", &format!("/v2/g2/blobs/{stray}"), &[], b"")
            .status,
        404
    );
    for d in [sha(&shared), sha(&only_a), sha(&cfg_a)] {
        assert_eq!(
            r.req("GET", &format!("/v2/g/blobs/{d}"), &[], b"").status,
            200
        );
    }
    assert_eq!(
        r.req("GET", &format!("/v2/g/manifests/{a}"), &[], b"")
            .status,
        200
    );
    assert!(deleted(&gc(&r, false)).is_empty());

    let m = r.req("GET", "/metrics", &[], b"");
    let text = String::from_utf8(m.body).unwrap();
    assert!(
        text.contains("berth_registry_gc_deleted_blobs_total 4"),
        "{text}"
    );
}

#[test]
fn gc_grace_keeps_fresh_blobs() {
    let r = Reg::start(|c, _| c.gc.grace = "1h".into());
    let stray = push_blob(&r, "g", b"just uploaded, manifest coming");
    let rep = gc(&r, false);
    assert!(deleted(&rep).is_empty());
    assert_eq!(rep["keptRecent"], 1);
    assert_eq!(
        r.req("HEAD", &format!("/v2/g/blobs/{stray}"), &[], b"")
            .status,
        200
    );
}

/// Sets the flag when dropped, so a panicking pusher still stops the collector thread.
struct StopOnDrop<'a>(&'a AtomicBool);
impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Makes a blob look old, as garbage left from long ago would be.
fn age(storage: &std::path::Path, digest: &str) {
    let p = storage.join("content/blobs/sha256").join(&digest[7..]);
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
        .unwrap();
}

#[test]
fn gc_runs_while_skopeo_pushes_and_pulls() {
    // The grace period covers the window between a client's layer uploads and its manifest;
    // garbage older than it goes while the pushes run.
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    {
        // Garbage from an earlier run, long ago.
        let r = Reg::start(|c, _| c.storage.filesystem.rootdirectory = Some(storage.clone()));
        let (cfg, layer) = (b"{\"old\":1}".to_vec(), b"old layer".to_vec());
        let old = push_image(&r, "old", "v", &cfg, &[&layer]);
        r.req("DELETE", &format!("/v2/old/manifests/{old}"), &[], b"");
        for d in [&old, &sha(&cfg), &sha(&layer)] {
            age(&storage, d);
        }
    }
    let r = Reg::start(|c, _| {
        c.storage.filesystem.rootdirectory = Some(storage.clone());
        c.gc.grace = "30s".into();
    });
    let work = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let (runs, swept) = std::thread::scope(|s| {
        let collector = s.spawn(|| {
            let (mut n, mut swept) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                swept += deleted(&gc(&r, false)).len();
                n += 1;
            }
            (n, swept)
        });
        let _stop = StopOnDrop(&stop);
        for i in 0..4 {
            let layout = work.path().join(format!("img{i}"));
            let top = oci_layout(&layout, "v", &format!("online-{i}"), &["amd64"]);
            let dest = format!("docker://{}/online/img{i}:v", r.host());
            skopeo_ok(&[
                "copy",
                "--dest-tls-verify=false",
                &format!("oci:{}:v", layout.display()),
                &dest,
            ]);
            assert_eq!(raw_digest(&dest, &["--tls-verify=false"]), top);
            let back = work.path().join(format!("back{i}"));
            skopeo_ok(&[
                "copy",
                "--src-tls-verify=false",
                &dest,
                &format!("oci:{}:v", back.display()),
            ]);
        }
        drop(_stop);
        collector.join().unwrap()
    });
    assert!(runs > 0);
    assert_eq!(swept, 3, "the old image's manifest, config and layer");
    // Everything pushed survived every collection.
    for i in 0..4 {
        let back = work.path().join(format!("again{i}"));
        skopeo_ok(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/online/img{i}:v", r.host()),
            &format!("oci:{}:v", back.display()),
        ]);
    }
    let after = gc(&r, true);
    assert!(deleted(&after).is_empty());
}

#[test]
fn gc_delete_untagged_keeps_what_tags_indexes_and_subjects_reach() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let put = |r: &Reg, reference: &str, ct: &str, body: &[u8]| {
        let res = r.req(
            "PUT",
            &format!("/v2/u/manifests/{reference}"),
            &[("Content-Type", ct)],
            body,
        );
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
        sha(body)
    };
    let referrer = |r: &Reg, subject: &str, marker: &[u8]| {
        push_blob(r, "u", marker);
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-test",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(marker), "size": marker.len()},
            "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
        }))
        .unwrap();
        put(r, &sha(&m), OCI_MANIFEST, &m)
    };
    let (tagged, child, index, kept_ref, untagged, lost_ref);
    {
        let r = Reg::start(|c, _| c.storage.filesystem.rootdirectory = Some(storage.clone()));
        tagged = push_image(&r, "u", "keep", b"{\"t\":1}", &[b"layer t"]);
        push_blob(&r, "u", b"{\"c\":1}");
        push_blob(&r, "u", b"layer c");
        let cm = manifest_json(b"{\"c\":1}", &[b"layer c"]);
        child = put(&r, &sha(&cm), OCI_MANIFEST, &cm);
        let idx = serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": cm.len()}]}),
        )
        .unwrap();
        index = put(&r, "multi", OCI_INDEX, &idx);
        kept_ref = referrer(&r, &tagged, b"{\"r\":1}");
        push_blob(&r, "u", b"{\"u\":1}");
        push_blob(&r, "u", b"layer u");
        let um = manifest_json(b"{\"u\":1}", &[b"layer u"]);
        untagged = put(&r, &sha(&um), OCI_MANIFEST, &um);
        lost_ref = referrer(&r, &untagged, b"{\"r\":2}");
    }
    for e in std::fs::read_dir(storage.join("content/blobs/sha256")).unwrap() {
        let d = format!("sha256:{}", e.unwrap().file_name().to_str().unwrap());
        age(&storage, &d);
    }
    let r = Reg::start(|c, _| {
        c.storage.filesystem.rootdirectory = Some(storage.clone());
        c.gc.grace = "30s".into();
    });
    let res = r.req(
        "POST",
        "/admin/gc?dry-run=true&delete-untagged=true",
        &[],
        b"",
    );
    let dry = res.json();
    let mut gone: Vec<String> = dry["untagged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["digest"].as_str().unwrap().to_string())
        .collect();
    gone.sort();
    let mut want = vec![untagged.clone(), lost_ref.clone()];
    want.sort();
    assert_eq!(gone, want);
    let mut blobs = vec![
        untagged.clone(),
        lost_ref.clone(),
        sha(b"{\"u\":1}"),
        sha(b"layer u"),
        sha(b"{\"r\":2}"),
    ];
    blobs.sort();
    assert_eq!(deleted(&dry), blobs);
    assert_eq!(
        r.req("GET", &format!("/v2/u/manifests/{untagged}"), &[], b"")
            .status,
        200
    );

    let res = r.req("POST", "/admin/gc?delete-untagged=true", &[], b"");
    assert_eq!(deleted(&res.json()), blobs);
    for d in [&untagged, &lost_ref] {
        assert_eq!(
            r.req("GET", &format!("/v2/u/manifests/{d}"), &[], b"")
                .status,
            404
        );
    }
    for d in [&tagged, &child, &index, &kept_ref] {
        assert_eq!(
            r.req("GET", &format!("/v2/u/manifests/{d}"), &[], b"")
                .status,
            200,
            "{d}"
        );
    }
    assert_eq!(
        r.req("GET", &format!("/v2/u/blobs/{}", sha(b"layer c")), &[], b"")
            .status,
        200
    );
    let refs = r.req("GET", &format!("/v2/u/referrers/{tagged}"), &[], b"");
    assert_eq!(refs.json()["manifests"].as_array().unwrap().len(), 1);
}

#[test]
fn scheduled_gc() {
    let r = Reg::start(|c, _| c.gc.interval = Some("1s".into()));
    let kept = push_image(&r, "s", "v", b"{}", &[b"kept"]);
    let stray = push_blob(&r, "s", b"stray");
    let t = std::time::Instant::now();
    while r
        .req("HEAD", &format!("/v2/s/blobs/{stray}"), &[], b"")
        .status
        == 200
    {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "never collected"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        r.req("GET", &format!("/v2/s/manifests/{kept}"), &[], b"")
            .status,
        200
    );
    assert_eq!(
        r.req("GET", &format!("/v2/s/blobs/{}", sha(b"kept")), &[], b"")
            .status,
        200
    );
}

#[test]
fn offline_gc_on_a_stopped_registry() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    {
        let r = Reg::start(|c, _| c.storage.filesystem.rootdirectory = Some(storage.clone()));
        push_blob(&r, "x", b"orphan");
    }
    let mut cfg = Config::default();
    cfg.storage.filesystem.rootdirectory = Some(storage.clone());
    cfg.gc.grace = "0s".into();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dry = rt
        .block_on(berth_registry::collect_offline(cfg.clone(), true, false))
        .unwrap();
    assert_eq!(dry.deleted.len(), 1);
    let real = rt
        .block_on(berth_registry::collect_offline(cfg, false, false))
        .unwrap();
    assert_eq!(real.deleted.len(), 1);
    assert_eq!(
        std::fs::read_dir(storage.join("content/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

fn remote(prefix: &str, url: String, ttl: &str) -> ProxyRemote {
    ProxyRemote {
        prefix: prefix.into(),
        remoteurl: url,
        username: None,
        password: None,
        ca: None,
        ttl: ttl.into(),
    }
}

#[test]
fn pull_through_cache_with_two_upstreams() {
    let work = tempfile::tempdir().unwrap();
    // Upstream one: a Berth registry behind bearer tokens; upstream two: distribution 2.8.
    let one = Reg::start(|c, dir| {
        let p = dir.join("htpasswd");
        std::fs::write(
            &p,
            format!("mirror:{}\n", bcrypt::hash("secret", 5).unwrap()),
        )
        .unwrap();
        c.auth.htpasswd = Some(Htpasswd {
            realm: "one".into(),
            path: p,
        });
        c.auth.token = Some(Token::default());
    });
    let two = Peer::start("");
    let x = oci_layout(&work.path().join("x"), "v1", "proxy-x", &["amd64"]);
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "mirror:secret",
        &format!("oci:{}:v1", work.path().join("x").display()),
        &format!("docker://{}/lib/x:v1", one.host()),
    ]);
    let y = oci_layout(&work.path().join("y"), "v1", "proxy-y", &["amd64", "arm64"]);
    skopeo_ok(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", work.path().join("y").display()),
        &format!("docker://{}/lib/y:v1", two.host()),
    ]);

    let (one_url, two_url) = (
        format!("http://{}", one.host()),
        format!("http://{}", two.host()),
    );
    let mirror = Reg::start(move |c, _| {
        let mut r1 = remote("one/", one_url, "1h");
        r1.username = Some("mirror".into());
        r1.password = Some("secret".into());
        c.proxies = vec![r1, remote("two/", two_url, "0s")];
    });
    let via = |name: &str| format!("docker://{}/{name}", mirror.host());
    assert_eq!(raw_digest(&via("one/lib/x:v1"), &["--tls-verify=false"]), x);
    assert_eq!(raw_digest(&via("two/lib/y:v1"), &["--tls-verify=false"]), y);
    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        &via("one/lib/x:v1"),
        &format!("oci:{}:x", work.path().join("px").display()),
    ]);
    skopeo_ok(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &via("two/lib/y:v1"),
        &format!("oci:{}:y", work.path().join("py").display()),
    ]);
    let tags = skopeo_ok(&["list-tags", "--tls-verify=false", &via("two/lib/y")]);
    assert!(tags.contains("\"v1\""), "{tags}");

    // Not a mirrored prefix: an ordinary (empty) repository. A mirrored one refuses pushes.
    let res = mirror.req("GET", "/v2/three/lib/x/manifests/v1", &[], b"");
    assert_eq!(res.code(), "NAME_UNKNOWN");
    let res = mirror.req("POST", "/v2/one/lib/x/blobs/uploads/", &[], b"");
    assert_eq!((res.status, res.code()), (405, "UNSUPPORTED".into()));
    let res = mirror.req("GET", "/v2/one/lib/missing/manifests/v1", &[], b"");
    assert_eq!((res.status, res.code()), (404, "MANIFEST_UNKNOWN".into()));

    // The mirror stored what it served: upstream one can go away (its TTL is an hour).
    drop(one);
    assert_eq!(raw_digest(&via("one/lib/x:v1"), &["--tls-verify=false"]), x);
    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        &via("one/lib/x:v1"),
        &format!("oci:{}:x2", work.path().join("px2").display()),
    ]);

    // Upstream two's tag moves; with a TTL of 0 the mirror follows at once.
    let y2 = oci_layout(&work.path().join("y2"), "v1", "proxy-y2", &["amd64"]);
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", work.path().join("y2").display()),
        &format!("docker://{}/lib/y:v1", two.host()),
    ]);
    assert_eq!(
        raw_digest(&via("two/lib/y:v1"), &["--tls-verify=false"]),
        y2
    );
}

#[test]
fn pull_through_cache_of_a_tls_upstream() {
    let work = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (crt, keyfile) = (work.path().join("up.crt"), work.path().join("up.key"));
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&keyfile, key.serialize_pem()).unwrap();
    let (c2, k2) = (crt.clone(), keyfile.clone());
    let up = Reg::start(move |c, _| {
        c.http.tls = Some(Tls {
            certificate: c2,
            key: k2,
        })
    });
    let certs = work.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&crt, certs.join("ca.crt")).unwrap();
    let top = oci_layout(&work.path().join("img"), "v1", "tls-upstream", &["amd64"]);
    skopeo_ok(&[
        "copy",
        "--dest-cert-dir",
        certs.to_str().unwrap(),
        &format!("oci:{}:v1", work.path().join("img").display()),
        &format!("docker://{}/lib/t:v1", up.host()),
    ]);

    // Trusting the upstream's CA, the mirror serves it; trusting only the system's, it cannot.
    let url = format!("https://{}", up.host());
    let (u2, crt2) = (url.clone(), crt.clone());
    let mirror = Reg::start(move |c, _| {
        let mut r = remote("", u2, "1h");
        r.ca = Some(crt2);
        c.proxy = Some(r);
    });
    let via = format!("docker://{}/lib/t:v1", mirror.host());
    assert_eq!(raw_digest(&via, &["--tls-verify=false"]), top);
    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        &via,
        &format!("oci:{}:t", work.path().join("back").display()),
    ]);
    let untrusting = Reg::start(move |c, _| c.proxy = Some(remote("", url, "1h")));
    let res = untrusting.req("GET", "/v2/lib/t/manifests/v1", &[], b"");
    assert_eq!((res.status, res.code()), (503, "UNAVAILABLE".into()));
}

#[test]
fn pull_through_streams_and_verifies_blobs() {
    let up = Reg::start(|_, _| {});
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let good = push_blob(&up, "lib/s", &big);
    let bad_data: Vec<u8> = big.iter().rev().cloned().collect();
    let bad = push_blob(&up, "lib/s", &bad_data);
    // Corrupt the second one on the upstream's disk: same name, other bytes.
    let path = up.storage().join("content/blobs/sha256").join(&bad[7..]);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, &big).unwrap();

    let url = format!("http://{}", up.host());
    let mirror = Reg::start(move |c, _| c.proxy = Some(remote("", url, "1h")));
    // A HEAD is answered from upstream without fetching.
    let stored = mirror.storage().join("content/blobs/sha256");
    let head = mirror.req("HEAD", &format!("/v2/lib/s/blobs/{good}"), &[], b"");
    assert_eq!(
        (head.status, head.header("Content-Length")),
        (200, Some("5000000"))
    );
    assert!(!stored.join(&good[7..]).exists());
    // Streamed to the first client, stored, then served locally.
    for _ in 0..2 {
        let res = mirror.req("GET", &format!("/v2/lib/s/blobs/{good}"), &[], b"");
        assert_eq!((res.status, sha(&res.body)), (200, good.clone()));
    }
    assert!(stored.join(&good[7..]).is_file());
    // The corrupt one never completes and is never stored.
    let res = mirror.req("GET", &format!("/v2/lib/s/blobs/{bad}"), &[], b"");
    assert!(
        res.status != 200 || res.body.len() < big.len(),
        "a corrupt blob was served whole"
    );
    assert!(!stored.join(&bad[7..]).exists());
    let res = mirror.req(
        "GET",
        &format!("/v2/lib/s/blobs/{bad}"),
        &[("Range", "bytes=0-9")],
        b"",
    );
    assert_eq!(
        res.status, 503,
        "a ranged GET fetches whole, and the fetch fails verification"
    );
    assert!(!stored.join(&bad[7..]).exists());
    let res = mirror.req(
        "HEAD",
        &format!("/v2/lib/s/blobs/sha256:{}", "0".repeat(64)),
        &[],
        b"",
    );
    assert_eq!((res.status, res.code()), (404, String::new()));
}

#[test]
fn yaml_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 0.1\nlog:\n  level: info\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: false\n  maintenance:\n    uploadpurging:\n      enabled: true\n      age: 1h\n      maxuploads: 2\ngc:\n  interval: 1h\n  grace: 0s\nlimits:\n  idletimeout: 5s\n  maxmanifestbytes: 1024\n",
        dir.path().join("s").display()
    );
    let cfg = Config::parse(&yaml).unwrap();
    let r = Reg::with_config(cfg, dir);
    let d = push_blob(&r, "y", b"x");
    let res = r.req("DELETE", &format!("/v2/y/blobs/{d}"), &[], b"");
    assert_eq!((res.status, res.code()), (405, "UNSUPPORTED".into()));
    let big = vec![b' '; 2000];
    let res = r.req(
        "PUT",
        "/v2/y/manifests/v",
        &[("Content-Type", OCI_MANIFEST)],
        &big,
    );
    assert_eq!(res.status, 413);
    assert_eq!(r.req("POST", "/v2/y/blobs/uploads/", &[], b"").status, 202);
    assert_eq!(r.req("POST", "/v2/y/blobs/uploads/", &[], b"").status, 202);
    let res = r.req("POST", "/v2/y/blobs/uploads/", &[], b"");
    assert_eq!((res.status, res.code()), (429, "TOOMANYREQUESTS".into()));
    assert!(Config::parse("http:\n  addr: x\nbogus: 1\n").is_err());
}

#[test]
fn a_chunked_upload_resumes_after_a_restart() {
    let storage = tempfile::tempdir().unwrap();
    let config = || {
        let mut cfg = Config::default();
        cfg.http.addr = Some("127.0.0.1:0".into());
        cfg.storage.filesystem.rootdirectory = Some(storage.path().to_path_buf());
        cfg
    };
    let r = Reg::with_config(config(), tempfile::tempdir().unwrap());
    let res = r.req("POST", "/v2/app/blobs/uploads/", &[], b"");
    assert_eq!(res.status, 202);
    let location = res.header("Location").unwrap().to_string();
    let id = location.rsplit('/').next().unwrap().to_string();
    let res = r.req(
        "PATCH",
        &location,
        &[
            ("Content-Range", "0-4"),
            ("Content-Type", "application/octet-stream"),
        ],
        b"hello",
    );
    assert_eq!((res.status, res.header("Range")), (202, Some("0-4")));
    drop(r);

    // A new server on the same storage takes the upload up where it stood.
    let r = Reg::with_config(config(), tempfile::tempdir().unwrap());
    let res = r.req("GET", &format!("/v2/other/blobs/uploads/{id}"), &[], b"");
    assert_eq!(
        (res.status, res.code()),
        (404, "BLOB_UPLOAD_UNKNOWN".to_string()),
        "another repository's upload stays unknown there"
    );
    let res = r.req("GET", &location, &[], b"");
    assert_eq!((res.status, res.header("Range")), (204, Some("0-4")));
    let res = r.req(
        "PATCH",
        &location,
        &[
            ("Content-Range", "5-10"),
            ("Content-Type", "application/octet-stream"),
        ],
        b" world",
    );
    assert_eq!((res.status, res.header("Range")), (202, Some("0-10")));
    let digest = sha(b"hello world");
    let res = r.req("PUT", &format!("{location}?digest={digest}"), &[], b"");
    assert_eq!(res.status, 201);
    let res = r.req("GET", &format!("/v2/app/blobs/{digest}"), &[], b"");
    assert_eq!(res.body, b"hello world");

    // A cancelled upload leaves nothing behind to resume.
    let res = r.req("POST", "/v2/app/blobs/uploads/", &[], b"");
    let location = res.header("Location").unwrap().to_string();
    r.req("PATCH", &location, &[], b"partial");
    assert_eq!(r.req("DELETE", &location, &[], b"").status, 204);
    drop(r);
    let r = Reg::with_config(config(), tempfile::tempdir().unwrap());
    let res = r.req("GET", &location, &[], b"");
    assert_eq!(
        (res.status, res.code()),
        (404, "BLOB_UPLOAD_UNKNOWN".to_string())
    );
    let ingest = storage.path().join("content/ingest");
    assert_eq!(std::fs::read_dir(ingest).unwrap().count(), 0);
}
