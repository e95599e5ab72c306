//! Access: htpasswd basic auth, bearer tokens with scopes from the built-in token endpoint,
//! read-only mode and TLS — each refusal and each admission, with raw HTTP and with skopeo.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use berth_registry::config::{AclRule, Htpasswd, Tls, Token};
use common::*;

fn htpasswd(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("htpasswd");
    let mut f = std::fs::File::create(&p).unwrap();
    for (u, pw) in [("alice", "wonderland"), ("bob", "builder")] {
        writeln!(f, "{u}:{}", bcrypt::hash(pw, 5).unwrap()).unwrap();
    }
    // Not bcrypt: ignored, as distribution does.
    writeln!(f, "mallory:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=").unwrap();
    p
}

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

#[test]
fn basic_auth_refuses_everything_without_credentials() {
    let r = Reg::start(|c, dir| {
        c.auth.htpasswd = Some(Htpasswd {
            realm: "test-realm".into(),
            path: htpasswd(dir),
        })
    });
    let alice = basic("alice", "wonderland");
    for (method, path) in [
        ("GET", "/v2/"),
        ("GET", "/v2/_catalog"),
        ("GET", "/v2/x/tags/list"),
        ("GET", "/v2/x/manifests/latest"),
        ("POST", "/v2/x/blobs/uploads/"),
        ("DELETE", "/v2/x/manifests/latest"),
    ] {
        for auth in [
            None,
            Some(basic("alice", "wrong")),
            Some(basic("nobody", "x")),
            Some(basic("mallory", "x")),
            Some("Basic !!!".to_string()),
            Some("Bearer abc".to_string()),
        ] {
            let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
            let res = r.req(method, path, &h, b"");
            assert_eq!(
                (res.status, res.code()),
                (401, "UNAUTHORIZED".into()),
                "{method} {path} {auth:?}"
            );
            assert_eq!(
                res.header("WWW-Authenticate"),
                Some("Basic realm=\"test-realm\"")
            );
        }
    }
    assert_eq!(
        r.req("GET", "/v2/", &[("Authorization", &alice)], b"")
            .status,
        200
    );
    push_image_auth(&r, &alice);

    // skopeo: without credentials refused, with them it pushes and pulls.
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("img");
    let top = oci_layout(&layout, "v1", "basic", &["amd64"]);
    let dest = format!("docker://{}/auth/bb:v1", r.host());
    let src = format!("oci:{}:v1", layout.display());
    let (ok, out) = skopeo(&["copy", "--dest-tls-verify=false", &src, &dest]);
    assert!(!ok && out.contains("authentication required"), "{out}");
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:builder",
        &src,
        &dest,
    ]);
    assert_eq!(
        raw_digest(
            &dest,
            &["--tls-verify=false", "--creds", "alice:wonderland"]
        ),
        top
    );
    let (ok, _) = skopeo(&["inspect", "--raw", "--tls-verify=false", &dest]);
    assert!(!ok);
}

fn push_image_auth(r: &Reg, auth: &str) {
    let data = b"authorized blob";
    let res = r.req(
        "POST",
        &format!("/v2/a/blobs/uploads/?digest={}", sha(data)),
        &[("Authorization", auth)],
        data,
    );
    assert_eq!(res.status, 201);
}

fn token_reg(acl: Vec<AclRule>) -> Reg {
    Reg::start(move |c, dir| {
        c.auth.htpasswd = Some(Htpasswd {
            realm: "r".into(),
            path: htpasswd(dir),
        });
        c.auth.token = Some(Token {
            acl,
            ..Token::default()
        });
    })
}

fn rule(account: &str, name: &str, actions: &[&str]) -> AclRule {
    AclRule {
        account: account.into(),
        name: name.into(),
        actions: actions.iter().map(|s| s.to_string()).collect(),
    }
}

fn token(r: &Reg, creds: Option<&str>, scope: &str) -> (u16, String) {
    let auth = creds.map(|c| {
        let (u, p) = c.split_once(':').unwrap();
        basic(u, p)
    });
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("service", "berth-registry")
        .append_pair("scope", scope)
        .finish();
    let res = r.req("GET", &format!("/token?{q}"), &h, b"");
    if res.status != 200 {
        return (res.status, String::new());
    }
    (200, res.json()["token"].as_str().unwrap().to_string())
}

#[test]
fn bearer_tokens_with_scopes() {
    let r = token_reg(vec![
        rule("alice", "alice/*", &["pull", "push", "delete"]),
        rule("alice", "*", &["*"]),
        rule("*", "shared", &["pull"]),
    ]);
    // The challenge points at the built-in endpoint and names the scope needed.
    let res = r.req("GET", "/v2/alice/app/manifests/v1", &[], b"");
    assert_eq!((res.status, res.code()), (401, "UNAUTHORIZED".into()));
    let ch = res.header("WWW-Authenticate").unwrap();
    assert_eq!(
        ch,
        format!("Bearer realm=\"http://{}/token\",service=\"berth-registry\",scope=\"repository:alice/app:pull\"", r.host())
    );
    let res = r.req("POST", "/v2/alice/app/blobs/uploads/", &[], b"");
    assert!(res
        .header("WWW-Authenticate")
        .unwrap()
        .contains("scope=\"repository:alice/app:pull,push\""));

    // No anonymous tokens, no tokens for wrong passwords.
    assert_eq!(token(&r, None, "repository:shared:pull").0, 401);
    assert_eq!(
        token(&r, Some("alice:nope"), "repository:shared:pull").0,
        401
    );

    let (_, alice) = token(
        &r,
        Some("alice:wonderland"),
        "repository:alice/app:pull,push",
    );
    let bearer = format!("Bearer {alice}");
    let h = [("Authorization", bearer.as_str())];
    assert_eq!(r.req("GET", "/v2/", &h, b"").status, 200);
    let data = b"token blob";
    let res = r.req(
        "POST",
        &format!("/v2/alice/app/blobs/uploads/?digest={}", sha(data)),
        &h,
        data,
    );
    assert_eq!(res.status, 201);
    assert_eq!(
        r.req(
            "GET",
            &format!("/v2/alice/app/blobs/{}", sha(data)),
            &h,
            b""
        )
        .status,
        200
    );
    // The token is for that repository and those actions only.
    let res = r.req(
        "GET",
        &format!("/v2/alice/other/blobs/{}", sha(data)),
        &h,
        b"",
    );
    assert_eq!(res.status, 401);
    assert!(res
        .header("WWW-Authenticate")
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    let res = r.req(
        "DELETE",
        &format!("/v2/alice/app/blobs/{}", sha(data)),
        &h,
        b"",
    );
    assert_eq!(res.status, 401);

    // bob may only pull `shared`; asking for more yields a token without it.
    let (_, bob) = token(&r, Some("bob:builder"), "repository:alice/app:pull,push");
    let bearer = format!("Bearer {bob}");
    let res = r.req(
        "GET",
        &format!("/v2/alice/app/blobs/{}", sha(data)),
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(res.status, 401);
    let (_, bob) = token(&r, Some("bob:builder"), "repository:shared:pull,push");
    let bearer = format!("Bearer {bob}");
    let res = r.req(
        "GET",
        "/v2/shared/tags/list",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!((res.status, res.code()), (404, "NAME_UNKNOWN".into()));
    let res = r.req(
        "POST",
        "/v2/shared/blobs/uploads/",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(res.status, 401);
    // Catalog needs the registry-wide right.
    let (_, t) = token(&r, Some("bob:builder"), "registry:catalog:*");
    assert_eq!(
        r.req(
            "GET",
            "/v2/_catalog",
            &[("Authorization", &format!("Bearer {t}"))],
            b""
        )
        .status,
        401
    );
    let (_, t) = token(&r, Some("alice:wonderland"), "registry:catalog:*");
    let res = r.req(
        "GET",
        "/v2/_catalog",
        &[("Authorization", &format!("Bearer {t}"))],
        b"",
    );
    assert_eq!(res.json()["repositories"], serde_json::json!(["alice/app"]));

    // Tampered and foreign tokens are refused as invalid.
    let mut parts: Vec<String> = alice.split('.').map(str::to_string).collect();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&parts[1])
        .unwrap();
    let forged = String::from_utf8(claims)
        .unwrap()
        .replace("alice/app", "bob/app");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
    for bad in [parts.join("."), "x.y.z".to_string(), "garbage".to_string()] {
        let res = r.req(
            "GET",
            "/v2/",
            &[("Authorization", &format!("Bearer {bad}"))],
            b"",
        );
        assert_eq!(res.status, 401);
        assert!(res
            .header("WWW-Authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""));
    }
    let other = token_reg(vec![]);
    let (_, foreign) = token(
        &other,
        Some("alice:wonderland"),
        "repository:alice/app:pull",
    );
    let res = r.req(
        "GET",
        "/v2/alice/app/tags/list",
        &[("Authorization", &format!("Bearer {foreign}"))],
        b"",
    );
    assert_eq!(res.status, 401);

    // The OAuth2 form of the token endpoint.
    let form = b"grant_type=password&username=alice&password=wonderland&service=berth-registry&scope=repository%3Aalice%2Fapp%3Apull";
    let res = r.req(
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form,
    );
    assert_eq!(res.status, 200);
    let t = res.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        r.req(
            "GET",
            "/v2/alice/app/tags/list",
            &[("Authorization", &format!("Bearer {t}"))],
            b""
        )
        .status,
        404
    );
}

#[test]
fn skopeo_through_the_token_flow() {
    let r = token_reg(vec![
        rule("alice", "*", &["*"]),
        rule("bob", "*", &["pull"]),
    ]);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("img");
    let top = oci_layout(&layout, "v1", "token", &["amd64"]);
    let dest = format!("docker://{}/tok/bb:v1", r.host());
    let src = format!("oci:{}:v1", layout.display());
    let (ok, _) = skopeo(&["copy", "--dest-tls-verify=false", &src, &dest]);
    assert!(!ok);
    let (ok, _) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:builder",
        &src,
        &dest,
    ]);
    assert!(!ok, "bob may not push");
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:wonderland",
        &src,
        &dest,
    ]);
    assert_eq!(
        raw_digest(&dest, &["--tls-verify=false", "--creds", "bob:builder"]),
        top
    );
}

#[test]
fn read_only_mode() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s");
    let digest = {
        let r = Reg::start(|c, _| c.storage.filesystem.rootdirectory = Some(storage.clone()));
        push_image(&r, "ro", "v1", b"{}", &[b"l"])
    };
    let r = Reg::start(|c, _| {
        c.storage.filesystem.rootdirectory = Some(storage.clone());
        c.storage.maintenance.readonly.enabled = true;
    });
    assert_eq!(r.req("GET", "/v2/ro/manifests/v1", &[], b"").status, 200);
    for (method, path) in [
        ("POST", "/v2/ro/blobs/uploads/".to_string()),
        ("PUT", "/v2/ro/manifests/v2".to_string()),
        ("DELETE", format!("/v2/ro/manifests/{digest}")),
        ("DELETE", format!("/v2/ro/blobs/{}", sha(b"l"))),
    ] {
        let res = r.req(method, &path, &[("Content-Type", OCI_MANIFEST)], b"{}");
        assert_eq!(
            (res.status, res.code()),
            (405, "UNSUPPORTED".into()),
            "{method} {path}"
        );
    }
    assert_eq!(r.req("GET", "/v2/ro/manifests/v1", &[], b"").status, 200);
}

fn tls_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k, cert.pem())
}

#[test]
fn tls_serves_and_refuses_plain_http() {
    let certs = tempfile::tempdir().unwrap();
    let (c, k, pem) = tls_files(certs.path());
    let r = Reg::start(|cfg, dir| {
        cfg.http.tls = Some(Tls {
            certificate: c.clone(),
            key: k.clone(),
        });
        cfg.auth.htpasswd = Some(Htpasswd {
            realm: "tls".into(),
            path: htpasswd(dir),
        });
    });

    // A rustls client that trusts only the test CA.
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let tls_get = |path: &str, auth: Option<&str>| {
        let conn =
            rustls::ClientConnection::new(cfg.clone(), "127.0.0.1".try_into().unwrap()).unwrap();
        let sock = std::net::TcpStream::connect(r.addr).unwrap();
        let mut s = rustls::StreamOwned::new(conn, sock);
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        exchange(&mut s, &r.host(), "GET", path, &h, b"")
    };
    let res = tls_get("/v2/", None);
    assert_eq!(res.status, 401);
    let alice = basic("alice", "wonderland");
    assert_eq!(tls_get("/v2/", Some(&alice)).status, 200);

    // Plain HTTP on the TLS port gets nothing useful.
    let mut s = std::net::TcpStream::connect(r.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(&mut s, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut buf);
    assert!(!buf.starts_with(b"HTTP/1.1 200"));

    // skopeo with verification against the CA, and refused without it.
    let ca_dir = certs.path().join("ca");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::write(ca_dir.join("ca.crt"), &pem).unwrap();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("img");
    let top = oci_layout(&layout, "v1", "tls", &["amd64"]);
    let dest = format!("docker://{}/tls/bb:v1", r.host());
    let src = format!("oci:{}:v1", layout.display());
    let (ok, out) = skopeo(&["copy", "--dest-creds", "alice:wonderland", &src, &dest]);
    assert!(!ok && out.contains("certificate"), "{out}");
    skopeo_ok(&[
        "copy",
        "--dest-cert-dir",
        ca_dir.to_str().unwrap(),
        "--dest-creds",
        "alice:wonderland",
        &src,
        &dest,
    ]);
    assert_eq!(
        raw_digest(
            &dest,
            &[
                "--cert-dir",
                ca_dir.to_str().unwrap(),
                "--creds",
                "alice:wonderland"
            ]
        ),
        top
    );
}

#[test]
fn repeated_password_failures_are_slowed_down_per_user() {
    let r = Reg::start(|c, dir| {
        c.auth.htpasswd = Some(Htpasswd {
            realm: "test-realm".into(),
            path: htpasswd(dir),
        })
    });
    let wrong = basic("alice", "guess");
    let h = [("Authorization", wrong.as_str())];
    // Ten guesses are answered (and refused) normally, the next is told to wait.
    for n in 0..10 {
        let res = r.req("GET", "/v2/", &h, b"");
        assert_eq!(res.status, 401, "guess {n}");
    }
    let res = r.req("GET", "/v2/", &h, b"");
    assert_eq!(
        (res.status, res.code()),
        (429, "TOOMANYREQUESTS".to_string())
    );
    let retry: u64 = res.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry), "Retry-After {retry}");
    // Even the right password for that user waits now; other users are unaffected.
    let alice = basic("alice", "wonderland");
    let res = r.req("GET", "/v2/", &[("Authorization", alice.as_str())], b"");
    assert_eq!(res.status, 429);
    let bob = basic("bob", "builder");
    let res = r.req("GET", "/v2/", &[("Authorization", bob.as_str())], b"");
    assert_eq!(res.status, 200);
}

#[test]
fn metrics_need_credentials_on_a_protected_registry() {
    let r = Reg::start(|c, dir| {
        c.auth.htpasswd = Some(Htpasswd {
            realm: "test-realm".into(),
            path: htpasswd(dir),
        })
    });
    let res = r.req("GET", "/metrics", &[], b"");
    assert_eq!(res.status, 401);
    assert!(res.header("WWW-Authenticate").is_some());
    let alice = basic("alice", "wonderland");
    let res = r.req("GET", "/metrics", &[("Authorization", alice.as_str())], b"");
    assert_eq!(res.status, 200);
    assert!(
        String::from_utf8_lossy(&res.body).contains("berth_registry_http_requests_total"),
        "{}",
        String::from_utf8_lossy(&res.body)
    );
}
