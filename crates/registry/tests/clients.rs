//! Real clients we did not write: skopeo pushes and pulls (single images and `--all` with an
//! index), and images round-trip byte for byte with Debian's docker-registry (distribution 2.8).

mod common;

use common::*;

const NO_TLS: &[&str] = &["--src-tls-verify=false", "--dest-tls-verify=false"];

fn copy(src: &str, dst: &str, extra: &[&str]) -> String {
    let mut args = vec!["copy"];
    args.extend_from_slice(NO_TLS);
    args.extend_from_slice(extra);
    args.push(src);
    args.push(dst);
    skopeo_ok(&args)
}

#[test]
fn skopeo_push_and_pull_single_image() {
    let r = Reg::start(|_, _| {});
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("img");
    let top = oci_layout(&layout, "v1", "single", &["amd64"]);
    let dest = format!("docker://{}/library/bb:v1", r.host());
    copy(&format!("oci:{}:v1", layout.display()), &dest, &[]);

    // skopeo reads it back the same.
    assert_eq!(raw_digest(&dest, &["--tls-verify=false"]), top);
    let tags = skopeo_ok(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/library/bb", r.host()),
    ]);
    assert!(tags.contains("\"v1\""), "{tags}");

    // Pull into a fresh layout: the manifest digest survives the trip.
    let back = work.path().join("back");
    copy(&dest, &format!("oci:{}:v1", back.display()), &[]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], top);

    // A second push of the same image is all blob reuse and lands on the same digest.
    let out = copy(
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{}/other/bb:v2", r.host()),
        &[],
    );
    assert!(out.contains("skipped") || out.contains("exists") || !out.is_empty());
    assert_eq!(
        raw_digest(
            &format!("docker://{}/other/bb:v2", r.host()),
            &["--tls-verify=false"]
        ),
        top
    );

    // Delete through skopeo, then it is gone.
    skopeo_ok(&["delete", "--tls-verify=false", &dest]);
    let (ok, _) = skopeo(&["inspect", "--raw", "--tls-verify=false", &dest]);
    assert!(!ok);
}

#[test]
fn skopeo_all_with_an_index() {
    let r = Reg::start(|_, _| {});
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("multi");
    let top = oci_layout(&layout, "multi", "multi", &["amd64", "arm64"]);
    let dest = format!("docker://{}/multi/arch:latest", r.host());
    copy(
        &format!("oci:{}:multi", layout.display()),
        &dest,
        &["--all"],
    );
    assert_eq!(raw_digest(&dest, &["--tls-verify=false"]), top);
    let idx = skopeo_ok(&["inspect", "--raw", "--tls-verify=false", &dest]);
    let v: serde_json::Value = serde_json::from_str(&idx).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    // Each child is reachable by digest.
    for m in v["manifests"].as_array().unwrap() {
        let child = format!(
            "docker://{}/multi/arch@{}",
            r.host(),
            m["digest"].as_str().unwrap()
        );
        assert_eq!(
            raw_digest(&child, &["--tls-verify=false"]),
            m["digest"].as_str().unwrap()
        );
    }
    let back = work.path().join("back");
    copy(&dest, &format!("oci:{}:x", back.display()), &["--all"]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], top);
}

#[test]
fn round_trip_with_distribution_as_peer() {
    let berth = Reg::start(|_, _| {});
    let peer = Peer::start("");
    let work = tempfile::tempdir().unwrap();

    // berth → docker-registry → berth, with an index and its children.
    let layout = work.path().join("a");
    let top = oci_layout(&layout, "a", "peer-a", &["amd64", "arm64"]);
    let on_berth = format!("docker://{}/peer/a:1", berth.host());
    let on_peer = format!("docker://{}/peer/a:1", peer.host());
    let back = format!("docker://{}/peer/back:1", berth.host());
    copy(
        &format!("oci:{}:a", layout.display()),
        &on_berth,
        &["--all"],
    );
    copy(&on_berth, &on_peer, &["--all", "--preserve-digests"]);
    copy(&on_peer, &back, &["--all", "--preserve-digests"]);
    for image in [&on_berth, &on_peer, &back] {
        assert_eq!(raw_digest(image, &["--tls-verify=false"]), top, "{image}");
    }

    // docker-registry first, then berth, single image; and the same raw bytes from both.
    let layout = work.path().join("b");
    let top = oci_layout(&layout, "b", "peer-b", &["amd64"]);
    let on_peer = format!("docker://{}/peer/b:1", peer.host());
    let on_berth = format!("docker://{}/peer/b:1", berth.host());
    copy(&format!("oci:{}:b", layout.display()), &on_peer, &[]);
    copy(&on_peer, &on_berth, &["--preserve-digests"]);
    let path = format!("/v2/peer/b/manifests/{top}");
    let accept = [("Accept", OCI_MANIFEST)];
    let from_peer = http(peer.addr, "GET", &path, &accept, b"");
    let from_berth = berth.req("GET", &path, &accept, b"");
    assert_eq!(from_peer.status, 200);
    assert_eq!(from_berth.body, from_peer.body);
    assert_eq!(
        from_berth.header("Docker-Content-Digest"),
        from_peer.header("Docker-Content-Digest")
    );
    assert_eq!(
        from_berth.header("Content-Type"),
        from_peer.header("Content-Type")
    );

    // Both answer the same error codes to the same bad requests. (Not compared: an unknown
    // upload id, which distribution 2.8 calls BLOB_UPLOAD_INVALID for want of its `_state`
    // parameter; Berth answers the specification's BLOB_UPLOAD_UNKNOWN.)
    let dangling = manifest_json(b"no such config", &[b"no such layer"]);
    for (method, p, body) in [
        ("GET", "/v2/peer/b/manifests/nope".to_string(), &b""[..]),
        (
            "GET",
            format!("/v2/peer/b/blobs/sha256:{}", "0".repeat(64)),
            b"",
        ),
        ("GET", "/v2/nobody/tags/list".to_string(), b""),
        ("PUT", "/v2/peer/b/manifests/x".to_string(), &dangling[..]),
        (
            "PUT",
            format!("/v2/peer/b/manifests/sha256:{}", "0".repeat(64)),
            &dangling[..],
        ),
        // (Not compared either: POST ?digest=, a single-request upload that distribution 2.8
        // ignores, answering 202; Berth completes it as OCI specifies.)
        // (A tag DELETE is not compared: distribution 2.8 refuses it, OCI 1.1 and Berth allow it.)
        (
            "DELETE",
            format!("/v2/peer/b/manifests/sha256:{}", "0".repeat(64)),
            b"",
        ),
    ] {
        let want = http(
            peer.addr,
            method,
            &p,
            &[("Content-Type", OCI_MANIFEST)],
            body,
        );
        let got = berth.req(method, &p, &[("Content-Type", OCI_MANIFEST)], body);
        assert_eq!(
            (got.status, got.code()),
            (want.status, want.code()),
            "{method} {p}"
        );
    }
}

/// The docker CLI without a daemon: `docker manifest` speaks to registries itself (with the
/// distribution client code Docker uses for pushes), so it is a real Docker client of ours even
/// where no Docker Engine runs. Behind bearer tokens, to exercise Docker's token flow too.
#[test]
fn docker_cli_manifest_commands() {
    let r = Reg::start(|c, dir| {
        let p = dir.join("htpasswd");
        std::fs::write(&p, format!("dev:{}\n", bcrypt::hash("pw", 5).unwrap())).unwrap();
        c.auth.htpasswd = Some(berth_registry::config::Htpasswd {
            realm: "r".into(),
            path: p,
        });
        c.auth.token = Some(berth_registry::config::Token::default());
    });
    let work = tempfile::tempdir().unwrap();
    let host = r.host();
    for arch in ["amd64", "arm64"] {
        let layout = work.path().join(arch);
        oci_layout(&layout, "v", &format!("docker-{arch}"), &[arch]);
        // As Docker schema 2, the format `docker push` produces.
        skopeo_ok(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "dev:pw",
            "--format",
            "v2s2",
            &format!("oci:{}:v", layout.display()),
            &format!("docker://{host}/dk/app:{arch}"),
        ]);
    }
    let docker = |config: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new("docker")
            .env("DOCKER_CONFIG", config)
            .env_remove("DOCKER_HOST")
            .args(args)
            .output()
            .expect("the docker CLI must be installed");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let anon = work.path().join("anon");
    let authed = work.path().join("authed");
    std::fs::create_dir_all(&anon).unwrap();
    std::fs::create_dir_all(&authed).unwrap();
    std::fs::write(authed.join("config.json"), serde_json::to_vec(&serde_json::json!({
        "auths": { host.clone(): { "auth": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "dev:pw") } }
    })).unwrap()).unwrap();

    let amd = format!("{host}/dk/app:amd64");
    let (ok, out) = docker(&anon, &["manifest", "inspect", "--insecure", &amd]);
    assert!(!ok && out.to_lowercase().contains("unauthorized"), "{out}");
    let (ok, out) = docker(&authed, &["manifest", "inspect", "--insecure", &amd]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    let list = format!("{host}/dk/app:multi");
    let (ok, out) = docker(
        &authed,
        &[
            "manifest",
            "create",
            "--insecure",
            &list,
            &amd,
            &format!("{host}/dk/app:arm64"),
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = docker(
        &authed,
        &["manifest", "push", "--insecure", "--purge", &list],
    );
    assert!(ok, "{out}");
    let pushed = out.trim().lines().last().unwrap().trim().to_string();
    assert!(pushed.starts_with("sha256:"), "{out}");
    let on_registry = format!("docker://{list}");
    assert_eq!(
        raw_digest(&on_registry, &["--tls-verify=false", "--creds", "dev:pw"]),
        pushed
    );
    let (ok, out) = docker(&authed, &["manifest", "inspect", "--insecure", &list]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let arches: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
}
