//! The build context end to end: `.dockerignore`, `-f` outside the context and from stdin,
//! contexts on stdin (plain and compressed), hostile context tars, remote contexts (git over a
//! loopback `git daemon`, a tar and a plain Dockerfile over loopback http), `berth build`'s flags,
//! the real `docker build` and docker-py against a test daemon, and the prune commands.
//!
//! Each build prints its context with `RUN find /ctx` so the tests see exactly what reached
//! the builder.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;

fn write(root: &Path, rel: &str, data: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn ok(o: &Output, d: &TestDaemon) -> String {
    assert!(
        o.status.success(),
        "command failed ({:?})\nstdout: {}\nstderr: {}\ndaemon log tail:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o),
        tail(&d.log_text())
    );
    stdout(o)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The `/ctx/...` lines a build printed.
fn ctx_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("/ctx"))
        .map(str::to_string)
        .collect()
}

const FIND: &str = "FROM busybox\nCOPY . /ctx/\nRUN find /ctx | sort\n";

/// A context like the one the anchor Docker was checked against.
fn sample_context() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "a.txt", "hi\n");
    write(r, "x.log", "log\n");
    write(r, "sub/deep.log", "deep\n");
    write(r, "docs/keep.md", "keep\n");
    write(r, "docs/drop.md", "drop\n");
    write(r, "node_modules/m/index.js", "x\n");
    write(
        r,
        ".dockerignore",
        "# comment\n*.log\ndocs\n!docs/keep.md\n/node_modules\nDockerfile\n",
    );
    write(r, "Dockerfile", FIND);
    d
}

#[test]
fn buildctx_dockerignore_and_plain_output() {
    let d = TestDaemon::start("bctx-ign");
    d.load_busybox();
    let ctx = sample_context();
    let o = d.berth(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        "-t",
        "ign:1",
        "-t",
        "ign:two",
        ctx.path().to_str().unwrap(),
    ]);
    let out = ok(&o, &d);
    assert!(
        out.starts_with("Sending build context to Docker daemon  "),
        "{out}"
    );
    assert!(out.contains("Step 1/3 : FROM busybox"), "{out}");
    assert_eq!(
        ctx_lines(&out),
        vec![
            "/ctx",
            "/ctx/.dockerignore",
            "/ctx/a.txt",
            "/ctx/docs",
            "/ctx/docs/keep.md",
            "/ctx/sub",
            "/ctx/sub/deep.log",
        ],
        "{out}"
    );
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged ign:1"), "{out}");
    assert!(out.contains("Successfully tagged ign:two"), "{out}");
    // `Dockerfile.dockerignore` beside the Dockerfile wins over `.dockerignore`.
    write(ctx.path(), "Dockerfile.dockerignore", "a.txt\ndocs\n");
    let o = d.berth(&[
        "build",
        "--progress=plain",
        "--no-cache",
        ctx.path().to_str().unwrap(),
    ]);
    let out = ok(&o, &d);
    let lines = ctx_lines(&out);
    assert!(!lines.contains(&"/ctx/a.txt".to_string()), "{out}");
    assert!(lines.contains(&"/ctx/x.log".to_string()), "{out}");
    assert!(lines.contains(&"/ctx/Dockerfile".to_string()), "{out}");
    assert!(
        lines.contains(&"/ctx/Dockerfile.dockerignore".to_string()),
        "{out}"
    );
}

#[test]
fn buildctx_dockerfile_outside_the_context_and_from_stdin() {
    let d = TestDaemon::start("bctx-df");
    d.load_busybox();
    let top = tempfile::tempdir().unwrap();
    let ctx = top.path().join("ctx");
    write(&ctx, "f.txt", "f\n");
    write(top.path(), "elsewhere/build.Dockerfile", FIND);
    let o = d.berth(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        "-f",
        top.path()
            .join("elsewhere/build.Dockerfile")
            .to_str()
            .unwrap(),
        ctx.to_str().unwrap(),
    ]);
    let out = ok(&o, &d);
    // Neither the generated Dockerfile name nor the injected .dockerignore stays behind.
    assert_eq!(ctx_lines(&out), vec!["/ctx", "/ctx/f.txt"], "{out}");
    // `-f -`: the Dockerfile from stdin.
    let o = d.berth_stdin(
        &[
            "build",
            "--progress",
            "plain",
            "--no-cache",
            "-f",
            "-",
            ctx.to_str().unwrap(),
        ],
        Some(FIND.as_bytes()),
    );
    let out = ok(&o, &d);
    assert_eq!(ctx_lines(&out), vec!["/ctx", "/ctx/f.txt"], "{out}");
    // A missing Dockerfile fails before anything is sent, with docker's words.
    let o = d.berth(&["build", "-f", "/nonexistent/Df", ctx.to_str().unwrap()]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("Cannot locate specified Dockerfile"),
        "{}",
        stderr(&o)
    );
    let o = d.berth_stdin(&["build", "-f", "-", "-"], Some(b"FROM busybox\n"));
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("can't use stdin for both build context and dockerfile"),
        "{}",
        stderr(&o)
    );
}

fn tar_cmd(dir: &Path, flag: &str) -> Vec<u8> {
    let mut c = Command::new("tar");
    c.arg("-C").arg(dir);
    if !flag.is_empty() {
        c.arg(flag);
    }
    let o = c.args(["-cf", "-", "."]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn buildctx_stdin_contexts_plain_and_compressed() {
    let d = TestDaemon::start("bctx-stdin");
    d.load_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), "Dockerfile", FIND);
    write(ctx.path(), "in-tar.txt", "t\n");
    for flag in ["", "-z", "-j", "-J", "--zstd"] {
        let tar = tar_cmd(ctx.path(), flag);
        let o = d.berth_stdin(
            &["build", "--progress", "plain", "--no-cache", "-"],
            Some(&tar),
        );
        let out = ok(&o, &d);
        assert!(
            ctx_lines(&out).contains(&"/ctx/in-tar.txt".to_string()),
            "{flag}: {out}"
        );
    }
    // A Dockerfile alone on stdin: an empty context.
    let o = d.berth_stdin(
        &["build", "--progress", "plain", "--no-cache", "-"],
        Some(b"FROM busybox\nRUN echo lone-dockerfile-ran\n"),
    );
    let out = ok(&o, &d);
    assert!(out.contains("lone-dockerfile-ran"), "{out}");
    // A tar file as CONTEXT.
    let tarfile = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tarfile.path(), tar_cmd(ctx.path(), "-z")).unwrap();
    let o = d.berth(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        tarfile.path().to_str().unwrap(),
    ]);
    assert!(ctx_lines(&ok(&o, &d)).contains(&"/ctx/in-tar.txt".to_string()));
}

/// `POST /build` with a raw body; returns (status, body).
fn post_build(d: &TestDaemon, query: &str, body: &[u8]) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "POST /v1.41/build{query} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A tar with raw entry names (python's tarfile keeps `../` and absolute names as given).
fn hostile_tar(spec: &str) -> Vec<u8> {
    let script = format!(
        r#"
import io, sys, tarfile
buf = io.BytesIO()
t = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
def add(name, data=b"", kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data); i.mode = 0o644
    t.addfile(i, io.BytesIO(data) if data else None)
add("Dockerfile", b"FROM busybox\n")
{spec}
t.close()
sys.stdout.buffer.write(buf.getvalue())
"#
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn buildctx_hostile_context_tars_are_refused() {
    let d = TestDaemon::start("bctx-hostile");
    d.load_busybox();
    for (what, spec) in [
        ("dotdot", r#"add("../../escaped-dotdot", b"x")"#),
        (
            "symlink",
            r#"add("l", kind=tarfile.SYMTYPE, link="../../../../../../tmp"); add("l/escaped-symlink", b"x")"#,
        ),
        (
            "hardlink",
            r#"add("h", kind=tarfile.LNKTYPE, link="../../../../etc/passwd")"#,
        ),
    ] {
        let (status, body) = post_build(&d, "", &hostile_tar(spec));
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("invalid build context"), "{what}: {body}");
        assert!(!Path::new("/tmp/escaped-symlink").exists());
    }
    // An absolute entry name lands inside the context (as Docker places it), not on the host.
    let (status, body) = post_build(
        &d,
        "",
        &hostile_tar(r#"add("/tmp/escaped-absolute", b"x")"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(!Path::new("/tmp/escaped-absolute").exists());
    // Nothing is left in the daemon's scratch directory.
    let scratch = d.data_root.join("build/tmp");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // Not a tar at all.
    let (status, body) = post_build(&d, "", b"this is not a tar archive, not at all.....");
    assert!(status == 400, "{body}");
}

#[test]
fn buildctx_buildkit_and_bad_parameters_are_refused() {
    let d = TestDaemon::start("bctx-api");
    let (status, body) = post_build(&d, "?version=2", b"");
    assert_eq!(status, 501, "{body}");
    assert!(
        body.contains("BuildKit sessions are not supported"),
        "{body}"
    );
    let (status, body) = post_build(&d, "?buildargs=%7Bnope", b"");
    assert_eq!(status, 400, "{body}");
    let (status, _) = post_build(&d, "?memory=lots", b"");
    assert_eq!(status, 400);
}

/// A child process killed when the test ends.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    assert!(
        eventually(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "nothing listens on {port}"
    );
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn buildctx_remote_git_context() {
    let d = TestDaemon::start("bctx-git");
    d.load_busybox();
    let base = tempfile::tempdir().unwrap();
    let repo = base.path().join("repo.git");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    write(
        &repo,
        "Dockerfile",
        "FROM busybox\nRUN echo root-dockerfile\n",
    );
    write(&repo, "app/Dockerfile", FIND);
    write(&repo, "app/which.txt", "main\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "main"]);
    git(&repo, &["checkout", "-qb", "dev"]);
    write(&repo, "app/which.txt", "dev\n");
    write(&repo, "app/only-dev.txt", "d\n");
    git(&repo, &["commit", "-qam", "dev"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "dev2"]);
    git(&repo, &["checkout", "-q", "main"]);
    let port = free_port();
    let _daemon = Guard(
        Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.path().display()),
                base.path().to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon"),
    );
    wait_port(port);
    let url = format!("git://127.0.0.1:{port}/repo.git");
    // The default branch, the root Dockerfile.
    let o = d.berth(&["build", "--progress", "plain", "--no-cache", &url]);
    assert!(ok(&o, &d).contains("root-dockerfile"));
    // `#ref:subdir`.
    let o = d.berth(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        "-t",
        "fromgit:dev",
        &format!("{url}#dev:app"),
    ]);
    let out = ok(&o, &d);
    assert_eq!(
        ctx_lines(&out),
        vec![
            "/ctx",
            "/ctx/Dockerfile",
            "/ctx/only-dev.txt",
            "/ctx/which.txt"
        ],
        "{out}"
    );
    let o = d.berth(&["run", "--rm", "fromgit:dev", "cat", "/ctx/which.txt"]);
    assert_eq!(ok(&o, &d).trim(), "dev");
    // A ref that does not exist, a subdir that climbs out.
    let o = d.berth(&["build", &format!("{url}#nope")]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("git"), "{}", stderr(&o));
    let o = d.berth(&["build", &format!("{url}#main:../..")]);
    assert_ne!(code(&o), 0);
}

#[test]
fn buildctx_remote_http_tar_and_plain_dockerfile() {
    let d = TestDaemon::start("bctx-http");
    d.load_busybox();
    let served = tempfile::tempdir().unwrap();
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), "Dockerfile", FIND);
    write(ctx.path(), "over-http.txt", "h\n");
    std::fs::write(served.path().join("ctx.tar.gz"), tar_cmd(ctx.path(), "-z")).unwrap();
    std::fs::write(
        served.path().join("Dockerfile"),
        "FROM busybox\nRUN echo plain-remote-dockerfile\n",
    )
    .unwrap();
    let port = free_port();
    let _http = Guard(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
                served.path().to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server"),
    );
    wait_port(port);
    let o = d.berth(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        &format!("http://127.0.0.1:{port}/ctx.tar.gz"),
    ]);
    assert!(ctx_lines(&ok(&o, &d)).contains(&"/ctx/over-http.txt".to_string()));
    let o = d.berth(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        &format!("http://127.0.0.1:{port}/Dockerfile"),
    ]);
    assert!(ok(&o, &d).contains("plain-remote-dockerfile"));
    // `ADD <url>` downloads through the same client, named after the URL's last element.
    std::fs::write(served.path().join("added.txt"), "added over http\n").unwrap();
    let df = format!(
        "FROM busybox\nADD http://127.0.0.1:{port}/added.txt /added/\nRUN cat /added/added.txt\n"
    );
    let o = d.berth_stdin(
        &["build", "--progress", "plain", "--no-cache", "-"],
        Some(df.as_bytes()),
    );
    assert!(ok(&o, &d).contains("added over http"));
    let o = d.berth(&["build", &format!("http://127.0.0.1:{port}/missing.tar")]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("404"), "{}", stderr(&o));
}

#[test]
fn buildctx_build_flags_end_to_end() {
    let d = TestDaemon::start("bctx-flags");
    d.load_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox AS base\nARG A\nARG B\nRUN echo \"A=$A B=$B\" > /args\nFROM base AS broken\nRUN echo about-to-fail && exit 3\n",
    );
    let iid = ctx.path().join("iid");
    let mut cmd = Command::new(BERTH);
    cmd.env("BERTH_BCTX_B", "from-env")
        .args(["-H", &d.host(), "build", "-q", "--target", "base"])
        .args(["--build-arg", "A=1", "--build-arg", "B=${X}"])
        .args(["--build-arg", "BERTH_BCTX_B"])
        .args(["--label", "org.example.l=v", "-t", "flags:1"])
        .arg("--iidfile")
        .arg(&iid)
        .arg(ctx.path());
    let o = cmd.output().unwrap();
    let out = ok(&o, &d);
    // `-q`: the image ID alone.
    assert!(out.trim().starts_with("sha256:"), "{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), out.trim());
    let o = d.berth(&["run", "--rm", "flags:1", "cat", "/args"]);
    assert_eq!(ok(&o, &d).trim(), "A=1 B=${X}");
    let o = d.berth(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"org.example.l\"}}",
        "flags:1",
    ]);
    assert_eq!(ok(&o, &d).trim(), "v");
    // The env-provided build arg reaches an ARG of the same name.
    write(
        ctx.path(),
        "Dockerfile.env",
        "FROM busybox\nARG BERTH_BCTX_B\nRUN echo \"env=$BERTH_BCTX_B\"\n",
    );
    let o = Command::new(BERTH)
        .env("BERTH_BCTX_B", "from-env")
        .args([
            "-H",
            &d.host(),
            "builder",
            "build",
            "--progress=plain",
            "--no-cache",
        ])
        .args(["--build-arg", "BERTH_BCTX_B", "-f"])
        .arg(ctx.path().join("Dockerfile.env"))
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(ok(&o, &d).contains("env=from-env"));
    // A failing RUN: non-zero exit, the daemon's message naming the command and its code.
    let o = d.berth(&[
        "image",
        "build",
        "--progress",
        "plain",
        "--no-cache",
        ctx.path().to_str().unwrap(),
    ]);
    assert_ne!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("about-to-fail"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("returned a non-zero code: 3"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn buildctx_real_docker_build_and_docker_py() {
    let d = TestDaemon::start("bctx-docker");
    d.load_busybox();
    let ctx = sample_context();
    let mut cmd = Command::new(docker_cli());
    cmd.env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.data_root.join("docker-config"))
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--no-cache", "-t", "viadocker:1"])
        .arg(ctx.path());
    let o = cmd.output().unwrap();
    let out = ok(&o, &d);
    assert!(
        stderr(&o).contains("legacy builder is deprecated"),
        "{}",
        stderr(&o)
    );
    assert!(
        out.contains("Sending build context to Docker daemon"),
        "{out}"
    );
    assert!(out.contains("Step 3/3 : RUN find /ctx | sort"), "{out}");
    assert!(out.contains("/ctx/docs/keep.md"), "{out}");
    assert!(!out.contains("/ctx/x.log"), "{out}");
    assert!(out.contains("Successfully tagged viadocker:1"), "{out}");
    let o = d.docker(&["image", "inspect", "--format", "{{.Id}}", "viadocker:1"]);
    assert!(ok(&o, &d).starts_with("sha256:"));
    // docker-py's images.build(path=..., tag=...).
    let script = format!(
        r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
img, logs = c.images.build(path={path:?}, tag="viapy:1", rm=True, nocache=True)
out = "".join(l.get("stream", "") for l in logs)
assert "/ctx/a.txt" in out, out
assert "/ctx/x.log" not in out, out
print(img.id, " ".join(img.tags))
"#,
        path = ctx.path().to_str().unwrap()
    );
    let out = d.docker_py(&script);
    assert!(out.starts_with("sha256:"), "{out}");
    assert!(out.contains("viapy:1"), "{out}");
}

#[test]
fn buildctx_secrets_reach_run_and_not_the_context() {
    let d = TestDaemon::start("bctx-secret");
    d.load_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nCOPY . /ctx/\nRUN --mount=type=secret,id=tok cat /run/secrets/tok && echo && find /ctx | sort\n",
    );
    write(ctx.path(), "tokfile", "s3cret-value");
    write(ctx.path(), ".dockerignore", "tokfile\n");
    let o = d.berth(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        "--secret",
        &format!("id=tok,src={}", ctx.path().join("tokfile").display()),
        ctx.path().to_str().unwrap(),
    ]);
    let out = ok(&o, &d);
    assert!(out.contains("s3cret-value"), "{out}");
    assert!(!out.contains(".berth-build-secrets"), "{out}");
    assert!(!out.contains("/ctx/tokfile"), "{out}");
}

#[test]
fn buildctx_builder_prune_and_system_prune() {
    let d = TestDaemon::start("bctx-prune");
    d.load_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nRUN echo cached > /f\n",
    );
    let o = d.berth(&["build", "-q", ctx.path().to_str().unwrap()]);
    ok(&o, &d);
    let o = d.berth(&["builder", "prune", "-f", "-a"]);
    let out = ok(&o, &d);
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let o = d.berth_stdin(&["builder", "prune"], Some(b"n\n"));
    let out = ok(&o, &d);
    assert!(
        out.starts_with("WARNING! This will remove all dangling build cache."),
        "{out}"
    );
    let o = d.berth(&["system", "prune", "-f"]);
    let out = ok(&o, &d);
    assert!(out.contains("Total reclaimed space:"), "{out}");
}

#[test]
fn buildctx_stale_scratch_is_swept_at_start() {
    let mut d = TestDaemon::start("bctx-sweep");
    d.kill9();
    // What a daemon killed in the middle of receiving a context leaves behind.
    let stale = d.data_root.join("build/tmp/ctx-stale");
    write(&stale, "sub/half-written", "x");
    d.spawn();
    assert!(!stale.exists(), "stale context survived the restart");
    assert!(d.data_root.join("build/tmp").is_dir());
}
