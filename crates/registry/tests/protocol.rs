//! The distribution protocol over raw HTTP: every endpoint, every error code, hostile input.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const EMPTY_DIGEST: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn reg() -> Reg {
    Reg::start(|c, _| c.limits.idletimeout = "2s".into())
}

#[test]
fn base_and_headers() {
    let r = reg();
    let res = r.req("GET", "/v2/", &[], b"");
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );
    assert_eq!(res.json(), serde_json::json!({}));
    assert_eq!(r.req("GET", "/v2", &[], b"").status, 200);
    let res = r.req("GET", "/nope", &[], b"");
    assert_eq!(res.status, 404);
    let res = r.req("POST", "/v2/", &[], b"");
    assert_eq!((res.status, res.code()), (405, "UNSUPPORTED".into()));
}

#[test]
fn blobs_monolithic_range_and_errors() {
    let r = reg();
    let data = b"hello, registry".to_vec();
    let d = push_blob(&r, "a/b", &data);

    let head = r.req("HEAD", &format!("/v2/a/b/blobs/{d}"), &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("15"));
    assert_eq!(head.header("Docker-Content-Digest"), Some(d.as_str()));
    assert!(head.body.is_empty());

    let get = r.req("GET", &format!("/v2/a/b/blobs/{d}"), &[], b"");
    assert_eq!((get.status, get.body.clone()), (200, data.clone()));

    let part = r.req(
        "GET",
        &format!("/v2/a/b/blobs/{d}"),
        &[("Range", "bytes=7-14")],
        b"",
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, b"registry");
    assert_eq!(part.header("Content-Range"), Some("bytes 7-14/15"));
    let tail = r.req(
        "GET",
        &format!("/v2/a/b/blobs/{d}"),
        &[("Range", "bytes=-3")],
        b"",
    );
    assert_eq!((tail.status, tail.body), (206, b"try".to_vec()));

    let past = r.req(
        "GET",
        &format!("/v2/a/b/blobs/{d}"),
        &[("Range", "bytes=15-")],
        b"",
    );
    assert_eq!((past.status, past.code()), (416, "RANGE_INVALID".into()));
    assert_eq!(past.header("Content-Range"), Some("bytes */15"));

    // Content addressed but scoped to the repository that has it.
    let other = r.req("GET", &format!("/v2/other/blobs/{d}"), &[], b"");
    assert_eq!((other.status, other.code()), (404, "BLOB_UNKNOWN".into()));
    let unknown = r.req("GET", &format!("/v2/a/b/blobs/{EMPTY_DIGEST}"), &[], b"");
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "BLOB_UNKNOWN".into())
    );
    for bad in ["sha256:abc", "md5:00", "sha256:..%2F..%2Fetc"] {
        let res = r.req("GET", &format!("/v2/a/b/blobs/{bad}"), &[], b"");
        assert_eq!(
            (res.status, res.code()),
            (400, "DIGEST_INVALID".into()),
            "{bad}"
        );
    }

    // A monolithic upload whose bytes do not match its digest is refused and leaves nothing.
    let res = r.req(
        "POST",
        &format!("/v2/a/b/blobs/uploads/?digest={EMPTY_DIGEST}"),
        &[],
        b"not empty",
    );
    assert_eq!((res.status, res.code()), (400, "DIGEST_INVALID".into()));
    assert_eq!(
        r.req("HEAD", &format!("/v2/a/b/blobs/{EMPTY_DIGEST}"), &[], b"")
            .status,
        404
    );

    // Deleting unlinks from the repository.
    let del = r.req("DELETE", &format!("/v2/a/b/blobs/{d}"), &[], b"");
    assert_eq!(del.status, 202);
    assert_eq!(
        r.req("HEAD", &format!("/v2/a/b/blobs/{d}"), &[], b"")
            .status,
        404
    );
    let del = r.req("DELETE", &format!("/v2/a/b/blobs/{d}"), &[], b"");
    assert_eq!((del.status, del.code()), (404, "BLOB_UNKNOWN".into()));
}

#[test]
fn chunked_upload_resume_order_cancel() {
    let r = reg();
    let start = r.req("POST", "/v2/c/blobs/uploads/", &[], b"");
    assert_eq!(start.status, 202);
    assert_eq!(start.header("Range"), Some("0-0"));
    let loc = start.header("Location").unwrap().to_string();
    assert!(loc.starts_with("/v2/c/blobs/uploads/"));
    assert_eq!(start.header("Docker-Upload-UUID"), loc.rsplit('/').next());

    let p1 = r.req(
        "PATCH",
        &loc,
        &[
            ("Content-Range", "0-4"),
            ("Content-Type", "application/octet-stream"),
        ],
        b"01234",
    );
    assert_eq!((p1.status, p1.header("Range")), (202, Some("0-4")));
    // Out of order: the chunk must start where the upload stands.
    let bad = r.req("PATCH", &loc, &[("Content-Range", "3-7")], b"34567");
    assert_eq!((bad.status, bad.code()), (416, "RANGE_INVALID".into()));
    assert_eq!(bad.header("Range"), Some("0-4"));
    // A Content-Range that disagrees with the body length.
    let bad = r.req("PATCH", &loc, &[("Content-Range", "5-9")], b"56");
    assert_eq!(bad.status, 416);
    // Resumption: the client asks where to go on.
    let st = r.req("GET", &loc, &[], b"");
    assert_eq!((st.status, st.header("Range")), (204, Some("0-4")));
    // A chunk without Content-Range is appended (streamed upload).
    let p2 = r.req("PATCH", &loc, &[], b"56789");
    assert_eq!((p2.status, p2.header("Range")), (202, Some("0-9")));

    let full = b"0123456789abc";
    let d = sha(full);
    let missing = r.req("PUT", &loc, &[], b"abc");
    assert_eq!(
        (missing.status, missing.code()),
        (400, "DIGEST_INVALID".into())
    );
    let done = r.req("PUT", &format!("{loc}?digest={d}"), &[], b"abc");
    assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(done.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(
        done.header("Location"),
        Some(format!("/v2/c/blobs/{d}").as_str())
    );
    assert_eq!(
        r.req("GET", &format!("/v2/c/blobs/{d}"), &[], b"").body,
        full
    );
    let gone = r.req("GET", &loc, &[], b"");
    assert_eq!(
        (gone.status, gone.code()),
        (404, "BLOB_UPLOAD_UNKNOWN".into())
    );

    // A wrong digest at the end discards the upload.
    let loc = r
        .req("POST", "/v2/c/blobs/uploads/", &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    r.req("PATCH", &loc, &[], b"xyz");
    let wrong = r.req("PUT", &format!("{loc}?digest={EMPTY_DIGEST}"), &[], b"");
    assert_eq!((wrong.status, wrong.code()), (400, "DIGEST_INVALID".into()));
    assert_eq!(r.req("GET", &loc, &[], b"").status, 404);

    // Cancel, and an upload id is not valid in another repository.
    let loc = r
        .req("POST", "/v2/c/blobs/uploads/", &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let id = loc.rsplit('/').next().unwrap();
    let foreign = r.req("GET", &format!("/v2/other/blobs/uploads/{id}"), &[], b"");
    assert_eq!(
        (foreign.status, foreign.code()),
        (404, "BLOB_UPLOAD_UNKNOWN".into())
    );
    assert_eq!(r.req("DELETE", &loc, &[], b"").status, 204);
    let after = r.req("PATCH", &loc, &[], b"x");
    assert_eq!(
        (after.status, after.code()),
        (404, "BLOB_UPLOAD_UNKNOWN".into())
    );
    let after = r.req("DELETE", &loc, &[], b"");
    assert_eq!(after.status, 404);

    // Ingest of the finished and abandoned uploads is gone.
    let ingest = r.storage().join("content/ingest");
    assert_eq!(std::fs::read_dir(ingest).unwrap().count(), 0);
}

#[test]
fn cross_repository_mount() {
    let r = reg();
    let d = push_blob(&r, "src", b"shared layer");
    let m = r.req(
        "POST",
        &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
        &[],
        b"",
    );
    assert_eq!(m.status, 201);
    assert_eq!(m.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(
        r.req("GET", &format!("/v2/dst/blobs/{d}"), &[], b"").body,
        b"shared layer"
    );
    // Not in the source: an ordinary upload starts instead.
    let m = r.req(
        "POST",
        &format!("/v2/dst/blobs/uploads/?mount={EMPTY_DIGEST}&from=src"),
        &[],
        b"",
    );
    assert_eq!(m.status, 202);
    assert!(m.header("Location").is_some());
    let m = r.req(
        "POST",
        "/v2/dst/blobs/uploads/?mount=sha256:bad&from=src",
        &[],
        b"",
    );
    assert_eq!((m.status, m.code()), (400, "DIGEST_INVALID".into()));
}

#[test]
fn manifests_put_get_delete_and_refusals() {
    let r = reg();
    let layer = b"layer bytes".to_vec();
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let m = manifest_json(&config, &[&layer]);
    let md = sha(&m);

    // Blobs not pushed yet: refused with the missing digest in the detail.
    let res = r.req(
        "PUT",
        "/v2/m/manifests/v1",
        &[("Content-Type", OCI_MANIFEST)],
        &m,
    );
    assert_eq!(
        (res.status, res.code()),
        (400, "MANIFEST_BLOB_UNKNOWN".into())
    );
    assert_eq!(res.json()["errors"][0]["detail"]["digest"], sha(&config));
    push_blob(&r, "m", &config);
    push_blob(&r, "m", &layer);

    let res = r.req(
        "PUT",
        "/v2/m/manifests/v1",
        &[(
            "Content-Type",
            "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
        )],
        &m,
    );
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("Docker-Content-Digest"), Some(md.as_str()));
    assert_eq!(
        res.header("Location"),
        Some(format!("/v2/m/manifests/{md}").as_str())
    );

    for reference in ["v1", md.as_str()] {
        let g = r.req(
            "GET",
            &format!("/v2/m/manifests/{reference}"),
            &[("Accept", OCI_MANIFEST)],
            b"",
        );
        assert_eq!(g.status, 200);
        assert_eq!(g.body, m, "stored byte for byte");
        assert_eq!(g.header("Content-Type"), Some(OCI_MANIFEST));
        assert_eq!(g.header("Docker-Content-Digest"), Some(md.as_str()));
        let h = r.req("HEAD", &format!("/v2/m/manifests/{reference}"), &[], b"");
        assert_eq!(
            (h.status, h.header("Content-Length")),
            (200, Some(m.len().to_string().as_str()))
        );
    }

    let check = |path: &str, ct: &str, body: &[u8], status: u16, code: &str| {
        let res = r.req("PUT", path, &[("Content-Type", ct)], body);
        assert_eq!(
            (res.status, res.code().as_str()),
            (status, code),
            "{path} {ct}"
        );
    };
    check(
        "/v2/m/manifests/x",
        OCI_MANIFEST,
        b"{not json",
        400,
        "MANIFEST_INVALID",
    );
    check(
        "/v2/m/manifests/x",
        "text/plain",
        &m,
        400,
        "MANIFEST_INVALID",
    );
    check(
        "/v2/m/manifests/x",
        "application/vnd.docker.distribution.manifest.v2+json",
        &m,
        400,
        "MANIFEST_INVALID",
    );
    check(
        "/v2/m/manifests/x",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        br#"{"schemaVersion":1}"#,
        400,
        "MANIFEST_INVALID",
    );
    check(
        "/v2/m/manifests/x",
        OCI_MANIFEST,
        br#"{"schemaVersion":3,"config":{"digest":"sha256:00","size":1},"layers":[]}"#,
        400,
        "MANIFEST_INVALID",
    );
    check(
        &format!("/v2/m/manifests/{EMPTY_DIGEST}"),
        OCI_MANIFEST,
        &m,
        400,
        "DIGEST_INVALID",
    );
    check(
        "/v2/m/manifests/-bad-tag",
        OCI_MANIFEST,
        &m,
        400,
        "TAG_INVALID",
    );
    check(
        "/v2/Upper/manifests/v1",
        OCI_MANIFEST,
        &m,
        400,
        "NAME_INVALID",
    );
    check(
        "/v2/a..b/manifests/v1",
        OCI_MANIFEST,
        &m,
        400,
        "NAME_INVALID",
    );
    // Oversized: refused by Content-Length before the body is read, and while streaming.
    let big = vec![b' '; (4 << 20) + 1];
    check(
        "/v2/m/manifests/big",
        OCI_MANIFEST,
        &big,
        413,
        "MANIFEST_INVALID",
    );
    let mut chunked = Vec::new();
    for _ in 0..5 {
        chunked.extend_from_slice(format!("{:x}\r\n", 1 << 20).as_bytes());
        chunked.extend_from_slice(&vec![b' '; 1 << 20]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let res = r.req(
        "PUT",
        "/v2/m/manifests/big",
        &[
            ("Content-Type", OCI_MANIFEST),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked,
    );
    assert_eq!((res.status, res.code()), (413, "MANIFEST_INVALID".into()));

    let res = r.req("GET", "/v2/m/manifests/nope", &[], b"");
    assert_eq!((res.status, res.code()), (404, "MANIFEST_UNKNOWN".into()));
    let res = r.req("GET", "/v2/never/pushed/manifests/latest", &[], b"");
    assert_eq!((res.status, res.code()), (404, "NAME_UNKNOWN".into()));
    let res = r.req("GET", &format!("/v2/m/manifests/{EMPTY_DIGEST}"), &[], b"");
    assert_eq!((res.status, res.code()), (404, "MANIFEST_UNKNOWN".into()));

    // An index must name manifests the repository has.
    let idx = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": EMPTY_DIGEST, "size": 0}]}),
    )
    .unwrap();
    check(
        "/v2/m/manifests/idx",
        OCI_INDEX,
        &idx,
        400,
        "MANIFEST_BLOB_UNKNOWN",
    );
    let idx = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": md, "size": m.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}]}),
    )
    .unwrap();
    let res = r.req(
        "PUT",
        "/v2/m/manifests/idx",
        &[("Content-Type", OCI_INDEX)],
        &idx,
    );
    assert_eq!(res.status, 201);
    assert_eq!(
        r.req("GET", "/v2/m/manifests/idx", &[], b"")
            .header("Content-Type"),
        Some(OCI_INDEX)
    );
    // A client that takes single images only gets the linux/amd64 one, as from distribution.
    let old_client = r.req(
        "GET",
        "/v2/m/manifests/idx",
        &[("Accept", OCI_MANIFEST)],
        b"",
    );
    assert_eq!(
        old_client.header("Docker-Content-Digest"),
        Some(md.as_str())
    );
    assert_eq!(old_client.body, m);
    let both = r.req(
        "GET",
        "/v2/m/manifests/idx",
        &[("Accept", OCI_MANIFEST), ("Accept", OCI_INDEX)],
        b"",
    );
    assert_eq!(both.header("Content-Type"), Some(OCI_INDEX));

    // Delete a tag, then a revision (which takes its other tags along).
    r.req(
        "PUT",
        "/v2/m/manifests/v2",
        &[("Content-Type", OCI_MANIFEST)],
        &m,
    );
    assert_eq!(r.req("DELETE", "/v2/m/manifests/v2", &[], b"").status, 202);
    assert_eq!(r.req("GET", "/v2/m/manifests/v2", &[], b"").status, 404);
    assert_eq!(r.req("GET", "/v2/m/manifests/v1", &[], b"").status, 200);
    assert_eq!(
        r.req("DELETE", &format!("/v2/m/manifests/{md}"), &[], b"")
            .status,
        202
    );
    assert_eq!(
        r.req("GET", "/v2/m/manifests/v1", &[], b"").code(),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(
        r.req("GET", &format!("/v2/m/manifests/{md}"), &[], b"")
            .status,
        404
    );
    let res = r.req("DELETE", &format!("/v2/m/manifests/{md}"), &[], b"");
    assert_eq!((res.status, res.code()), (404, "MANIFEST_UNKNOWN".into()));
}

#[test]
fn tags_catalog_pagination() {
    let r = reg();
    let cfg = b"{}".to_vec();
    for tag in ["b", "a", "c", "d"] {
        push_image(&r, "p/q", tag, &cfg, &[]);
    }
    for repo in ["z", "y/x", "w"] {
        push_image(&r, repo, "t", &cfg, &[]);
    }
    let all = r.req("GET", "/v2/p/q/tags/list", &[], b"");
    assert_eq!(
        all.json(),
        serde_json::json!({"name": "p/q", "tags": ["a", "b", "c", "d"]})
    );
    assert!(all.header("Link").is_none());
    let p1 = r.req("GET", "/v2/p/q/tags/list?n=2", &[], b"");
    assert_eq!(p1.json()["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        p1.header("Link"),
        Some("</v2/p/q/tags/list?last=b&n=2>; rel=\"next\"")
    );
    let p2 = r.req("GET", "/v2/p/q/tags/list?last=b&n=2", &[], b"");
    assert_eq!(p2.json()["tags"], serde_json::json!(["c", "d"]));
    assert!(p2.header("Link").is_none());
    let p0 = r.req("GET", "/v2/p/q/tags/list?n=0", &[], b"");
    assert_eq!(p0.json()["tags"], serde_json::json!([]));
    let bad = r.req("GET", "/v2/p/q/tags/list?n=x", &[], b"");
    assert_eq!(
        (bad.status, bad.code()),
        (400, "PAGINATION_NUMBER_INVALID".into())
    );
    let unknown = r.req("GET", "/v2/nothing/tags/list", &[], b"");
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "NAME_UNKNOWN".into())
    );

    let cat = r.req("GET", "/v2/_catalog", &[], b"");
    assert_eq!(
        cat.json(),
        serde_json::json!({"repositories": ["p/q", "w", "y/x", "z"]})
    );
    let c1 = r.req("GET", "/v2/_catalog?n=3", &[], b"");
    assert_eq!(
        c1.json()["repositories"],
        serde_json::json!(["p/q", "w", "y/x"])
    );
    assert_eq!(
        c1.header("Link"),
        Some("</v2/_catalog?last=y%2Fx&n=3>; rel=\"next\"")
    );
    let c2 = r.req("GET", "/v2/_catalog?n=3&last=y%2Fx", &[], b"");
    assert_eq!(c2.json()["repositories"], serde_json::json!(["z"]));
    let big = r.req("GET", "/v2/_catalog?n=100000", &[], b"");
    assert_eq!(
        (big.status, big.code()),
        (400, "PAGINATION_NUMBER_INVALID".into())
    );
}

#[test]
fn referrers_api() {
    let r = reg();
    let cfg = b"{}".to_vec();
    let subject = push_image(&r, "art", "v1", &cfg, &[]);
    let sig_cfg = b"{\"sig\":1}".to_vec();
    push_blob(&r, "art", &sig_cfg);
    let sbom_cfg = b"{\"sbom\":1}".to_vec();
    push_blob(&r, "art", &sbom_cfg);
    let mk = |artifact: &str, c: &[u8]| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(c), "size": c.len()},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
            "annotations": {"k": "v"},
        }))
        .unwrap()
    };
    let sig = mk("application/vnd.example.sig", &sig_cfg);
    let sbom = mk("application/vnd.example.sbom", &sbom_cfg);
    for m in [&sig, &sbom] {
        let res = r.req(
            "PUT",
            &format!("/v2/art/manifests/{}", sha(m)),
            &[("Content-Type", OCI_MANIFEST)],
            m,
        );
        assert_eq!(res.status, 201);
        assert_eq!(res.header("OCI-Subject"), Some(subject.as_str()));
    }
    let all = r.req("GET", &format!("/v2/art/referrers/{subject}"), &[], b"");
    assert_eq!(all.status, 200);
    assert_eq!(all.header("Content-Type"), Some(OCI_INDEX));
    let v = all.json();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(v["manifests"][0]["annotations"]["k"], "v");
    let one = r.req(
        "GET",
        &format!("/v2/art/referrers/{subject}?artifactType=application/vnd.example.sbom"),
        &[],
        b"",
    );
    assert_eq!(one.header("OCI-Filters-Applied"), Some("artifactType"));
    let v = one.json();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(v["manifests"][0]["digest"], sha(&sbom));
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    let none = r.req(
        "GET",
        &format!("/v2/art/referrers/{EMPTY_DIGEST}"),
        &[],
        b"",
    );
    assert_eq!(
        (
            none.status,
            none.json()["manifests"].as_array().unwrap().len()
        ),
        (200, 0)
    );
    let bad = r.req("GET", "/v2/art/referrers/sha256:zz", &[], b"");
    assert_eq!((bad.status, bad.code()), (400, "DIGEST_INVALID".into()));
}

#[test]
fn concurrent_pushes_of_one_blob() {
    let r = reg();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let d = sha(&data);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (r, data, d) = (&r, &data, &d);
            s.spawn(move || {
                let repo = format!("conc{}", i % 2);
                if i % 2 == 0 {
                    push_blob(r, &repo, data);
                } else {
                    let loc = r
                        .req("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
                        .header("Location")
                        .unwrap()
                        .to_string();
                    let (a, b) = data.split_at(1_000_000);
                    assert_eq!(r.req("PATCH", &loc, &[], a).status, 202);
                    assert_eq!(
                        r.req("PUT", &format!("{loc}?digest={d}"), &[], b).status,
                        201
                    );
                }
            });
        }
    });
    for repo in ["conc0", "conc1"] {
        let g = r.req("GET", &format!("/v2/{repo}/blobs/{d}"), &[], b"");
        assert_eq!(sha(&g.body), d);
    }
    let blobs = std::fs::read_dir(r.storage().join("content/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 1);
}

#[test]
fn stalled_and_half_open_connections_are_dropped() {
    let r = reg();
    // Headers that never finish.
    let mut s = TcpStream::connect(r.addr).unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "slow headers kept the connection open"
    );

    // A chunk body that stops half way: the connection is dropped, what arrived is kept and the
    // client can resume from there.
    let loc = r
        .req("POST", "/v2/slow/blobs/uploads/", &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let mut s = TcpStream::connect(r.addr).unwrap();
    s.write_all(
        format!("PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(t.elapsed() < Duration::from_secs(15));
    let st = r.req("GET", &loc, &[], b"");
    assert_eq!((st.status, st.header("Range")), (204, Some("0-9")));

    // Garbage instead of HTTP.
    let mut s = TcpStream::connect(r.addr).unwrap();
    s.write_all(b"\x16\x03\x01\x00garbage\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    // And the server is still fine.
    assert_eq!(r.req("GET", "/v2/", &[], b"").status, 200);
}

#[test]
fn crash_leftovers_are_invisible_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let upload = {
        let r = Reg::start(|c, _| c.storage.filesystem.rootdirectory = Some(storage.clone()));
        push_image(&r, "crash", "v1", b"{}", &[b"layer"]);
        // What a crash can leave: a half-written ingest and a temporary link file.
        let loc = r
            .req("POST", "/v2/crash/blobs/uploads/", &[], b"")
            .header("Location")
            .unwrap()
            .to_string();
        r.req("PATCH", &loc, &[], b"partial");
        loc
    };
    std::fs::write(
        storage.join("repositories/crash/_manifests/tags/.tmp-0000"),
        b"sha256:junk",
    )
    .unwrap();
    std::fs::create_dir_all(storage.join("content/ingest/deadbeef")).unwrap();
    std::fs::write(storage.join("content/ingest/deadbeef/data"), b"half").unwrap();
    let r = Reg::start(|c, _| c.storage.filesystem.rootdirectory = Some(storage.clone()));
    // The half-written ingest is gone; the client's upload stays, to be resumed.
    assert_eq!(
        std::fs::read_dir(storage.join("content/ingest"))
            .unwrap()
            .count(),
        1
    );
    let st = r.req("GET", &upload, &[], b"");
    assert_eq!((st.status, st.header("Range")), (204, Some("0-6")));
    let tags = r.req("GET", "/v2/crash/tags/list", &[], b"");
    assert_eq!(tags.json()["tags"], serde_json::json!(["v1"]));
    assert_eq!(r.req("GET", "/v2/crash/manifests/v1", &[], b"").status, 200);
}

#[test]
fn metrics_count_requests() {
    let r = reg();
    r.req("GET", "/v2/", &[], b"");
    r.req("GET", "/v2/x/manifests/nope", &[], b"");
    let m = r.req("GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    let text = String::from_utf8(m.body).unwrap();
    assert!(
        text.contains("berth_registry_http_requests_total{method=\"GET\",code=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("berth_registry_http_requests_total{method=\"GET\",code=\"404\"} 1"));
    assert!(text.contains("berth_registry_http_request_duration_seconds_count"));
    assert!(text.contains("berth_registry_uploads_in_progress 0"));
}
