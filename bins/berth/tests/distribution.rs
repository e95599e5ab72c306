//! Pull, login and registry configuration through real peers: Debian's docker-registry, Berth's
//! own registry, a scripted misbehaving registry, the `berth` CLI and the real `docker` CLI.

mod common;
mod regpeer;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{code, eventually, stderr, stdout, TestDaemon, BERTH};
use regpeer::{busybox_layer, push_image, tar_of, Blob, Fake, Registry};

/// The berth CLI against `d`, with a private docker config directory.
fn berth(d: &TestDaemon, args: &[&str]) -> Output {
    berth_stdin(d, args, None)
}

fn berth_stdin(d: &TestDaemon, args: &[&str], input: Option<&str>) -> Output {
    let mut c = Command::new(BERTH);
    c.arg("-H")
        .arg(d.host())
        .args(args)
        .env("DOCKER_CONFIG", d.data_root.join("docker-config"))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(i) = input {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        code(o),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Files (not directories) anywhere below `dir`.
fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A layer deleting `/gone` and `/d/a` and making `/opq` opaque over the layer below.
fn whiteout_layers() -> (Vec<u8>, Vec<u8>) {
    let lower = tar_of(&[
        ("d/", ""),
        ("d/a", "a"),
        ("d/b", "b"),
        ("gone", "x"),
        ("opq/", ""),
        ("opq/old", "old"),
    ]);
    let upper = tar_of(&[
        (".wh.gone", ""),
        ("d/", ""),
        ("d/.wh.a", ""),
        ("opq/", ""),
        ("opq/.wh..wh..opq", ""),
        ("opq/new", "new"),
    ]);
    (lower, upper)
}

#[test]
fn pull_from_docker_registry_through_berth_and_docker_clis() {
    let reg = Registry::docker();
    let (lower, upper) = whiteout_layers();
    let digest = push_image(
        &reg.host,
        "it/wh",
        "1",
        &[busybox_layer(), lower.clone(), upper],
    );
    let image = format!("{}/it/wh:1", reg.host);
    let d = TestDaemon::start("pull-dr");

    let out = ok(&berth(&d, &["pull", &image]), "berth pull");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1: Pulling from it/wh", "{out}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with(": Pulling fs layer"))
            .count(),
        3,
        "{out}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with(": Pull complete"))
            .count(),
        3,
        "{out}"
    );
    // Layer IDs are the first 12 hex digits of the compressed digests.
    let first = regpeer::sha(&regpeer::gzip(&busybox_layer()));
    assert!(
        out.contains(&format!("{}: Pull complete", &first[7..19])),
        "{out}"
    );
    let n = lines.len();
    assert_eq!(lines[n - 3], format!("Digest: {digest}"));
    assert_eq!(
        lines[n - 2],
        format!("Status: Downloaded newer image for {image}")
    );
    assert_eq!(lines[n - 1], image);

    // Whiteouts and the opaque directory took effect.
    let run = ok(
        &berth(
            &d,
            &[
                "run",
                "--rm",
                &image,
                "sh",
                "-c",
                "ls /d; ls /opq; test -e /gone || echo no-gone",
            ],
        ),
        "run",
    );
    assert_eq!(run, "b\nnew\nno-gone\n");

    let again = ok(&berth(&d, &["pull", &image]), "second pull");
    assert!(
        again.contains(&format!("Status: Image is up to date for {image}")),
        "{again}"
    );
    assert!(!again.contains("Pulling fs layer"), "{again}");

    // The docker CLI sees the repo digest and pulls a second image sharing the base layer.
    let inspect = ok(
        &d.docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            &image,
        ]),
        "docker inspect",
    );
    assert!(
        inspect.contains(&format!("{}/it/wh@{digest}", reg.host)),
        "{inspect}"
    );
    let other = format!("{}/it/other:2", reg.host);
    push_image(
        &reg.host,
        "it/other",
        "2",
        &[busybox_layer(), tar_of(&[("hello", "world")])],
    );
    let out = ok(&d.docker(&["pull", &other]), "docker pull");
    assert!(out.contains(": Already exists"), "{out}");
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {other}")),
        "{out}"
    );
    let cat = ok(
        &d.docker(&["run", "--rm", &other, "cat", "/hello"]),
        "docker run",
    );
    assert_eq!(cat, "world");

    // By digest: dockerd names the pull by the whole reference.
    let by_digest = format!("{}/it/wh@{digest}", reg.host);
    let out = ok(&berth(&d, &["pull", &by_digest]), "pull by digest");
    assert!(
        out.starts_with(&format!("{by_digest}: Pulling from it/wh\n")),
        "{out}"
    );

    let missing = berth(&d, &["pull", &format!("{}/it/none:1", reg.host)]);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains(&format!(
            "manifest for {}/it/none:1 not found: manifest unknown",
            reg.host
        )),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn run_pulls_a_missing_image_from_berths_registry() {
    let reg = Registry::berth(None, &[]);
    for repo in ["it/a", "it/b"] {
        push_image(
            &reg.host,
            repo,
            "1",
            &[busybox_layer(), tar_of(&[("name", repo)])],
        );
    }
    let d = TestDaemon::start("pull-run");
    let a = format!("{}/it/a:1", reg.host);
    let out = berth(&d, &["run", "--rm", &a, "echo", "hi"]);
    assert_eq!(ok(&out, "berth run"), "hi\n");
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "Unable to find image '{a}' locally\n1: Pulling from it/a\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("Status: Downloaded newer image for {a}")),
        "{err}"
    );

    let b = format!("{}/it/b:1", reg.host);
    let out = d.docker(&["run", "--rm", &b, "echo", "hi"]);
    assert_eq!(ok(&out, "docker run"), "hi\n");
    assert!(
        stderr(&out).contains(&format!("Unable to find image '{b}' locally")),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("Already exists"), "{}", stderr(&out));
    assert!(stderr(&out).contains("Pull complete"), "{}", stderr(&out));
}

#[test]
fn bad_content_is_refused_and_leaves_nothing_recorded() {
    let fake = Fake::start();
    let base = busybox_layer();
    fake.add_image(
        "x/corrupt",
        "1",
        &[
            (base.clone(), Blob::Normal),
            (tar_of(&[("f", "1")]), Blob::Corrupt),
        ],
    );
    fake.add_image(
        "x/trunc",
        "1",
        &[
            (base.clone(), Blob::Normal),
            (tar_of(&[("f", "2")]), Blob::Truncated),
        ],
    );
    // A config whose diff ID does not match the layer.
    let layer = regpeer::gzip(&base);
    let config = regpeer::config_for(&[tar_of(&[("other", "")])], "amd64");
    fake.blobs
        .lock()
        .unwrap()
        .insert(regpeer::sha(&config), (config.clone(), Blob::Normal));
    fake.blobs
        .lock()
        .unwrap()
        .insert(regpeer::sha(&layer), (layer.clone(), Blob::Normal));
    let m = regpeer::manifest_for(&config, std::slice::from_ref(&layer), regpeer::DOCKER_LAYER);
    fake.add_manifest("x/diffid", "1", regpeer::DOCKER_MANIFEST, &m);
    let m = regpeer::manifest_for(
        &config,
        std::slice::from_ref(&layer),
        "application/x-unknown-layer",
    );
    fake.add_manifest("x/media", "1", regpeer::DOCKER_MANIFEST, &m);
    fake.add_manifest(
        "x/junk",
        "1",
        regpeer::DOCKER_MANIFEST,
        b"{\"schemaVersion\":2,",
    );

    let trunc_layer = regpeer::sha(&regpeer::gzip(&tar_of(&[("f", "2")])));
    let d = TestDaemon::start("pull-bad");
    for (repo, want) in [
        ("x/corrupt", "digest"),
        ("x/trunc", ""),
        ("x/diffid", "diff ID"),
        ("x/media", "unsupported media type"),
        ("x/junk", "manifest"),
    ] {
        let out = berth(&d, &["pull", &format!("{}/{repo}:1", fake.host)]);
        assert_ne!(code(&out), 0, "{repo} pulled: {}", stdout(&out));
        assert!(stderr(&out).contains(want), "{repo}: {}", stderr(&out));
        let blobs = files_below(&d.data_root.join("content/blobs"));
        assert!(blobs.is_empty(), "{repo} left blobs behind: {blobs:?}");
        // Only the interrupted download (the truncated blob) keeps its bytes, to resume.
        let partial: Vec<String> = files_below(&d.data_root.join("content/ingest"))
            .iter()
            .filter(|p| p.ends_with("ref"))
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect();
        assert!(
            partial
                .iter()
                .all(|r| *r == format!("pull-{}", &trunc_layer[7..])),
            "{repo} left partial data: {partial:?}"
        );
    }
    assert_eq!(ok(&berth(&d, &["images", "-q"]), "images"), "");
    let blobs = files_below(&d.data_root.join("content/blobs"));
    assert!(blobs.is_empty(), "blobs left behind: {blobs:?}");
    let busybox_copies: Vec<_> = files_below(&d.data_root.join("snapshots"))
        .into_iter()
        .filter(|p| p.ends_with("bin/busybox"))
        .collect();
    assert!(busybox_copies.is_empty(), "layers left: {busybox_copies:?}");

    // The same registry serving good bytes afterwards: the pull completes.
    let corrupt_layer = regpeer::sha(&regpeer::gzip(&tar_of(&[("f", "1")])));
    fake.set_blob(&corrupt_layer, Blob::Normal);
    ok(
        &berth(&d, &["pull", &format!("{}/x/corrupt:1", fake.host)]),
        "pull after repair",
    );
    // The truncated blob's first half was kept: served whole now, only the rest is asked for.
    let ranged_before = fake.hits(&format!("{trunc_layer}#range="));
    let whole_before = fake.hits(&trunc_layer) - ranged_before;
    fake.set_blob(&trunc_layer, Blob::Normal);
    ok(
        &berth(&d, &["pull", &format!("{}/x/trunc:1", fake.host)]),
        "pull of the truncated image once it is whole",
    );
    assert_eq!(
        fake.hits(&format!("{trunc_layer}#range=")),
        ranged_before + 1
    );
    assert_eq!(
        fake.hits(&trunc_layer) - ranged_before - 1,
        whole_before,
        "no whole re-download"
    );
    assert!(files_below(&d.data_root.join("content/ingest")).is_empty());
}

#[test]
fn broken_download_resumes_with_a_range_request() {
    let fake = Fake::start();
    let layer = busybox_layer();
    fake.add_image("x/resume", "1", &[(layer.clone(), Blob::BreaksOnce)]);
    let d = TestDaemon::start("pull-resume");
    ok(
        &berth(&d, &["pull", &format!("{}/x/resume:1", fake.host)]),
        "pull",
    );
    let digest = regpeer::sha(&regpeer::gzip(&layer));
    assert_eq!(fake.hits(&digest), 2, "one broken request, one resumed");
    let out = ok(
        &berth(
            &d,
            &[
                "run",
                "--rm",
                &format!("{}/x/resume:1", fake.host),
                "echo",
                "ok",
            ],
        ),
        "run",
    );
    assert_eq!(out, "ok\n");
}

#[test]
fn concurrent_pulls_download_a_shared_layer_once() {
    let fake = Fake::start();
    let base = busybox_layer();
    fake.add_image(
        "x/one",
        "1",
        &[
            (base.clone(), Blob::Slow),
            (tar_of(&[("one", "1")]), Blob::Normal),
        ],
    );
    fake.add_image(
        "x/two",
        "1",
        &[
            (base.clone(), Blob::Slow),
            (tar_of(&[("two", "2")]), Blob::Normal),
        ],
    );
    let d = TestDaemon::start("pull-conc");
    let spawn = |repo: &str| {
        Command::new(BERTH)
            .args(["-H", &d.host(), "pull", &format!("{}/{repo}:1", fake.host)])
            .env("DOCKER_CONFIG", d.data_root.join("docker-config"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn("x/one");
    let b = spawn("x/two");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    ok(&a, "first pull");
    ok(&b, "second pull");
    let digest = regpeer::sha(&regpeer::gzip(&base));
    assert_eq!(
        fake.hits(&digest),
        1,
        "the shared layer was downloaded once"
    );
    for (img, file) in [("x/one", "/one"), ("x/two", "/two")] {
        ok(
            &berth(
                &d,
                &[
                    "run",
                    "--rm",
                    &format!("{}/{img}:1", fake.host),
                    "cat",
                    file,
                ],
            ),
            "run",
        );
    }
}

#[test]
fn system_check_repair_refetches_a_broken_pulled_image() {
    let reg = Registry::berth(None, &[]);
    push_image(&reg.host, "fix/me", "1", &[busybox_layer()]);
    let d = TestDaemon::start("pull-repair");
    let image = format!("{}/fix/me:1", reg.host);
    ok(&berth(&d, &["pull", &image]), "pull");
    let id = ok(
        &berth(&d, &["image", "inspect", "-f", "{{.Id}}", &image]),
        "inspect",
    );
    let id = id.trim().to_owned();
    // Corrupt the image's config blob on disk: the image is now broken.
    let blob = d
        .data_root
        .join("content/blobs/sha256")
        .join(id.trim_start_matches("sha256:"));
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, b"{\"not\":\"the config\"}").unwrap();
    let out = stdout(&berth(&d, &["system", "check"]));
    assert!(out.contains(&format!("image {id}")), "{out}");

    let out = ok(&berth(&d, &["system", "check", "--repair"]), "repair");
    assert!(
        out.contains(&format!("re-fetched image {id} from")),
        "{out}"
    );
    assert!(out.contains(&format!("tagged it {image}")), "{out}");
    let out = ok(&berth(&d, &["system", "check"]), "check after repair");
    assert!(out.contains("The image store is consistent."), "{out}");
    assert_eq!(
        ok(
            &berth(&d, &["image", "inspect", "-f", "{{.Id}}", &image]),
            "inspect"
        )
        .trim(),
        id
    );
    assert_eq!(
        ok(&berth(&d, &["run", "--rm", &image, "echo", "ok"]), "run"),
        "ok\n"
    );
}

#[test]
fn sigkill_of_the_daemon_mid_pull_then_pull_again_completes() {
    let fake = Fake::start();
    let base = busybox_layer();
    let slow = tar_of(&[("slow", &"s".repeat(200_000))]);
    fake.add_image(
        "x/kill",
        "1",
        &[(base.clone(), Blob::Normal), (slow.clone(), Blob::Slow)],
    );
    let mut d = TestDaemon::start("pull-kill");
    let image = format!("{}/x/kill:1", fake.host);
    let child = Command::new(BERTH)
        .args(["-H", &d.host(), "pull", &image])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let slow_digest = regpeer::sha(&regpeer::gzip(&slow));
    if !eventually(Duration::from_secs(30), || fake.hits(&slow_digest) > 0) {
        let out = child.wait_with_output().unwrap();
        panic!(
            "the slow layer {slow_digest} was never fetched ({:?}): {}{}\n{}",
            fake.hits.lock().unwrap(),
            stdout(&out),
            stderr(&out),
            d.log_text()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    let _ = child.wait_with_output();
    d.spawn();
    assert_eq!(ok(&berth(&d, &["images", "-q"]), "images"), "");
    fake.set_blob(&slow_digest, Blob::Normal);
    ok(&berth(&d, &["pull", &image]), "pull after SIGKILL");
    // The killed pull's bytes were kept: the new one asked only for the rest.
    assert_eq!(
        fake.hits(&format!("{slow_digest}#range=")),
        1,
        "{:?}",
        fake.hits.lock().unwrap()
    );
    let out = ok(
        &berth(&d, &["run", "--rm", &image, "wc", "-c", "/slow"]),
        "run",
    );
    assert_eq!(out.split_whitespace().next(), Some("200000"));
}

#[test]
fn token_auth_login_and_logout_through_both_clis() {
    // Populate the storage openly, then serve it behind tokens.
    let storage = tempfile::tempdir().unwrap();
    let open = Registry::berth(Some(storage.path()), &[]);
    push_image(&open.host, "alice/app", "1", &[busybox_layer()]);
    drop(open);
    let line = Command::new(BERTH)
        .args(["registry", "htpasswd", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"s3cret\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, &line.stdout).unwrap();
    let reg = Registry::berth(
        Some(storage.path()),
        &[
            "--htpasswd",
            htpasswd.to_str().unwrap(),
            "--token-auth",
            "--token-acl",
            "alice:alice/*:pull,push",
        ],
    );
    let image = format!("{}/alice/app:1", reg.host);
    let d = TestDaemon::start("pull-auth");

    let denied = berth(&d, &["pull", &image]);
    assert_ne!(code(&denied), 0);
    assert!(
        stderr(&denied).contains("unauthorized"),
        "{}",
        stderr(&denied)
    );

    let bad = berth_stdin(
        &d,
        &["login", "-u", "alice", "--password-stdin", &reg.host],
        Some("wrong\n"),
    );
    assert_ne!(code(&bad), 0, "{}", stdout(&bad));

    let login = berth_stdin(
        &d,
        &["login", "-u", "alice", "--password-stdin", &reg.host],
        Some("s3cret\n"),
    );
    assert_eq!(ok(&login, "login"), "Login Succeeded\n");
    let cfg = d.data_root.join("docker-config/config.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert!(v["auths"][&reg.host]["auth"].is_string(), "{v}");

    ok(&berth(&d, &["pull", &image]), "pull after login");

    // The docker CLI logs in through POST /auth and pulls with X-Registry-Auth.
    ok(
        &d.docker_stdin(
            &["login", "-u", "alice", "--password-stdin", &reg.host],
            Some(b"s3cret\n"),
        ),
        "docker login",
    );
    ok(&d.docker(&["rmi", &image]), "docker rmi");
    let out = ok(&d.docker(&["pull", &image]), "docker pull");
    assert!(out.contains("Downloaded newer image"), "{out}");

    let out = ok(&berth(&d, &["logout", &reg.host]), "logout");
    assert_eq!(
        out,
        format!("Removing login credentials for {}\n", reg.host)
    );
    let out = ok(&berth(&d, &["logout", &reg.host]), "logout twice");
    assert_eq!(out, format!("Not logged in to {}\n", reg.host));
}

#[test]
fn mirrors_serve_any_registry_and_are_skipped_when_down() {
    let mirror = Registry::docker();
    push_image(&mirror.host, "team/app", "1", &[busybox_layer()]);
    let dead = format!("127.0.0.1:{}", regpeer::free_port());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("daemon.json");
    // The origin does not exist: only the mirror can answer; a dead mirror comes first.
    let origin = format!("127.0.0.1:{}", regpeer::free_port());
    std::fs::write(
        &cfg,
        serde_json::json!({
            "berth-registry-mirrors": {
                origin.clone(): [format!("http://{dead}"), format!("http://{}", mirror.host)]
            }
        })
        .to_string(),
    )
    .unwrap();
    let d = TestDaemon::start_with("pull-mirror", &["--config-file", cfg.to_str().unwrap()]);
    let image = format!("{origin}/team/app:1");
    let out = ok(&berth(&d, &["pull", &image]), "pull through mirror");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {image}")),
        "{out}"
    );
    ok(&berth(&d, &["run", "--rm", &image, "true"]), "run");
}

#[test]
fn push_through_both_clis_is_read_back_by_skopeo_and_pulls() {
    let reg = Registry::docker();
    let d = TestDaemon::start("push");
    d.load_busybox();
    let image = format!("{}/it/bb:1", reg.host);
    ok(&d.docker(&["tag", "busybox:latest", &image]), "docker tag");

    let out = ok(&berth(&d, &["push", &image]), "berth push");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{}/it/bb]", reg.host)
    );
    assert!(lines[1].ends_with(": Preparing"), "{out}");
    assert!(lines.iter().any(|l| l.ends_with(": Pushed")), "{out}");
    let last = lines.last().unwrap();
    assert!(last.starts_with("1: digest: sha256:"), "{out}");
    let digest = last.split_whitespace().nth(2).unwrap().to_string();

    // skopeo reads back exactly the manifest Berth pushed.
    let raw = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
        ])
        .arg(format!("docker://{image}"))
        .output()
        .expect("skopeo must be installed (scripts/deps.sh)");
    assert!(raw.status.success(), "{}", stderr(&raw));
    assert_eq!(regpeer::sha(&raw.stdout), digest);
    let cfg = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "inspect",
            "--config",
            "--tls-verify=false",
        ])
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&cfg.stdout).contains("/bin/sh"));

    // Again: the registry has every blob.
    let out = ok(&berth(&d, &["push", &image]), "second push");
    assert!(out.contains(": Layer already exists"), "{out}");
    assert!(out.contains(&format!("1: digest: {digest} ")), "{out}");

    // Another repository of the same registry: the layer is mounted, not uploaded.
    let other = format!("{}/it/copy:2", reg.host);
    ok(&d.docker(&["tag", "busybox:latest", &other]), "docker tag");
    let out = ok(&d.docker(&["push", &other]), "docker push");
    assert!(out.contains(": Mounted from it/bb"), "{out}");
    assert!(out.contains(&format!("2: digest: {digest} ")), "{out}");

    // What was pushed pulls and runs.
    ok(&d.docker(&["rmi", &image, &other]), "docker rmi");
    ok(&berth(&d, &["pull", &image]), "pull back");
    let out = ok(
        &berth(&d, &["run", "--rm", &image, "echo", "round trip"]),
        "run",
    );
    assert_eq!(out, "round trip\n");

    let missing = berth(&d, &["push", &format!("{}/it/none:1", reg.host)]);
    assert_ne!(code(&missing), 0);
    assert!(
        stderr(&missing).contains("An image does not exist locally with the tag"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn search_manifest_inspect_and_distribution_json() {
    let reg = Registry::docker();
    let digest = push_image(&reg.host, "find/me", "1", &[busybox_layer()]);
    push_image(&reg.host, "other/thing", "1", &[busybox_layer()]);
    let d = TestDaemon::start("search");

    let term = format!("{}/me", reg.host);
    let out = ok(&berth(&d, &["search", &term]), "berth search");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("OFFICIAL"),
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with(&format!("{}/find/me ", reg.host)),
        "{out}"
    );
    let out = ok(&d.docker(&["search", &term]), "docker search");
    assert!(out.contains(&format!("{}/find/me", reg.host)), "{out}");
    let hub = berth(&d, &["search", "busybox"]);
    assert_ne!(code(&hub), 0);
    assert!(stderr(&hub).contains("not implemented"), "{}", stderr(&hub));

    let image = format!("{}/find/me:1", reg.host);
    let out = ok(
        &berth(&d, &["manifest", "inspect", &image]),
        "manifest inspect",
    );
    assert!(out.starts_with("{\n   \"schemaVersion\": 2,"), "{out}");
    let (_, _, raw) = regpeer::http(
        &reg.host,
        "GET",
        "/v2/find/me/manifests/1",
        &[("Accept", regpeer::DOCKER_MANIFEST)],
        b"",
    );
    let a: serde_json::Value = serde_json::from_str(&out).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(a, b);

    let (status, _, body) = d.api("GET", &format!("/v1.41/distribution/{image}/json"), None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Descriptor"]["digest"], digest.as_str());
    assert_eq!(v["Descriptor"]["mediaType"], regpeer::DOCKER_MANIFEST);
    assert_eq!(v["Platforms"][0]["architecture"], "amd64");
    assert_eq!(v["Platforms"][0]["os"], "linux");
}

#[test]
fn registry_access_logs_in_json_are_one_object_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let host = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let log = dir.path().join("registry.log");
    let mut child = Command::new(BERTH)
        .args([
            "registry",
            "serve",
            "--addr",
            &host,
            "--log-format",
            "json",
            "--storage",
        ])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(20), || std::net::TcpStream::connect(
            &host
        )
        .is_ok()),
        "registry did not start"
    );
    let (status, _, _) = regpeer::http(&host, "GET", "/v2/nosuch/tags/list", &[], b"");
    assert_eq!(status, 404);
    let mut access = None;
    eventually(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        access = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["target"] == "berth_registry::access");
        access.is_some()
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON line: {line}"
        );
    }
    let a = access.unwrap_or_else(|| panic!("no access line in {text}"));
    assert_eq!(a["method"], "GET", "{a}");
    assert_eq!(a["path"], "/v2/nosuch/tags/list", "{a}");
    assert_eq!(a["status"], 404, "{a}");
}
