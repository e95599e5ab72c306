//! The image command set (issue 3, items 5–8) through real interfaces: the berth CLI, the
//! real docker CLI, docker-py, and a daemon killed in the middle of load and commit.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

fn ok(o: &std::process::Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        code(o),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn image_id(d: &TestDaemon, name: &str) -> String {
    ok(
        &d.berth(&["image", "inspect", "-f", "{{.Id}}", name]),
        "inspect",
    )
    .trim()
    .to_string()
}

/// A second, distinct image: busybox plus one file, committed from a container.
fn commit_variant(d: &TestDaemon, name: &str, content: &str) -> String {
    let ctr = format!("mk-{}", name.replace([':', '/'], "-"));
    ok(
        &d.berth(&[
            "run",
            "--name",
            &ctr,
            "busybox",
            "sh",
            "-c",
            &format!("echo {content} > /variant"),
        ]),
        "run",
    );
    let id = ok(&d.berth(&["commit", &ctr, name]), "commit")
        .trim()
        .to_string();
    ok(&d.berth(&["rm", &ctr]), "rm");
    id
}

#[test]
fn images_rmi_tag_prune_history_with_docker_semantics() {
    let d = TestDaemon::start("img-sem");
    d.load_busybox();
    let bb = image_id(&d, "busybox");

    // Tags: one row per tag; -q lists the image once.
    ok(
        &d.berth(&["tag", "busybox", "example.com:5000/team/bb:1"]),
        "tag",
    );
    let rows = ok(
        &d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
        "images",
    );
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            format!("busybox:latest {}", &bb[7..19]),
            format!("example.com:5000/team/bb:1 {}", &bb[7..19])
        ]
    );
    assert_eq!(
        ok(&d.berth(&["images", "-q"]), "images -q").lines().count(),
        1
    );
    let out = ok(
        &d.berth(&["images", "--no-trunc", "-q", "example.com:5000/team/*"]),
        "ref",
    );
    assert_eq!(out.trim(), bb);
    let header = ok(&d.berth(&["images"]), "images");
    let cols: Vec<&str> = header.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        cols,
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"],
        "{header}"
    );

    // rmi of one of two names only untags.
    let out = ok(&d.berth(&["rmi", "example.com:5000/team/bb:1"]), "rmi");
    assert_eq!(out, "Untagged: example.com:5000/team/bb:1\n");

    // An image a (stopped) container uses is refused, by name and by ID.
    ok(
        &d.berth(&["create", "--name", "user", "busybox", "true"]),
        "create",
    );
    let ctr = ok(&d.berth(&["inspect", "-f", "{{.Id}}", "user"]), "inspect");
    let out = d.berth(&["rmi", "busybox"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "Error response from daemon: conflict: unable to remove repository reference \"busybox:latest\" (must force) - container {} is using its referenced image {}",
            &ctr[..12],
            &bb[7..19]
        )
    );
    let out = d.berth(&["rmi", &bb[7..10]]);
    assert!(
        stderr(&out).contains(&format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            &bb[7..19],
            &ctr[..12]
        )),
        "{}",
        stderr(&out)
    );
    // A prefix shorter than 3 never names an image.
    assert_eq!(code(&d.berth(&["rmi", &bb[7..9]])), 1);

    // A tag moved to another image leaves the old one dangling; prune removes it.
    let v1 = commit_variant(&d, "app:1", "one");
    let v2 = commit_variant(&d, "app:2", "two");
    ok(&d.berth(&["tag", "app:2", "app:1"]), "retag");
    let dangling = ok(
        &d.berth(&["images", "-f", "dangling=true", "--no-trunc", "-q"]),
        "dangling",
    );
    assert_eq!(dangling.trim(), v1);
    let rows = ok(
        &d.berth(&["images", "-f", "dangling=true"]),
        "dangling table",
    );
    assert!(
        rows.lines()
            .nth(1)
            .unwrap()
            .starts_with("<none>       <none>"),
        "{rows}"
    );
    // since/before compare creation times with the named image.
    let since = ok(
        &d.berth(&[
            "images",
            "-q",
            "--no-trunc",
            "-f",
            &format!("since={}", &bb[7..19]),
        ]),
        "since",
    );
    assert!(since.contains(&v2) && !since.contains(&bb), "{since}");
    let before = ok(
        &d.berth(&["images", "-q", "--no-trunc", "-f", "before=app:2"]),
        "before",
    );
    assert!(before.contains(&bb) && !before.contains(&v2), "{before}");

    let out = ok(&d.berth(&["image", "prune", "-f"]), "prune");
    assert!(out.starts_with("Deleted Images:\n"), "{out}");
    assert!(out.contains(&format!("deleted: {v1}")), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(d.berth(&["image", "inspect", &v1]).status.code() == Some(1));

    // rmi by the last name deletes top-down: the image, then its own layer, not busybox's.
    let out = ok(&d.berth(&["rmi", "app:2", "app:1"]), "rmi both");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Untagged: app:2");
    assert_eq!(lines[1], "Untagged: app:1");
    assert_eq!(lines[2], format!("Deleted: {v2}"));
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[3].starts_with("Deleted: sha256:"));

    // History: newest first, the image's ID on top.
    let v3 = commit_variant(&d, "app:3", "three");
    let h = ok(
        &d.berth(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Comment}}",
            "app:3",
        ]),
        "history",
    );
    let h: Vec<&str> = h.lines().collect();
    assert_eq!(h.len(), 2, "{h:?}");
    assert!(
        h[0].starts_with(&format!("{v3}|sh -c echo three > /variant|")),
        "{}",
        h[0]
    );
    // The base step names the local parent image, as Docker's history does.
    assert!(h[1].starts_with(&format!("{bb}|")), "{}", h[1]);
    let table = ok(&d.berth(&["history", "app:3"]), "history table");
    assert!(table.starts_with("IMAGE          CREATED"), "{table}");
    assert_eq!(
        ok(&d.berth(&["history", "-q", "app:3"]), "-q")
            .lines()
            .next(),
        Some(&v3[7..19])
    );

    // prune -a keeps what containers use.
    let out = ok(&d.berth(&["image", "prune", "-a", "-f"]), "prune -a");
    assert!(out.contains("untagged: app:3"), "{out}");
    assert!(ok(&d.berth(&["images", "-q"]), "images").contains(&bb[7..19]));
    ok(&d.berth(&["rm", "user"]), "rm");

    // The store is consistent after all this.
    let out = ok(&d.berth(&["system", "check"]), "check");
    assert!(out.contains("The image store is consistent."), "{out}");
}

#[test]
fn save_load_commit_diff_export_cp_and_df() {
    let d = TestDaemon::start("img-io");
    d.load_busybox();
    let bb = image_id(&d, "busybox");
    ok(
        &d.berth(&[
            "run",
            "--name",
            "wk",
            "busybox",
            "sh",
            "-c",
            "mkdir /data && echo hi > /data/f && rm /bin/ls && echo x >> /etc/passwd",
        ]),
        "run",
    );
    let diff = ok(&d.berth(&["diff", "wk"]), "diff");
    assert_eq!(
        diff,
        "C /bin\nD /bin/ls\nA /data\nA /data/f\nC /etc\nC /etc/passwd\n"
    );

    let id = ok(
        &d.berth(&[
            "commit",
            "-a",
            "tester",
            "-m",
            "a message",
            "-c",
            "ENV COMMITTED=1",
            "wk",
            "work:1",
        ]),
        "commit",
    )
    .trim()
    .to_string();
    let env = ok(
        &d.berth(&[
            "image",
            "inspect",
            "-f",
            "{{.Author}}|{{.Comment}}|{{.Config.Env}}",
            "work:1",
        ]),
        "inspect",
    );
    assert!(env.starts_with("tester|a message|["), "{env}");
    assert!(env.contains("COMMITTED=1"), "{env}");
    let out = ok(
        &d.berth(&[
            "run",
            "--rm",
            "work:1",
            "sh",
            "-c",
            "cat /data/f; ls /bin/ls 2>&1 || true",
        ]),
        "run committed",
    );
    assert!(out.starts_with("hi\n"), "{out}");
    assert!(out.contains("No such file"), "{out}");

    // Export: the container's merged root as a tar.
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("w.tar");
    ok(
        &d.berth(&["export", "-o", export.to_str().unwrap(), "wk"]),
        "export",
    );
    let names = tar_names(&export);
    assert!(names.iter().any(|n| n == "data/f"), "{names:?}");
    assert!(!names.iter().any(|n| n == "bin/ls"));

    // cp both ways, and the archive semantics of docker cp.
    let host_dir = tmp.path().join("cpdir");
    std::fs::create_dir(&host_dir).unwrap();
    ok(
        &d.berth(&["cp", "wk:/data", host_dir.to_str().unwrap()]),
        "cp out dir",
    );
    assert_eq!(std::fs::read(host_dir.join("data/f")).unwrap(), b"hi\n");
    let renamed = tmp.path().join("renamed");
    ok(
        &d.berth(&["cp", "wk:/data/.", renamed.to_str().unwrap()]),
        "cp contents",
    );
    assert_eq!(std::fs::read(renamed.join("f")).unwrap(), b"hi\n");
    std::fs::write(tmp.path().join("in.txt"), b"from host").unwrap();
    ok(
        &d.berth(&[
            "cp",
            tmp.path().join("in.txt").to_str().unwrap(),
            "wk:/data/",
        ]),
        "cp in",
    );
    ok(
        &d.berth(&[
            "cp",
            tmp.path().join("in.txt").to_str().unwrap(),
            "wk:/etc/named.txt",
        ]),
        "cp in rename",
    );
    let got = ok(&d.berth(&["cp", "wk:/etc/named.txt", "-"]), "cp to stdout");
    assert!(got.contains("from host"), "{got}");
    let out = d.berth(&["cp", "wk:/nope", host_dir.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("Could not find the file /nope in container wk"),
        "{}",
        stderr(&out)
    );

    // A symlink the container plants cannot make cp read or write host files.
    let t = tmp.path().display().to_string();
    ok(
        &d.berth(&[
            "run",
            "-d",
            "--name",
            "evil",
            "busybox",
            "sh",
            "-c",
            &format!("ln -s / /escape; mkdir -p {t}; sleep 60"),
        ]),
        "evil",
    );
    let src_dir = tmp.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    std::fs::write(src_dir.join("payload"), b"payload").unwrap();
    std::fs::write(tmp.path().join("marker"), b"host only").unwrap();
    ok(
        &d.berth(&[
            "cp",
            src_dir.join("payload").to_str().unwrap(),
            &format!("evil:/escape{t}/"),
        ]),
        "cp through the container's link",
    );
    assert!(
        !tmp.path().join("payload").exists(),
        "cp wrote through a symlink onto the host"
    );
    let inside = ok(
        &d.berth(&["exec", "evil", "cat", &format!("{t}/payload")]),
        "exec cat",
    );
    assert_eq!(inside, "payload");
    let out = d.berth(&["cp", &format!("evil:/escape{t}/marker"), "-"]);
    assert_ne!(
        code(&out),
        0,
        "read a host file through a container symlink"
    );

    // Save two images into one archive; load it into a fresh daemon.
    let archive = tmp.path().join("two.tar");
    ok(
        &d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox", "work:1"]),
        "save",
    );
    let names = tar_names(&archive);
    for f in ["index.json", "manifest.json", "oci-layout", "repositories"] {
        assert!(names.iter().any(|n| n == f), "{f} not in {names:?}");
    }
    let d2 = TestDaemon::start("img-io2");
    let out = ok(
        &d2.berth(&["load", "-i", archive.to_str().unwrap()]),
        "load",
    );
    assert_eq!(out, "Loaded image: busybox:latest\nLoaded image: work:1\n");
    assert_eq!(image_id(&d2, "work:1"), id);
    assert_eq!(image_id(&d2, "busybox"), bb);
    let out = ok(
        &d2.berth(&["run", "--rm", "work:1", "cat", "/data/f"]),
        "run loaded",
    );
    assert_eq!(out, "hi\n");
    // save to a terminal is refused; saving a missing image writes nothing.
    let missing = tmp.path().join("missing.tar");
    let out = d.berth(&["save", "-o", missing.to_str().unwrap(), "nope:1"]);
    assert_eq!(code(&out), 1);
    assert!(!missing.exists());

    // system df counts the shared busybox layer once.
    let df = ok(&d.berth(&["system", "df"]), "df");
    let lines: Vec<&str> = df.lines().collect();
    assert!(lines[0].starts_with("TYPE"), "{df}");
    assert!(lines[1].starts_with("Images          2 "), "{df}");
    let layers: i64 = ok(
        &d.berth(&["system", "df", "--format", "{{.Type}}"]),
        "df format",
    )
    .lines()
    .count() as i64;
    assert_eq!(layers, 4);
    let v = ok(&d.berth(&["system", "df", "-v"]), "df -v");
    assert!(
        v.contains("Images space usage:") && v.contains("Containers space usage:"),
        "{v}"
    );
}

fn tar_names(p: &Path) -> Vec<String> {
    let f = std::fs::File::open(p).unwrap();
    tar::Archive::new(f)
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .display()
                .to_string()
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

#[test]
fn the_docker_cli_drives_the_image_commands() {
    let d = TestDaemon::start("img-docker");
    d.load_busybox();
    let bb = image_id(&d, "busybox");
    ok(&d.docker(&["tag", "busybox", "dk:1"]), "docker tag");
    let out = ok(
        &d.docker(&["history", "--format", "{{.ID}} {{.Comment}}", "dk:1"]),
        "history",
    );
    assert_eq!(out, format!("{} Imported from -\n", &bb[7..19]));
    ok(
        &d.docker(&["run", "--name", "cc", "busybox", "sh", "-c", "echo d > /d"]),
        "run",
    );
    assert_eq!(ok(&d.docker(&["diff", "cc"]), "diff"), "A /d\n");
    let id = ok(
        &d.docker(&["commit", "-c", "CMD [\"cat\",\"/d\"]", "cc", "dk:2"]),
        "commit",
    );
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        ok(&d.docker(&["run", "--rm", "dk:2"]), "run committed"),
        "d\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    ok(
        &d.docker(&["cp", "cc:/d", tmp.path().to_str().unwrap()]),
        "cp out",
    );
    assert_eq!(std::fs::read(tmp.path().join("d")).unwrap(), b"d\n");
    std::fs::write(tmp.path().join("up"), b"up").unwrap();
    ok(
        &d.docker(&["cp", tmp.path().join("up").to_str().unwrap(), "cc:/up"]),
        "cp in",
    );
    ok(
        &d.docker(&["cp", "cc:/up", tmp.path().join("back").to_str().unwrap()]),
        "cp back",
    );
    assert_eq!(std::fs::read(tmp.path().join("back")).unwrap(), b"up");
    let export = tmp.path().join("c.tar");
    ok(
        &d.docker(&["export", "-o", export.to_str().unwrap(), "cc"]),
        "export",
    );
    assert!(tar_names(&export).iter().any(|n| n == "up"));

    let archive = tmp.path().join("s.tar");
    ok(
        &d.docker(&["save", "-o", archive.to_str().unwrap(), "dk:1", "dk:2"]),
        "docker save",
    );
    ok(&d.docker(&["rm", "cc"]), "rm");
    let out = ok(&d.docker(&["rmi", "dk:2"]), "rmi");
    assert!(out.starts_with("Untagged: dk:2\nDeleted: sha256:"), "{out}");
    let out = ok(
        &d.docker(&["load", "-i", archive.to_str().unwrap()]),
        "docker load",
    );
    assert!(out.contains("Loaded image: dk:2"), "{out}");
    ok(&d.docker(&["tag", "busybox", "dk:2"]), "move tag");
    let out = ok(
        &d.docker(&["images", "-f", "dangling=true", "-q"]),
        "dangling",
    );
    assert_eq!(out.trim(), &id.trim()[7..19]);
    let out = ok(&d.docker(&["image", "prune", "-f"]), "prune");
    assert!(out.contains(&format!("deleted: {}", id.trim())), "{out}");
    let df = ok(&d.docker(&["system", "df"]), "docker system df");
    assert!(
        df.lines().nth(1).unwrap().starts_with("Images          1 "),
        "{df}"
    );
}

const PY: &str = r#"
import sys, io, tarfile, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
img = c.images.get("busybox")
h = img.history()
assert h[0]["Id"] == img.id and h[0]["Comment"] == "Imported from -", h
ct = c.containers.create("busybox", ["true"], name="py")
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"from python"
    ti = tarfile.TarInfo("py.txt"); ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
assert ct.put_archive("/", buf.getvalue())
bits, stat = ct.get_archive("/py.txt")
assert stat["name"] == "py.txt" and stat["size"] == 11, stat
raw = b"".join(bits)
with tarfile.open(fileobj=io.BytesIO(raw)) as t:
    assert t.extractfile("py.txt").read() == b"from python"
assert {"Path": "/py.txt", "Kind": 1} in ct.diff(), ct.diff()
new = ct.commit(repository="pyimg", tag="1", message="from py")
assert new.attrs["Comment"] == "from py"
saved = b"".join(new.save())
assert len(saved) > 0
ct.remove()
r = c.images.prune(filters={"dangling": False})
assert any(d.get("Deleted") == new.id for d in r["ImagesDeleted"]), r
print("docker-py images ok")
"#;

#[test]
fn docker_py_history_archive_diff_commit_save_prune() {
    let d = TestDaemon::start("img-py");
    d.load_busybox();
    d.docker_py(PY);
}

/// A `docker save` archive of one image with a large random layer, so that a load takes long
/// enough to be killed in the middle.
fn big_archive(dir: &Path) -> std::path::PathBuf {
    use sha2::Digest as _;
    let mut layer = tar::Builder::new(Vec::new());
    let mut data = vec![0u8; 48 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    layer.append_data(&mut h, "big", &data[..]).unwrap();
    let layer = layer.into_inner().unwrap();
    let diff = format!("sha256:{}", hex(&sha2::Sha256::digest(&layer)));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff}"]}},"history":[{{"created_by":"big"}}]}}"#
    );
    let cfg_name = format!("{}.json", hex(&sha2::Sha256::digest(config.as_bytes())));
    let path = dir.join("big.tar");
    let mut out = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, bytes).unwrap();
    };
    add(&cfg_name, config.as_bytes());
    add("l/layer.tar", &layer);
    add(
        "manifest.json",
        format!(r#"[{{"Config":"{cfg_name}","RepoTags":["big:1"],"Layers":["l/layer.tar"]}}]"#)
            .as_bytes(),
    );
    out.finish().unwrap();
    path
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// After a crash: every image the daemon lists must be complete (no broken image in the
/// check), and `system check --repair` leaves a clean store.
fn assert_store_sound(d: &TestDaemon) {
    let out = d.berth(&["system", "check"]);
    let text = stdout(&out);
    assert!(
        !text.contains("problem: image "),
        "a recorded image is broken:\n{text}"
    );
    assert!(
        !text.contains("problem: layer "),
        "a recorded layer is broken:\n{text}"
    );
    ok(&d.berth(&["system", "check", "--repair"]), "repair");
    let out = ok(&d.berth(&["system", "check"]), "check after repair");
    assert!(out.contains("The image store is consistent."), "{out}");
}

#[test]
fn sigkill_during_load_and_commit_leaves_a_sound_store() {
    let mut d = TestDaemon::start("img-crash");
    d.load_busybox();
    let tmp = tempfile::tempdir().unwrap();
    let archive = big_archive(tmp.path());

    // Kill the daemon at several moments of a load: early, middle, late.
    for delay_ms in [50u64, 400, 1200] {
        let mut child = std::process::Command::new(BERTH)
            .args(["-H", &d.host(), "load", "-i", archive.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.kill9();
        let _ = child.wait();
        d.spawn();
        assert_store_sound(&d);
        // Either the load had finished (the image is whole) or the image is absent.
        let listed = ok(&d.berth(&["images", "-q", "big"]), "images");
        eprintln!(
            "killed {delay_ms} ms into load: image recorded: {}",
            !listed.trim().is_empty()
        );
        if !listed.trim().is_empty() {
            ok(&d.berth(&["image", "inspect", "big:1"]), "inspect loaded");
        }
    }
    // The next run of the same command completes.
    ok(
        &d.berth(&["load", "-i", archive.to_str().unwrap()]),
        "load after crashes",
    );
    assert_store_sound(&d);

    // Commit: a container with a large change, killed mid-commit.
    ok(
        &d.berth(&[
            "run",
            "--name",
            "fat",
            "busybox",
            "sh",
            "-c",
            "dd if=/dev/urandom of=/fat bs=1M count=48 2>/dev/null",
        ]),
        "run fat",
    );
    let mut child = std::process::Command::new(BERTH)
        .args(["-H", &d.host(), "commit", "fat", "fat:1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.kill9();
    let _ = child.wait();
    d.spawn();
    assert_store_sound(&d);
    ok(&d.berth(&["commit", "fat", "fat:1"]), "commit after crash");
    ok(
        &d.berth(&["run", "--rm", "fat:1", "test", "-s", "/fat"]),
        "run committed",
    );
    assert_store_sound(&d);
}

/// Serves `body` over HTTP on a loopback port for `n` requests (a redirect first).
fn serve_once(body: Vec<u8>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for (i, s) in l.incoming().take(2).enumerate() {
            let mut s = s.unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            if i == 0 {
                let _ = s.write_all(
                    b"HTTP/1.1 302 Found\r\nLocation: /rootfs.tar\r\nContent-Length: 0\r\n\r\n",
                );
            } else {
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
            }
        }
    });
    format!("http://{addr}/redirect")
}

#[test]
fn import_from_a_loopback_url_with_changes() {
    let d = TestDaemon::start("img-url");
    let tar = std::fs::read(busybox_rootfs_tar()).unwrap();
    let url = serve_once(tar);
    let out = ok(
        &d.berth(&[
            "import",
            "-c",
            "CMD [\"echo\",\"from-url\"]",
            "-c",
            "ENV A=1",
            "-m",
            "via http",
            &url,
            "fromurl:1",
        ]),
        "import URL",
    );
    assert!(out.trim().starts_with("sha256:"), "{out}");
    assert_eq!(
        ok(&d.berth(&["run", "--rm", "fromurl:1"]), "run"),
        "from-url\n"
    );
    let cfg = ok(
        &d.berth(&[
            "image",
            "inspect",
            "-f",
            "{{.Comment}} {{.Config.Env}}",
            "fromurl:1",
        ]),
        "inspect",
    );
    assert_eq!(cfg.trim(), "via http [A=1]");
    let out = d.berth(&["import", "https://127.0.0.1:1/x.tar"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("not implemented") || stderr(&out).contains("TLS"),
        "{}",
        stderr(&out)
    );
}
