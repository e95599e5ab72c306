//! `POST /build` end to end: every instruction's effect seen in the image and its containers,
//! the build cache (hits, exactly where a changed file rebuilds), multi-stage builds with
//! `--target`, ONBUILD, cache mounts, pruning, errors — through the raw Engine API and the real
//! docker CLI's legacy builder.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Writes `files` (path → content) under a fresh context directory.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let p = d.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
    d
}

/// The context directory as a tar.
fn tar_of(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

/// The build's messages and whether the stream ended with an error.
struct Built {
    status: u16,
    lines: Vec<Value>,
}

impl Built {
    fn text(&self) -> String {
        self.lines
            .iter()
            .filter_map(|l| l["stream"].as_str())
            .collect()
    }
    fn error(&self) -> Option<&Value> {
        self.lines.iter().find(|l| l.get("error").is_some())
    }
    /// The `error` message the build ended with (there must be one).
    fn error_text(&self) -> String {
        self.error().expect("an error")["error"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn id(&self) -> String {
        self.lines
            .iter()
            .find_map(|l| l["aux"]["ID"].as_str())
            .unwrap_or_else(|| panic!("no aux ID in {:?}", self.lines))
            .to_string()
    }
    fn ok(self) -> Built {
        assert!(
            self.status == 200 && self.error().is_none(),
            "build failed ({}): {:?}",
            self.status,
            self.lines
        );
        self
    }
}

/// `POST /build?<query>` with `dir` as the context.
fn build(d: &TestDaemon, dir: &Path, query: &str) -> Built {
    let body = tar_of(dir);
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let head = format!(
        "POST /v1.45/build?{query} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk_bytes(body)
    } else {
        body.to_string()
    };
    let lines = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| serde_json::json!({ "raw": l })))
        .collect();
    Built { status, lines }
}

fn dechunk_bytes(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    out
}

fn daemon(name: &str) -> TestDaemon {
    let d = TestDaemon::start(name);
    d.load_busybox();
    d
}

fn run(d: &TestDaemon, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    let o = d.berth(&a);
    assert!(o.status.success(), "run {args:?}: {}", stderr(&o));
    stdout(&o)
}

fn inspect(d: &TestDaemon, image: &str) -> Value {
    let o = d.berth(&["image", "inspect", image]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    v[0].clone()
}

#[test]
fn build_every_instruction_and_the_cache() {
    let d = daemon("bld-instr");
    let ctx = context(&[
        ("app/package.json", "{\"name\":\"x\"}\n"),
        ("app/index.js", "console.log(1)\n"),
        ("files/a.txt", "A\n"),
        ("files/b.txt", "B\n"),
        ("files/c.md", "C\n"),
        (
            "Dockerfile",
            r#"FROM busybox
ARG GREETING=hello
ARG UNSET
ENV APP=/app LEGACY_STYLE=ignored
ENV MODE prod
LABEL org.example.a="one" b=two
MAINTAINER someone@example.com
WORKDIR /app
COPY app/package.json ./
RUN echo "npm install ran $GREETING" > /npm.log && cd /tmp
RUN pwd > /pwd.txt && echo "$MODE:$APP:${UNSET:-none}" > /env.txt
COPY app/ /app/
COPY files/*.txt /txt/
COPY --chown=nobody:nogroup --chmod=0640 files/c.md /owned.md
ADD --chown=1234:5678 files/a.txt /added/
EXPOSE 8080 53/udp
VOLUME ["/data"]
USER nobody
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD echo ok
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered > /tmp/onbuild.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /npm.log"]
"#,
        ),
    ]);
    let first = build(
        &d,
        ctx.path(),
        "t=demo:1&buildargs=%7B%22GREETING%22%3A%22hi%22%2C%22NOPE%22%3A%22x%22%7D",
    )
    .ok();
    let text = first.text();
    assert!(text.contains("Step 1/24 : FROM busybox"), "{text}");
    assert!(text.contains(" ---> Running in "), "{text}");
    assert!(text.contains("Removing intermediate container "), "{text}");
    assert!(
        text.contains("[Warning] One or more build-args [NOPE] were not consumed"),
        "{text}"
    );
    let id = first.id();
    assert!(
        text.contains(&format!("Successfully built {}", &id[7..19])),
        "{text}"
    );
    assert!(text.contains("Successfully tagged demo:1"), "{text}");

    // RUN's effects; `cd` in one RUN has no effect on the next.
    assert_eq!(run(&d, &["demo:1"]), "npm install ran hi\n");
    assert_eq!(
        run(&d, &["--entrypoint", "cat", "demo:1", "/pwd.txt"]),
        "/app\n"
    );
    assert_eq!(
        run(&d, &["--entrypoint", "cat", "demo:1", "/env.txt"]),
        "prod:/app:none\n"
    );
    let ls = run(
        &d,
        &[
            "--entrypoint",
            "sh",
            "demo:1",
            "-c",
            "ls /app /txt; stat -c '%u:%g %a' /owned.md /added/a.txt; id -u",
        ],
    );
    assert!(
        ls.contains("index.js") && ls.contains("package.json"),
        "{ls}"
    );
    assert!(ls.contains("a.txt") && ls.contains("b.txt"), "{ls}");
    assert!(ls.contains("65534:65534 640"), "{ls}");
    assert!(ls.contains("1234:5678 644"), "{ls}");
    assert!(ls.trim_end().ends_with("65534"), "{ls}");

    // Metadata instructions in the config.
    let img = inspect(&d, "demo:1");
    let c = &img["Config"];
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["Labels"]["org.example.a"], "one");
    assert_eq!(c["Labels"]["b"], "two");
    assert_eq!(img["Author"], "someone@example.com");
    assert!(c["ExposedPorts"].to_string().contains("8080/tcp"), "{c}");
    assert!(c["ExposedPorts"].to_string().contains("53/udp"), "{c}");
    assert!(c["Volumes"].to_string().contains("/data"), "{c}");
    assert_eq!(c["StopSignal"], "SIGUSR1");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "echo ok"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000i64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(
        c["OnBuild"],
        serde_json::json!(["RUN echo triggered > /tmp/onbuild.txt"])
    );
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat /npm.log"]));
    let env: Vec<String> = serde_json::from_value(c["Env"].clone()).unwrap();
    assert!(env.contains(&"APP=/app".to_string()), "{env:?}");
    assert!(env.contains(&"MODE=prod".to_string()), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING=")),
        "ARG is not ENV: {env:?}"
    );

    // Fully cached: every step after FROM says so and the ID is the same.
    let again = build(
        &d,
        ctx.path(),
        "t=demo:1&buildargs=%7B%22GREETING%22%3A%22hi%22%7D",
    )
    .ok();
    assert_eq!(again.id(), id);
    assert_eq!(
        again.text().matches(" ---> Using cache").count(),
        23,
        "{}",
        again.text()
    );
    assert!(!again.text().contains("Running in"), "{}", again.text());

    // Another build arg value: the steps that see it rebuild, from the first RUN on.
    let other = build(
        &d,
        ctx.path(),
        "t=demo:1&buildargs=%7B%22GREETING%22%3A%22yo%22%7D",
    )
    .ok();
    assert_eq!(
        other.text().matches(" ---> Using cache").count(),
        8,
        "{}",
        other.text()
    );
    assert_eq!(run(&d, &["demo:1"]), "npm install ran yo\n");

    // The node pattern: changing a source file (not package.json) reuses the `npm install`
    // layer and rebuilds from the COPY of the sources exactly.
    std::fs::write(ctx.path().join("app/index.js"), "console.log(2)\n").unwrap();
    let changed = build(
        &d,
        ctx.path(),
        "t=demo:1&buildargs=%7B%22GREETING%22%3A%22yo%22%7D",
    )
    .ok();
    let t = changed.text();
    let step12 = t.split("Step 12/24").nth(1).unwrap();
    assert!(
        !step12
            .split("Step 13/24")
            .next()
            .unwrap()
            .contains("Using cache"),
        "{t}"
    );
    assert_eq!(
        t.split("Step 12/24")
            .next()
            .unwrap()
            .matches("Using cache")
            .count(),
        10,
        "{t}"
    );
    assert!(run(&d, &["--entrypoint", "cat", "demo:1", "/app/index.js"]).contains("log(2)"));
    // The tag moved: the previous image is left dangling, as in Docker.
    let prev = inspect(&d, &other.id());
    assert_eq!(prev["RepoTags"], serde_json::json!([]));

    // --no-cache rebuilds everything.
    let nc = build(
        &d,
        ctx.path(),
        "t=demo:2&nocache=1&buildargs=%7B%22GREETING%22%3A%22yo%22%7D",
    )
    .ok();
    assert!(!nc.text().contains("Using cache"), "{}", nc.text());

    // --label adds a last LABEL step; -q prints only the ID.
    let q = build(
        &d,
        ctx.path(),
        "q=1&labels=%7B%22extra%22%3A%22yes%22%7D&buildargs=%7B%22GREETING%22%3A%22yo%22%7D",
    )
    .ok();
    let qt = q.text();
    assert!(!qt.contains("Step "), "{qt}");
    assert_eq!(qt.trim(), q.id());
    assert_eq!(inspect(&d, &q.id())["Config"]["Labels"]["extra"], "yes");

    // ONBUILD: the trigger runs when the image is a base, and is not inherited.
    let child = context(&[("Dockerfile", "FROM demo:1\nRUN true\n")]);
    let cb = build(&d, child.path(), "t=child:1").ok();
    let child_id = cb.id();
    assert!(
        cb.text().contains("# Executing 1 build trigger"),
        "{}",
        cb.text()
    );
    assert_eq!(
        run(&d, &["--entrypoint", "cat", "child:1", "/tmp/onbuild.txt"]),
        "triggered\n"
    );
    let ob = &inspect(&d, "child:1")["Config"]["OnBuild"];
    assert!(ob.is_null() || ob == &serde_json::json!([]), "{ob}");

    // The built image is a complete image: it saves and loads back under its ID.
    let saved = d.data_root.join("child.tar");
    let o = d.berth(&["save", "-o", saved.to_str().unwrap(), "child:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.berth(&["rmi", "child:1"]).status.success());
    let o = d.berth(&["load", "-i", saved.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(inspect(&d, "child:1")["Id"], child_id);
}

#[test]
fn build_multi_stage_target_and_copy_from() {
    let d = daemon("bld-multi");
    let ctx = context(&[(
        "Dockerfile",
        r#"FROM busybox AS builder
RUN echo built > /artifact

FROM busybox AS other
RUN echo other > /other

FROM busybox AS unused
RUN echo unused-stage-ran > /unused

FROM scratch AS final
COPY --from=builder /artifact /artifact
COPY --from=1 /other /other
COPY --from=busybox /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/artifact", "/other"]
"#,
    )]);
    let b = build(&d, ctx.path(), "t=multi:1").ok();
    let t = b.text();
    assert!(
        !t.contains("unused-stage-ran"),
        "stage not needed was built: {t}"
    );
    assert!(!t.contains("FROM busybox AS unused"), "{t}");
    let out = run(&d, &["multi:1"]);
    assert_eq!(out, "built\nother\n");
    // Only the target's layers are in the image: three COPYs, no busybox base.
    assert_eq!(
        inspect(&d, "multi:1")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // --target stops at a stage and builds only what it needs.
    let tb = build(&d, ctx.path(), "t=multi:builder&target=builder").ok();
    let tt = tb.text();
    assert!(tt.contains("Step 1/2 : FROM busybox AS builder"), "{tt}");
    assert!(!tt.contains("other"), "{tt}");
    assert_eq!(run(&d, &["multi:builder", "cat", "/artifact"]), "built\n");

    // An unknown target is an error naming it.
    let bad = build(&d, ctx.path(), "target=nope");
    let e = bad
        .error()
        .map(|e| e.to_string())
        .unwrap_or_else(|| format!("{:?}", bad.lines));
    assert!(e.contains("failed to reach build target nope"), "{e}");
}

#[test]
fn build_errors_name_the_step() {
    let d = daemon("bld-err");
    // A failing RUN: Docker's message and errorDetail.code.
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo before\nRUN exit 3\n")]);
    let b = build(&d, ctx.path(), "t=bad:1");
    let e = b.error().expect("an error");
    assert_eq!(
        e["error"],
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    );
    assert_eq!(e["errorDetail"]["code"], 3);
    assert!(b.text().contains("Step 3/3 : RUN exit 3"), "{}", b.text());
    assert!(d.berth(&["image", "inspect", "bad:1"]).status.code() != Some(0));
    // The failed step's container stays (Docker's `rm` covers successful steps only)...
    let ps = stdout(&d.berth(&["ps", "-aq"]));
    assert_eq!(ps.lines().count(), 1, "{ps}");
    // ...unless forcerm.
    let b = build(&d, ctx.path(), "forcerm=1");
    assert!(b.error().is_some());
    let ps = stdout(&d.berth(&["ps", "-aq"]));
    assert_eq!(ps.lines().count(), 1, "{ps}");

    // COPY of a path outside the context.
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY ../secret /x\n")]);
    let b = build(&d, ctx.path(), "");
    let e = b.error_text();
    assert!(e.contains("outside the build context"), "{e}");

    // A missing source.
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY nothere /x\n")]);
    let b = build(&d, ctx.path(), "");
    let e = b.error_text();
    assert!(e.contains("file not found in build context"), "{e}");

    // Parse errors name the line; a Dockerfile without FROM is refused.
    let ctx = context(&[("Dockerfile", "FROM busybox\nFROBNICATE x\n")]);
    let b = build(&d, ctx.path(), "");
    let msg = format!("{:?}", b.lines);
    assert!(b.status != 200 || b.error().is_some(), "{msg}");
    assert!(
        msg.contains("line 2") && msg.to_lowercase().contains("frobnicate"),
        "{msg}"
    );
    let ctx = context(&[("Dockerfile", "RUN echo hi\n")]);
    let b = build(&d, ctx.path(), "");
    assert!(b.status != 200 || b.error().is_some(), "{:?}", b.lines);

    // 128 layers are refused.
    let mut df = String::from("FROM scratch\n");
    for i in 0..128 {
        df.push_str(&format!("COPY f /f{i}\n"));
    }
    let ctx = context(&[("Dockerfile", df.as_str()), ("f", "x")]);
    let b = build(&d, ctx.path(), "");
    let e = b.error_text();
    assert!(e.contains("max depth exceeded"), "{e}");
    assert!(b.text().contains("Step 128/129"), "127 layers are fine");
}

#[test]
fn build_cache_mount_persists_and_prune_clears_it() {
    let d = daemon("bld-cachemnt");
    let df = "FROM busybox\nARG N\nRUN --mount=type=cache,target=/cache,id=c1 ls /cache > /seen.txt; echo run$N > /cache/run$N\n";
    let ctx = context(&[("Dockerfile", df)]);
    build(&d, ctx.path(), "t=cm:1&buildargs=%7B%22N%22%3A%221%22%7D").ok();
    assert_eq!(run(&d, &["cm:1", "cat", "/seen.txt"]), "");
    build(&d, ctx.path(), "t=cm:2&buildargs=%7B%22N%22%3A%222%22%7D").ok();
    // The second build saw what the first left in the cache mount; the image has none of it.
    assert_eq!(run(&d, &["cm:2", "cat", "/seen.txt"]), "run1\n");
    assert_eq!(
        run(&d, &["cm:2", "sh", "-c", "test -e /cache || echo absent"]),
        "absent\n"
    );

    // system df reports the build cache; builder prune removes records, intermediate images
    // only builds need, and cache mounts.
    let (st, _, body) = d.api("GET", "/v1.45/system/df", None);
    assert_eq!(st, 200);
    let df: Value = serde_json::from_str(&body).unwrap();
    let bc = df["BuildCache"].as_array().unwrap();
    assert!(bc.iter().any(|e| e["Type"] == "exec.cachemount"), "{bc:?}");
    assert!(bc.iter().any(|e| e["Type"] == "regular"), "{bc:?}");
    let (st, _, body) = d.api("POST", "/v1.45/build/prune?all=1", None);
    assert_eq!(st, 200, "{body}");
    let pr: Value = serde_json::from_str(&body).unwrap();
    assert!(!pr["CachesDeleted"].as_array().unwrap().is_empty(), "{pr}");
    // Tagged images survive, with everything they need.
    assert_eq!(run(&d, &["cm:2", "cat", "/seen.txt"]), "run1\n");
    build(&d, ctx.path(), "t=cm:3&buildargs=%7B%22N%22%3A%223%22%7D").ok();
    assert_eq!(
        run(&d, &["cm:3", "cat", "/seen.txt"]),
        "",
        "the cache mount was pruned"
    );
}

#[test]
fn docker_cli_builds_against_berth() {
    let d = daemon("bld-docker");
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY hello.txt /\nRUN cat /hello.txt > /copy.txt\nCMD [\"cat\", \"/copy.txt\"]\n"),
        ("hello.txt", "hello from docker build\n"),
        (".dockerignore", "ignored.txt\n"),
        ("ignored.txt", "no"),
    ]);
    let mut cmd = std::process::Command::new(docker_cli());
    cmd.env("DOCKER_HOST", d.host())
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", d.data_root.join("docker-config"))
        .args(["build", "-t", "viadocker:1"])
        .arg(ctx.path());
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Successfully tagged viadocker:1"), "{out}");
    let o = d.docker(&["run", "--rm", "viadocker:1"]);
    assert_eq!(stdout(&o), "hello from docker build\n", "{}", stderr(&o));
    // .dockerignore kept the file out of the context.
    let ctx2 = context(&[
        ("Dockerfile", "FROM busybox\nCOPY ignored.txt /\n"),
        (".dockerignore", "ignored.txt\n"),
        ("ignored.txt", "no"),
    ]);
    let mut cmd = std::process::Command::new(docker_cli());
    cmd.env("DOCKER_HOST", d.host())
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", d.data_root.join("docker-config"))
        .args(["build", "-q"])
        .arg(ctx2.path());
    let o = cmd.output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("ignored.txt"), "{}", stderr(&o));
    // A rebuild moves the tag; docker system prune then removes the dangling chain (image
    // prune and /build/prune one after the other).
    std::fs::write(ctx.path().join("hello.txt"), "changed\n").unwrap();
    let mut cmd = std::process::Command::new(docker_cli());
    cmd.env("DOCKER_HOST", d.host())
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", d.data_root.join("docker-config"))
        .args(["build", "-q", "-t", "viadocker:1"])
        .arg(ctx.path());
    assert!(cmd.output().unwrap().status.success());
    let o = d.docker(&["system", "prune", "-f"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.docker(&["run", "--rm", "viadocker:1"]);
    assert_eq!(stdout(&o), "changed\n", "{}", stderr(&o));
    // berth build: the same context, every step cached.
    let o = d.berth(&["build", "-t", "viaberth:1", ctx.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).matches("Using cache").count(),
        3,
        "{}",
        stdout(&o)
    );
    let o = d.berth(&["run", "--rm", "viaberth:1"]);
    assert_eq!(stdout(&o), "changed\n");
    // docker builder prune talks to /build/prune.
    let o = d.docker(&["builder", "prune", "-f"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Total"), "{}", stdout(&o));
}

/// A gzip tar holding `dir/inner.txt`.
fn gz_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "dir/inner.txt", &b"inner\n"[..])
        .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn build_run_mounts_heredocs_and_add_archives() {
    let d = daemon("bld-mounts");
    let ctx = context(&[
        ("data/x", "bound\n"),
        (".berth-build-secrets/tok", "s3cret"),
        (
            "Dockerfile",
            r#"FROM busybox
ADD archive.tar.gz /unpacked/
COPY archive.tar.gz /copied/
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /secret-seen
RUN --mount=type=secret,id=tok,env=TOK sh -c 'echo "$TOK" > /secret-env'
RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/x > /bound
RUN --mount=type=tmpfs,target=/scratch sh -c 'touch /scratch/y && ls /scratch > /tmpfs-seen'
RUN --network=none sh -c 'grep -c : /proc/net/dev > /ifaces'
RUN <<EOF
echo heredoc-ran > /heredoc
EOF
COPY <<EOF /from-heredoc.txt
inline
EOF
"#,
        ),
    ]);
    std::fs::write(ctx.path().join("archive.tar.gz"), gz_tar()).unwrap();
    build(&d, ctx.path(), "t=mounts:1").ok();
    let sh = |cmd: &str| run(&d, &["mounts:1", "sh", "-c", cmd]);
    assert_eq!(sh("cat /unpacked/dir/inner.txt"), "inner\n");
    assert_eq!(sh("ls /copied"), "archive.tar.gz\n");
    assert_eq!(sh("cat /secret-seen"), "s3cret");
    assert_eq!(sh("cat /secret-env"), "s3cret\n");
    assert_eq!(sh("cat /bound"), "bound\n");
    assert_eq!(sh("cat /tmpfs-seen"), "y\n");
    assert_eq!(sh("cat /ifaces"), "1\n", "only lo with --network=none");
    assert_eq!(sh("cat /heredoc"), "heredoc-ran\n");
    assert_eq!(sh("cat /from-heredoc.txt"), "inline\n");
    // Neither the secret, the mount points nor the bound files stay in the image.
    assert_eq!(
        sh("ls -d /run/secrets /run/secrets/tok /mnt/data /scratch 2>/dev/null; echo end"),
        "end\n"
    );
    // A missing required secret is an error; type=ssh is refused clearly.
    let ctx2 = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=nope,required=true true\n",
    )]);
    let b = build(&d, ctx2.path(), "");
    let e = b.error_text();
    assert!(e.contains("nope"), "{e}");
    let ctx3 = context(&[("Dockerfile", "FROM busybox\nRUN --mount=type=ssh true\n")]);
    let b = build(&d, ctx3.path(), "");
    let e = b.error_text();
    assert!(e.contains("not supported"), "{e}");
}

/// A one-file HTTP server on loopback (python3's http.server), stopped on drop.
struct Http {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_serving(name: &str, content: &str) -> Http {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), content).unwrap();
    // A fixed, old mtime: ADD must give the file the server's Last-Modified.
    let t = std::ffi::CString::new(dir.path().join(name).to_str().unwrap()).unwrap();
    let times = [libc::timespec {
        tv_sec: 1_000_000_000,
        tv_nsec: 0,
    }; 2];
    unsafe { libc::utimensat(libc::AT_FDCWD, t.as_ptr(), times.as_ptr(), 0) };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    Http {
        child,
        port,
        _dir: dir,
    }
}

#[test]
fn build_add_fetches_urls() {
    let d = daemon("bld-addurl");
    let srv = http_serving("remote.txt", "from the web\n");
    let df = format!(
        "FROM busybox\nADD http://127.0.0.1:{0}/remote.txt /dl/\nADD http://127.0.0.1:{0}/remote.txt /named.txt\n",
        srv.port
    );
    let ctx = context(&[("Dockerfile", df.as_str())]);
    build(&d, ctx.path(), "t=addurl:1").ok();
    let out = run(
        &d,
        &[
            "addurl:1",
            "sh",
            "-c",
            "cat /dl/remote.txt /named.txt; stat -c '%a %Y' /dl/remote.txt",
        ],
    );
    assert_eq!(out, "from the web\nfrom the web\n600 1000000000\n");
    // COPY refuses URLs.
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY http://127.0.0.1:1/x /x\n")]);
    let b = build(&d, ctx.path(), "");
    assert!(b.error().is_some() || b.status != 200, "{:?}", b.lines);
}

/// The source notes' two lessons as builds: the redis Dockerfile done the wrong way (download,
/// unpack and clean up in separate RUNs: the deleted archive still travels in its layer) and
/// the right way (one RUN), with a local stand-in for the download; and the multi-stage Go
/// example (build tools in one stage, only the program in the final image).
#[test]
fn build_the_notes_examples_redis_wrong_and_right_and_multi_stage() {
    let d = daemon("build-notes");
    // 3 MB of incompressible "source archive" generated in the build (the stand-in for wget).
    let fetch = "head -c 3000000 /dev/urandom > /redis.tar.gz";
    let wrong = format!(
        "FROM busybox\nRUN mkdir -p /usr/src/redis\nRUN {fetch}\nRUN cp /redis.tar.gz /usr/src/redis/src.bin\nRUN rm /redis.tar.gz /usr/src/redis/src.bin\n"
    );
    let right = format!(
        "FROM busybox\nRUN mkdir -p /usr/src/redis && {fetch} && cp /redis.tar.gz /usr/src/redis/src.bin && rm /redis.tar.gz /usr/src/redis/src.bin\n"
    );
    let size = |df: &str, tag: &str| -> (i64, usize) {
        let ctx = context(&[("Dockerfile", df)]);
        build(&d, ctx.path(), &format!("t={tag}")).ok();
        let i = inspect(&d, tag);
        let layers = i["RootFS"]["Layers"].as_array().unwrap().len();
        (i["Size"].as_i64().unwrap(), layers)
    };
    let (base, base_layers) = {
        let i = inspect(&d, "busybox");
        (
            i["Size"].as_i64().unwrap(),
            i["RootFS"]["Layers"].as_array().unwrap().len(),
        )
    };
    let (wrong_size, wrong_layers) = size(&wrong, "redis:wrong");
    let (right_size, right_layers) = size(&right, "redis:right");
    assert_eq!(wrong_layers, base_layers + 4, "a layer per RUN");
    assert_eq!(right_layers, base_layers + 1);
    // Deleting in a later layer does not take the bytes out of the image; one RUN does.
    assert!(
        wrong_size - base >= 6_000_000,
        "wrong {wrong_size} base {base}"
    );
    assert!(
        right_size - base < 100_000,
        "right {right_size} base {base}"
    );
    // Both images are the same inside.
    for tag in ["redis:wrong", "redis:right"] {
        assert_eq!(
            run(
                &d,
                &[
                    tag,
                    "sh",
                    "-c",
                    "ls /usr/src/redis; ls / | grep -c redis.tar.gz || true"
                ]
            ),
            "0\n"
        );
    }
    // The layer report names the step that wastes and the one that added the bytes.
    let o = d.berth(&["image", "inspect", "--layers", "redis:wrong"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = stdout(&o);
    assert!(report.contains("RUN rm /redis.tar.gz"), "{report}");
    assert!(report.contains("do both in one RUN"), "{report}");

    // Multi-stage: the compiler's stage is big, the final image carries only the program.
    let go = "FROM busybox AS builder\nWORKDIR /src\nRUN head -c 4000000 /dev/urandom > /src/toolchain.bin\nRUN mkdir -p /out && printf '#!/bin/sh\\necho hello from the program\\n' > /out/app && chmod +x /out/app\n\nFROM busybox\nCOPY --from=builder /out/app /usr/local/bin/app\nENTRYPOINT [\"/usr/local/bin/app\"]\n";
    let ctx = context(&[("Dockerfile", go)]);
    build(&d, ctx.path(), "t=goapp:1").ok();
    assert_eq!(run(&d, &["goapp:1"]), "hello from the program\n");
    let app = inspect(&d, "goapp:1")["Size"].as_i64().unwrap();
    assert!(
        app - base < 4_000_000,
        "the toolchain leaked: {app} vs {base}"
    );
    assert_eq!(
        run(
            &d,
            &[
                "--entrypoint",
                "sh",
                "goapp:1",
                "-c",
                "test -e /src || echo absent"
            ]
        ),
        "absent\n",
        "nothing of the builder stage but the program"
    );
}
