//! Volumes, bind mounts, tmpfs and `--volumes-from`, through the berth CLI, the real docker CLI
//! and the Engine API, each test against a daemon of its own.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An image made of busybox plus `extra` entries (path, kind), imported with `changes`.
enum Extra<'a> {
    Dir(&'a str, u32, u32, u32),
    File(&'a str, &'a str, u32, u32, u32),
    Symlink(&'a str, &'a str),
}

fn import_image(d: &TestDaemon, name: &str, extra: &[Extra], changes: &[&str]) {
    let base = busybox_rootfs_tar();
    let path = d
        .data_root
        .with_file_name(format!("{}.tar", name.replace([':', '/'], "_")));
    {
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut a = tar::Archive::new(std::fs::File::open(&base).unwrap());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut h = e.header().clone();
            let p = e.path().unwrap().into_owned();
            if h.entry_type() == tar::EntryType::Symlink {
                let target = e.link_name().unwrap().unwrap().into_owned();
                b.append_link(&mut h, &p, &target).unwrap();
            } else {
                b.append_data(&mut h, &p, &mut e).unwrap();
            }
        }
        for x in extra {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            match x {
                Extra::Dir(p, mode, uid, gid) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_uid(*uid as u64);
                    h.set_gid(*gid as u64);
                    h.set_size(0);
                    b.append_data(&mut h, p, std::io::empty()).unwrap();
                }
                Extra::File(p, data, mode, uid, gid) => {
                    h.set_mode(*mode);
                    h.set_uid(*uid as u64);
                    h.set_gid(*gid as u64);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, p, data.as_bytes()).unwrap();
                }
                Extra::Symlink(p, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, p, target).unwrap();
                }
            }
        }
        b.finish().unwrap();
    }
    // One `--change` with a line per instruction: the import route keeps only one
    // `changes` query value today.
    let joined = changes.join("\n");
    let mut args = vec!["import"];
    if !changes.is_empty() {
        args.push("--change");
        args.push(&joined);
    }
    args.push(path.to_str().unwrap());
    args.push(name);
    let out = d.berth(&args);
    assert!(out.status.success(), "import: {}", stderr(&out));
}

fn ok(o: &std::process::Output, what: &str, d: &TestDaemon) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}): {}\n{}\ndaemon log:\n{}",
        code(o),
        stdout(o),
        stderr(o),
        d.log_text()
    );
    stdout(o)
}

fn inspect_json(d: &TestDaemon, what: &str, fmt: &str) -> Value {
    let out = d.berth(&["inspect", "--format", fmt, what]);
    serde_json::from_str(ok(&out, "inspect", d).trim()).unwrap()
}

fn volume_names(d: &TestDaemon) -> Vec<String> {
    let out = d.berth(&["volume", "ls", "-q"]);
    let mut v: Vec<String> = ok(&out, "volume ls", d)
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

fn host_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("berth-vol-{name}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn named_volume_data_survives_rm_and_is_seen_by_the_next_container() {
    let d = TestDaemon::start("vol-named");
    d.load_busybox();
    let out = d.berth(&["volume", "create", "--label", "team=a", "keep"]);
    assert_eq!(ok(&out, "volume create", &d), "keep\n");
    let out = d.berth(&[
        "run",
        "--name",
        "writer",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo persisted > /data/f",
    ]);
    ok(&out, "writer", &d);
    ok(&d.berth(&["rm", "writer"]), "rm", &d);
    // Also through the docker CLI: the next container sees the data.
    let out = d.docker(&["run", "--rm", "-v", "keep:/srv", "busybox", "cat", "/srv/f"]);
    assert_eq!(ok(&out, "docker reader", &d), "persisted\n");
    assert_eq!(volume_names(&d), vec!["keep"]);

    let v = inspect_json(&d, "keep", "{{json .}}");
    assert_eq!(v["Name"], "keep");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["team"], "a");
    assert_eq!(v["Options"], Value::Null);
    let mp = v["Mountpoint"].as_str().unwrap();
    assert_eq!(
        Path::new(mp),
        d.data_root.join("volumes/keep/_data"),
        "Mountpoint is under the data root as in Docker"
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(mp).join("f")).unwrap(),
        "persisted\n"
    );

    // `volume ls` formats and filters.
    let out = d.docker(&["volume", "ls"]);
    assert_eq!(
        ok(&out, "docker volume ls", &d),
        "DRIVER    VOLUME NAME\nlocal     keep\n"
    );
    let out = d.berth(&["volume", "create"]);
    let anon = ok(&out, "anonymous create", &d).trim().to_owned();
    assert_eq!(anon.len(), 64);
    let out = d.berth(&[
        "volume",
        "ls",
        "--filter",
        "label=team=a",
        "--format",
        "{{.Name}} {{.Labels}}",
    ]);
    assert_eq!(ok(&out, "ls label", &d), "keep team=a\n");
    let out = d.berth(&["volume", "ls", "-q", "--filter", "name=kee"]);
    assert_eq!(ok(&out, "ls name", &d), "keep\n");
    let out = d.berth(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert_eq!(ok(&out, "ls dangling", &d).lines().count(), 2);
    let out = d.berth(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "driver=local",
        "--filter",
        "label=com.docker.volume.anonymous",
    ]);
    assert_eq!(ok(&out, "ls anonymous", &d), format!("{anon}\n"));
    let out = d.docker(&[
        "volume",
        "inspect",
        "--format",
        "{{.Name}} {{.Driver}}",
        "keep",
    ]);
    assert_eq!(ok(&out, "docker volume inspect", &d), "keep local\n");

    // Disk usage: sizes and references, through the API and `docker system df -v`; ps shows
    // and filters by mounts.
    ok(
        &d.berth(&[
            "create",
            "--name",
            "user1",
            "-v",
            "keep:/data",
            "busybox",
            "true",
        ]),
        "create user1",
        &d,
    );
    let out = d.docker(&["ps", "-a", "--format", "{{.Names}} {{.Mounts}}"]);
    assert_eq!(ok(&out, "ps mounts", &d), "user1 keep\n");
    let out = d.docker(&["ps", "-a", "-q", "--filter", "volume=keep"]);
    assert_eq!(ok(&out, "ps --filter volume", &d).lines().count(), 1);
    let out = d.docker(&["ps", "-a", "-q", "--filter", "volume=other"]);
    assert_eq!(ok(&out, "ps --filter volume", &d), "");
    let (status, _, body) = d.api("GET", "/v1.51/system/df", None);
    assert_eq!(status, 200, "{body}");
    let df: Value = serde_json::from_str(&body).unwrap();
    let keep = df["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "keep")
        .unwrap();
    assert_eq!(
        keep["UsageData"],
        serde_json::json!({"Size": 10, "RefCount": 1})
    );
    let out = d.docker(&[
        "system",
        "df",
        "-v",
        "--format",
        "{{range .Volumes}}{{.Name}} {{.Links}} {{.Size}};{{end}}",
    ]);
    let text = ok(&out, "docker system df -v", &d);
    assert!(text.contains("keep 1 10B;"), "{text}");
}

#[test]
fn copy_up_keeps_owners_and_modes_and_nocopy_skips_it() {
    let d = TestDaemon::start("vol-copyup");
    d.load_busybox();
    import_image(
        &d,
        "withdata:1",
        &[
            Extra::Dir("srv", 0o755, 0, 0),
            Extra::Dir("srv/data", 0o750, 1000, 1000),
            Extra::File("srv/data/conf", "from the image\n", 0o640, 1234, 4321),
        ],
        &["VOLUME /srv/data", "CMD [\"/bin/sh\"]"],
    );
    // The image's VOLUME: an anonymous volume, filled from the image.
    let out = d.berth(&[
        "run",
        "--name",
        "anon1",
        "withdata:1",
        "sh",
        "-c",
        "stat -c '%u:%g %a' /srv/data /srv/data/conf; cat /srv/data/conf",
    ]);
    assert_eq!(
        ok(&out, "anonymous copy-up", &d),
        "1000:1000 750\n1234:4321 640\nfrom the image\n"
    );
    let mounts = inspect_json(&d, "anon1", "{{json .Mounts}}");
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Destination"], "/srv/data");
    assert_eq!(mounts[0]["Name"].as_str().unwrap().len(), 64);
    let vol = inspect_json(&d, mounts[0]["Name"].as_str().unwrap(), "{{json .Labels}}");
    assert!(vol.get("com.docker.volume.anonymous").is_some(), "{vol}");

    // A new named volume is filled too; an existing non-empty one is not overwritten.
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        "named:/srv/data",
        "withdata:1",
        "sh",
        "-c",
        "cat /srv/data/conf; echo mine > /srv/data/conf",
    ]);
    assert_eq!(ok(&out, "named copy-up", &d), "from the image\n");
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        "named:/srv/data",
        "withdata:1",
        "cat",
        "/srv/data/conf",
    ]);
    assert_eq!(ok(&out, "no second copy", &d), "mine\n");
    // As in Docker, the copy happens at create: another container sees it before the first
    // one ever starts.
    ok(
        &d.docker(&[
            "create",
            "--name",
            "creator",
            "-v",
            "atcreate:/srv/data",
            "withdata:1",
        ]),
        "create",
        &d,
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        "atcreate:/x",
        "busybox",
        "cat",
        "/x/conf",
    ]);
    assert_eq!(ok(&out, "copy-up at create", &d), "from the image\n");
    // nocopy: the volume stays empty.
    let out = d.berth(&[
        "run",
        "--rm",
        "-v",
        "empty:/srv/data:nocopy",
        "withdata:1",
        "ls",
        "-A",
        "/srv/data",
    ]);
    assert_eq!(ok(&out, "nocopy", &d), "");
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "source=empty2,target=/srv/data,volume-nocopy",
        "withdata:1",
        "ls",
        "-A",
        "/srv/data",
    ]);
    assert_eq!(ok(&out, "--mount volume-nocopy", &d), "");
}

/// The scenarios that depend most on the runtime, on the built-in one and on Debian's runc.
macro_rules! on_each_runtime {
    ($($scenario:ident),*) => {
        mod builtin {
            $(#[test] fn $scenario() { super::$scenario("berth") })*
        }
        mod runc {
            $(#[test] fn $scenario() { super::$scenario("runc") })*
        }
    };
}

on_each_runtime!(
    volumes_from_read_only_binds_and_single_files,
    tmpfs_is_empty_on_each_start_and_honours_size_and_mode,
    slave_propagation_works_where_the_host_mount_is_shared
);

fn sh(cmd: &str) {
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .unwrap();
    assert!(st.success(), "{cmd}");
}

/// A shared tmpfs of the test's own, so propagation has something to propagate from (`/` is
/// private on these machines); unmounted on drop.
struct SharedMount(tempfile::TempDir);

impl SharedMount {
    fn new(name: &str) -> SharedMount {
        let dir = host_dir(name);
        let p = dir.path().display();
        sh(&format!(
            "mount -t tmpfs berth-test {p} && mount --make-shared {p}"
        ));
        SharedMount(dir)
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        let p = self.0.path().display().to_string();
        let _ = std::process::Command::new("umount")
            .args(["-R", "-l", &p])
            .status();
    }
}

fn slave_propagation_works_where_the_host_mount_is_shared(runtime: &str) {
    let d = TestDaemon::start_with(
        &format!("vol-prop-{runtime}"),
        &["--default-runtime", runtime],
    );
    d.load_busybox();
    let shared = SharedMount::new("prop");
    let p = shared.0.path().to_path_buf();
    std::fs::create_dir(p.join("sub")).unwrap();
    let spec = format!("{}:/p:rslave", p.display());
    ok(
        &d.berth(&[
            "run", "-d", "--name", "prop1", "-v", &spec, "busybox", "sleep", "600",
        ]),
        "run rslave",
        &d,
    );
    let mounts = inspect_json(&d, "prop1", "{{json .Mounts}}");
    assert_eq!(mounts[0]["Propagation"], "rslave");
    // A mount made on the host after the start appears in the container.
    sh(&format!(
        "mount -t tmpfs berth-test-sub {0}/sub && echo late > {0}/sub/f",
        p.display()
    ));
    let out = d.berth(&["exec", "prop1", "cat", "/p/sub/f"]);
    assert_eq!(ok(&out, "propagated mount", &d), "late\n");
    ok(&d.berth(&["rm", "-f", "prop1"]), "rm", &d);
    // rshared, too, where the source is shared.
    let spec = format!("{}:/q:rshared", p.display());
    ok(
        &d.docker(&[
            "run", "-d", "--name", "prop2", "-v", &spec, "busybox", "sleep", "600",
        ]),
        "run rshared",
        &d,
    );
    sh(&format!(
        "mkdir -p {0}/sub2 && mount -t tmpfs berth-test-sub2 {0}/sub2 && echo later > {0}/sub2/g",
        p.display()
    ));
    let out = d.berth(&["exec", "prop2", "cat", "/q/sub2/g"]);
    assert_eq!(ok(&out, "rshared propagated mount", &d), "later\n");
    ok(&d.berth(&["rm", "-f", "prop2"]), "rm", &d);
}

fn volumes_from_read_only_binds_and_single_files(runtime: &str) {
    let d = TestDaemon::start_with(
        &format!("vol-from-{runtime}"),
        &["--default-runtime", runtime],
    );
    d.load_busybox();
    let host = host_dir("from");
    std::fs::write(host.path().join("single.txt"), "one file\n").unwrap();
    let src = host.path().join("shared");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("h"), "host data\n").unwrap();
    let bind = format!("{}:/hostdir:ro", src.display());
    let file_bind = format!(
        "{}:/etc/single.txt",
        host.path().join("single.txt").display()
    );
    ok(
        &d.berth(&[
            "create",
            "--name",
            "owner",
            "-v",
            "/anon",
            "-v",
            "vf:/named",
            "-v",
            &bind,
            "busybox",
            "true",
        ]),
        "create owner",
        &d,
    );
    let out = d.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "owner",
        "busybox",
        "sh",
        "-c",
        "echo x > /anon/a && echo y > /named/n && cat /hostdir/h",
    ]);
    assert_eq!(ok(&out, "volumes-from", &d), "host data\n");
    // `:ro` makes every inherited mount read-only.
    let out = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "owner:ro",
        "busybox",
        "sh",
        "-c",
        "cat /anon/a /named/n; touch /named/z",
    ]);
    assert_ne!(code(&out), 0);
    assert_eq!(stdout(&out), "x\ny\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    // Inspect shows inherited mounts as Docker does: no mode, RW from the `:ro`/`:rw`.
    ok(
        &d.docker(&[
            "create",
            "--name",
            "heir",
            "--volumes-from",
            "owner:ro",
            "--mount",
            "source=vm,target=/vm",
            "busybox",
            "true",
        ]),
        "create heir",
        &d,
    );
    let mounts = inspect_json(&d, "heir", "{{json .Mounts}}");
    let modes: Vec<(String, String, bool)> = mounts
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Destination"].as_str().unwrap().to_owned(),
                m["Mode"].as_str().unwrap().to_owned(),
                m["RW"].as_bool().unwrap(),
            )
        })
        .collect();
    let expect = |d: &str, m: &str, rw: bool| (d.to_owned(), m.to_owned(), rw);
    assert_eq!(
        modes,
        vec![
            expect("/anon", "", false),
            expect("/hostdir", "", false),
            expect("/named", "", false),
            expect("/vm", "z", true)
        ]
    );
    // ro bind refuses writes; a single file can be bind-mounted.
    let out = d.berth(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "-v",
        &file_bind,
        "busybox",
        "sh",
        "-c",
        "cat /etc/single.txt; touch /hostdir/new",
    ]);
    assert_ne!(code(&out), 0);
    assert_eq!(stdout(&out), "one file\n");
    assert!(stderr(&out).contains("Read-only file system"));
    assert!(!src.join("new").exists());
    // --read-only root with a writable volume.
    let out = d.docker(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        "rw:/w",
        "busybox",
        "sh",
        "-c",
        "echo ok > /w/f && cat /w/f; touch /rootfile",
    ]);
    assert_eq!(stdout(&out), "ok\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    // -v creates a missing host directory; --mount type=bind refuses it.
    let missing = host.path().join("made-by-v");
    let out = d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", missing.display()),
        "busybox",
        "true",
    ]);
    ok(&out, "-v missing host dir", &d);
    assert!(missing.is_dir());
    let nope = host.path().join("nope");
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,source={},target=/m", nope.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains(&format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            nope.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!nope.exists());
}

fn tmpfs_is_empty_on_each_start_and_honours_size_and_mode(runtime: &str) {
    let d = TestDaemon::start_with(
        &format!("vol-tmpfs-{runtime}"),
        &["--default-runtime", runtime],
    );
    d.load_busybox();
    let out = d.berth(&["create", "--name", "tmp1", "--tmpfs", "/scratch:size=1m,mode=1770", "--mount", "type=tmpfs,target=/m,tmpfs-size=2m", "busybox", "sh", "-c", "ls -A /scratch; stat -c %a /scratch; df -k /scratch /m | tail -2 | awk '{print $2}'; echo data > /scratch/f; echo more > /m/g"]);
    ok(&out, "create", &d);
    let first = ok(&d.berth(&["start", "-a", "tmp1"]), "start 1", &d);
    assert_eq!(first, "1770\n1024\n2048\n");
    let second = ok(&d.berth(&["start", "-a", "tmp1"]), "start 2", &d);
    assert_eq!(second, first, "tmpfs kept data between starts");
    // --tmpfs is not listed in Mounts (as Docker); --mount type=tmpfs is.
    let mounts = inspect_json(&d, "tmp1", "{{json .Mounts}}");
    assert_eq!(mounts.as_array().unwrap().len(), 1);
    assert_eq!(mounts[0]["Type"], "tmpfs");
    assert_eq!(mounts[0]["Destination"], "/m");
    // A volume of the local driver's tmpfs type is mounted while used, and empty afterwards.
    ok(
        &d.berth(&[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=1m",
            "tv",
        ]),
        "tmpfs volume",
        &d,
    );
    let out = d.berth(&[
        "run",
        "--rm",
        "-v",
        "tv:/x",
        "busybox",
        "sh",
        "-c",
        "df -k /x | tail -1 | awk '{print $2}'; echo hi > /x/a",
    ]);
    assert_eq!(ok(&out, "tmpfs volume run", &d), "1024\n");
    let out = d.berth(&["run", "--rm", "-v", "tv:/x", "busybox", "ls", "-A", "/x"]);
    assert_eq!(ok(&out, "tmpfs volume empty again", &d), "");
    // The same volume made on the fly by `--mount … volume-opt=`, with its options recorded.
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "source=mv,target=/m,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m",
        "busybox",
        "sh",
        "-c",
        "df -k /m | tail -1 | awk '{print $2}'",
    ]);
    assert_eq!(ok(&out, "volume-opt", &d), "2048\n");
    let opts = inspect_json(&d, "mv", "{{json .Options}}");
    assert_eq!(
        opts,
        serde_json::json!({"device": "tmpfs", "o": "size=2m", "type": "tmpfs"})
    );
    // The local driver's bind option: the volume is a host directory.
    let host = host_dir("drvbind");
    let dev = format!("device={}", host.path().display());
    ok(
        &d.berth(&[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            &dev,
            "bv",
        ]),
        "bind volume",
        &d,
    );
    ok(
        &d.docker(&[
            "run",
            "--rm",
            "-v",
            "bv:/b",
            "busybox",
            "sh",
            "-c",
            "echo via-volume > /b/f",
        ]),
        "bind volume run",
        &d,
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).unwrap(),
        "via-volume\n"
    );
    let data = d.data_root.join("volumes/bv/_data");
    assert!(!std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .contains(data.to_str().unwrap()));
}

#[test]
fn rm_v_and_prune_remove_exactly_what_they_should() {
    let d = TestDaemon::start("vol-rmv");
    d.load_busybox();
    ok(
        &d.berth(&[
            "create",
            "--name",
            "c1",
            "-v",
            "/anon1",
            "-v",
            "named1:/n",
            "busybox",
            "true",
        ]),
        "create",
        &d,
    );
    let mounts = inspect_json(&d, "c1", "{{json .Mounts}}");
    let anon = mounts[0]["Name"].as_str().unwrap().to_owned();
    assert_eq!(mounts[0]["Destination"], "/anon1");
    // In use: refused with Docker's 409 text, even with -f.
    for force in [false, true] {
        let mut args = vec!["volume", "rm"];
        if force {
            args.push("-f");
        }
        args.push("named1");
        let out = d.docker(&args);
        assert_eq!(code(&out), 1);
        let cid = inspect_json(&d, "c1", "{{json .Id}}");
        assert_eq!(
            stderr(&out).trim(),
            format!(
                "Error response from daemon: remove named1: volume is in use - [{}]",
                cid.as_str().unwrap()
            )
        );
    }
    let (status, _, body) = d.api("DELETE", "/v1.51/volumes/named1", None);
    assert_eq!(status, 409, "{body}");
    // rm -v removes the anonymous volume only.
    assert!(volume_names(&d).contains(&anon));
    ok(&d.docker(&["rm", "-v", "c1"]), "rm -v", &d);
    assert_eq!(volume_names(&d), vec!["named1"]);
    // --rm containers take their anonymous volumes along, named ones stay.
    ok(
        &d.berth(&[
            "run",
            "--rm",
            "-v",
            "/anon2",
            "-v",
            "named2:/n",
            "busybox",
            "true",
        ]),
        "--rm",
        &d,
    );
    assert!(eventually(Duration::from_secs(10), || volume_names(&d)
        == vec!["named1", "named2"]));
    // Plain rm keeps anonymous volumes; prune then removes unused anonymous ones only…
    ok(
        &d.berth(&["create", "--name", "k1", "-v", "/anon3", "busybox", "true"]),
        "create k",
        &d,
    );
    ok(
        &d.berth(&[
            "create", "--name", "busy", "-v", "/anon4", "busybox", "true",
        ]),
        "create busy",
        &d,
    );
    let busy_anon = inspect_json(&d, "busy", "{{json .Mounts}}")[0]["Name"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&d.berth(&["rm", "k1"]), "rm k", &d);
    assert_eq!(volume_names(&d).len(), 4);
    let out = d.docker(&["volume", "prune", "-f"]);
    let text = ok(&out, "prune", &d);
    assert!(text.starts_with("Deleted Volumes:\n"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
    let mut left = volume_names(&d);
    left.retain(|n| n != &busy_anon);
    assert_eq!(left, vec!["named1", "named2"]);
    // … and -a also the unused named ones (a label filter narrows it).
    ok(
        &d.berth(&["volume", "create", "--label", "keep=1", "labelled"]),
        "create labelled",
        &d,
    );
    let out = d.berth(&["volume", "prune", "-a", "-f", "--filter", "label!=keep"]);
    ok(&out, "prune -a", &d);
    let mut expect = vec![busy_anon.clone(), "labelled".to_string()];
    expect.sort();
    assert_eq!(volume_names(&d), expect);
    // Old API clients keep the old meaning: every unused volume.
    let (status, _, body) = d.api("POST", "/v1.41/volumes/prune", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(volume_names(&d), vec![busy_anon.clone()]);
    // A volume that does not exist: 404, or nothing with force.
    let out = d.docker(&["volume", "rm", "nosuch"]);
    assert_eq!(
        stderr(&out).trim(),
        "Error response from daemon: get nosuch: no such volume"
    );
    ok(
        &d.docker(&["volume", "rm", "-f", "nosuch"]),
        "rm -f missing",
        &d,
    );
    ok(&d.berth(&["rm", "-v", "busy"]), "rm busy", &d);
    assert!(volume_names(&d).is_empty());
}

#[test]
fn inspect_mounts_and_host_config_match_docker() {
    let d = TestDaemon::start("vol-inspect");
    d.load_busybox();
    let host = host_dir("insp");
    let h = host.path().to_str().unwrap().to_owned();
    let bind = format!("{h}:/h:ro");
    ok(
        &d.docker(&[
            "create",
            "--name",
            "i1",
            "-v",
            "vtest1:/data",
            "-v",
            &bind,
            "-v",
            "/anon",
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=1m",
            "--tmpfs",
            "/t2:size=2m",
            "busybox",
            "true",
        ]),
        "create",
        &d,
    );
    // The docker CLI sends Binds in map order: compare them as a set.
    let binds = inspect_json(&d, "i1", "{{json .HostConfig.Binds}}");
    let mut binds: Vec<&str> = binds
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    binds.sort();
    assert_eq!(binds, vec![bind.as_str(), "vtest1:/data"]);
    let out = d.docker(&[
        "inspect",
        "--format",
        "{{json .HostConfig.Mounts}} {{json .HostConfig.Tmpfs}} {{json .Config.Volumes}}",
        "i1",
    ]);
    assert_eq!(
        ok(&out, "inspect host config", &d),
        "[{\"Type\":\"tmpfs\",\"Target\":\"/t\",\"TmpfsOptions\":{\"SizeBytes\":1048576}}] {\"/t2\":\"size=2m\"} {\"/anon\":{}}\n"
    );
    let out = d.docker(&["inspect", "--format", "{{json .Mounts}}", "i1"]);
    let mounts: Value = serde_json::from_str(&ok(&out, "inspect mounts", &d)).unwrap();
    let anon = mounts[0]["Name"].as_str().unwrap();
    let vroot = d.data_root.join("volumes");
    let expected = serde_json::json!([
        {"Type":"volume","Name":anon,"Source":vroot.join(anon).join("_data"),"Destination":"/anon","Driver":"local","Mode":"","RW":true,"Propagation":""},
        {"Type":"volume","Name":"vtest1","Source":vroot.join("vtest1/_data"),"Destination":"/data","Driver":"local","Mode":"z","RW":true,"Propagation":""},
        {"Type":"bind","Source":h,"Destination":"/h","Mode":"ro","RW":false,"Propagation":"rprivate"},
        {"Type":"tmpfs","Source":"","Destination":"/t","Mode":"","RW":true,"Propagation":""}
    ]);
    assert_eq!(mounts, expected);
    // Key order too, as `{{json .Mounts}}` prints it.
    assert!(
        stdout(&out).starts_with("[{\"Type\":\"volume\",\"Name\":"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("{\"Type\":\"bind\",\"Source\":"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn every_refusal_has_dockers_text() {
    let d = TestDaemon::start("vol-refuse");
    d.load_busybox();
    let cases: &[(&[&str], &str)] = &[
        (&["-v", "a/b:/x"], "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"),
        (&["-v", "vv:relative"], "invalid volume specification: 'vv:relative': invalid mount config for type \"volume\": invalid mount path: 'relative' mount path must be absolute"),
        (&["-v", "vv:/x:zz"], "invalid mode: zz"),
        (&["-v", "vv:/x", "-v", "vv2:/x"], "Duplicate mount point: /x"),
        (&["--mount", "type=tmpfs,target=/x,source=foo"], "invalid mount config for type \"tmpfs\": field Source must not be specified"),
        (&["--mount", "type=volume,target=/x,source=/abs"], "create /abs: \"/abs\" includes invalid characters"),
        (&["--volumes-from", "nosuch"], "No such container: nosuch"),
        (&["-v", "/tmp:/x:rshared"], "path /tmp is mounted on / but it is not a shared mount"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        let out = d.docker(&args);
        assert_eq!(code(&out), 125, "{flags:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(want),
            "{flags:?}: wanted {want:?} in {}",
            stderr(&out)
        );
    }
    let out = d.berth(&["volume", "create", "x"]);
    assert_eq!(stderr(&out).trim(), "Error response from daemon: create x: volume name is too short, names should be at least two alphanumeric characters");
    let out = d.berth(&["volume", "create", "-o", "bogus=1", "vo"]);
    assert!(
        stderr(&out).contains("invalid option: \"bogus\""),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["volume", "create", "-d", "nfs-plugin", "vo"]);
    assert_eq!(code(&out), 1);
    let (status, _, _) = d.api(
        "POST",
        "/volumes/create",
        Some(r#"{"Name":"vo","Driver":"nfs-plugin"}"#),
    );
    assert_eq!(status, 501);
    let (status, _, body) = d.api("GET", "/volumes/..%2F..%2Fetc", None);
    assert_eq!(status, 404, "{body}");
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "target=/x,readonly=maybe",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains("invalid value for readonly: maybe"),
        "{}",
        stderr(&out)
    );
    // Nothing was left behind by the refused creates.
    assert_eq!(volume_names(&d), Vec::<String>::new());
}

#[test]
fn symlinked_mount_targets_in_an_image_cannot_escape() {
    let d = TestDaemon::start("vol-escape");
    let host = host_dir("escape");
    let victim = host.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let src = host.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("payload"), "p\n").unwrap();
    let victim_s = victim.to_str().unwrap().to_owned();
    import_image(
        &d,
        "evil:1",
        &[
            Extra::Symlink("escape", &victim_s),
            Extra::Symlink("up", "../../../../../../.."),
            Extra::Dir("inside", 0o755, 0, 0),
            Extra::Symlink("inlink", "/inside"),
        ],
        // CVE-2022-23648: a VOLUME through a symlink to a host path.
        &["VOLUME /escape/vol", "CMD [\"/bin/sh\"]"],
    );
    import_image(
        &d,
        "busybox-evil",
        &[
            Extra::Symlink("escape", &victim_s),
            Extra::Symlink("up", "../../../../../../.."),
            Extra::Dir("inside", 0o755, 0, 0),
            Extra::Symlink("inlink", "/inside"),
        ],
        &["CMD [\"/bin/sh\"]"],
    );
    let bind = format!("{}:/up{}/bound", src.display(), victim.display());
    let bind2 = format!("{}:/inlink/b", src.display());
    let untouched = |what: &str| {
        let entries: Vec<PathBuf> = std::fs::read_dir(&victim)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(
            entries.is_empty(),
            "{what}: mount targets created on the host: {entries:?}"
        );
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        assert!(
            !mounts.contains(&victim_s),
            "{what}: a mount landed on the host: {mounts}"
        );
    };
    // `..` and symlinks that stay inside the root are followed there, as for any process in
    // the container: the mounts land inside it.
    let out = d.berth(&[
        "run",
        "--rm",
        "--entrypoint",
        "",
        "-v",
        &bind,
        "-v",
        &bind2,
        "busybox-evil",
        "sh",
        "-c",
        &format!("cat /inside/b/payload {}/bound/payload", victim.display()),
    ]);
    untouched("relative escape");
    assert_eq!(ok(&out, "binds through in-root symlinks", &d), "p\np\n");
    // CVE-2022-23648: the image's VOLUME through an absolute symlink to a host path; and a
    // tmpfs and a bind through it. Refused (the link dangles inside the root), never on the host.
    let out = d.berth(&["run", "--rm", "evil:1", "true"]);
    untouched("VOLUME through symlink");
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("creating mount point /escape/vol"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--tmpfs",
        "/escape/t",
        "busybox-evil",
        "true",
    ]);
    untouched("tmpfs through symlink");
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/escape/b", src.display()),
        "busybox-evil",
        "true",
    ]);
    untouched("bind through symlink");
    assert_eq!(code(&out), 125, "{}", stderr(&out));
}

#[test]
fn chown_option_gives_a_fresh_volume_to_the_container_user() {
    let d = TestDaemon::start("vol-chown");
    d.load_busybox();
    // Without the option a non-root user cannot write to a fresh volume (Docker's behaviour)…
    let out = d.berth(&[
        "run",
        "--rm",
        "-u",
        "1000:1000",
        "-v",
        "plain:/data",
        "busybox",
        "touch",
        "/data/f",
    ]);
    assert_ne!(code(&out), 0);
    // … with `:U` (or --mount …,chown) it can.
    let out = d.berth(&[
        "run",
        "--rm",
        "-u",
        "1000:1000",
        "-v",
        "owned:/data:U",
        "busybox",
        "sh",
        "-c",
        "touch /data/f && stat -c %u:%g /data",
    ]);
    assert_eq!(ok(&out, ":U", &d), "1000:1000\n");
    let out = d.docker(&[
        "run",
        "--rm",
        "-u",
        "user",
        "--mount",
        "source=owned2,target=/d,volume-opt=berth.chown=U",
        "busybox",
        "stat",
        "-c",
        "%u:%g",
        "/d",
    ]);
    assert_eq!(ok(&out, "--mount chown", &d), "1000:1000\n");
    let out = d.berth(&[
        "run",
        "--rm",
        "--mount",
        "source=owned3,target=/d,chown=42:43",
        "busybox",
        "stat",
        "-c",
        "%u:%g",
        "/d",
    ]);
    assert_eq!(ok(&out, "chown=uid:gid", &d), "42:43\n");
    // On a bind mount the option is refused: it would change a host directory.
    let out = d.berth(&["run", "--rm", "-v", "/tmp:/x:U", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("invalid mode: U"), "{}", stderr(&out));
}

#[test]
fn mounts_stay_in_place_across_a_daemon_sigkill() {
    let mut d = TestDaemon::start("vol-restart");
    d.load_busybox();
    ok(
        &d.berth(&[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=1m",
            "tv",
        ]),
        "tmpfs volume",
        &d,
    );
    ok(
        &d.berth(&[
            "run",
            "-d",
            "--name",
            "r1",
            "-v",
            "tv:/t",
            "-v",
            "named:/n",
            "busybox",
            "sh",
            "-c",
            "echo a > /t/a; echo b > /n/b; sleep 600",
        ]),
        "run -d",
        &d,
    );
    assert!(eventually(Duration::from_secs(10), || {
        stdout(&d.berth(&["exec", "r1", "cat", "/t/a", "/n/b"])) == "a\nb\n"
    }));
    ok(
        &d.berth(&[
            "create", "--name", "stopped1", "-v", "ref1:/r", "busybox", "true",
        ]),
        "create stopped1",
        &d,
    );
    d.kill9();
    d.spawn();
    // References are rebuilt from the containers' records: still refused.
    let out = d.docker(&["volume", "rm", "ref1"]);
    assert!(
        stderr(&out).contains("remove ref1: volume is in use"),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["exec", "r1", "cat", "/t/a", "/n/b"]);
    assert_eq!(ok(&out, "exec after restart", &d), "a\nb\n");
    // The restarted daemon knows the volume is in use and mounted.
    let out = d.berth(&["volume", "rm", "tv"]);
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    let data = d.data_root.join("volumes/tv/_data");
    assert!(std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .contains(data.to_str().unwrap()));
    ok(&d.berth(&["rm", "-f", "r1"]), "rm -f", &d);
    // The last user gone, the driver's tmpfs is unmounted and the volume can go.
    assert!(!std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .contains(data.to_str().unwrap()));
    ok(&d.berth(&["volume", "rm", "tv"]), "volume rm", &d);
}

const DOCKER_PY: &str = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.44")
v = c.volumes.create("pyvol", labels={"by": "python"})
assert v.name == "pyvol" and v.attrs["Labels"] == {"by": "python"}, v.attrs
assert v.attrs["Mountpoint"].endswith("/volumes/pyvol/_data"), v.attrs
out = c.containers.run("busybox", ["sh", "-c", "echo py > /v/f"], volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, remove=True)
out = c.containers.run("busybox", ["cat", "/v/f"], volumes=["pyvol:/v:ro"], remove=True)
assert out == b"py\n", out
ct = c.containers.create("busybox", ["true"], volumes=["/anon"], name="pyc")
mounts = ct.attrs["Mounts"]
assert len(mounts) == 1 and mounts[0]["Destination"] == "/anon" and mounts[0]["Type"] == "volume", mounts
try:
    c.volumes.get("pyvol").remove()
except docker.errors.APIError as e:
    raise AssertionError("pyvol is not in use: %s" % e)
names = sorted(x.name for x in c.volumes.list())
assert names == [mounts[0]["Name"]], names
try:
    c.volumes.get(mounts[0]["Name"]).remove()
    raise AssertionError("removed a volume in use")
except docker.errors.APIError as e:
    assert e.status_code == 409, e
ct.remove(v=True)
assert c.volumes.list() == []
c.volumes.create("unused1")
r = c.volumes.prune()
assert r["VolumesDeleted"] in (None, []), r
r = c.volumes.prune(filters={"all": "true"})
assert r["VolumesDeleted"] == ["unused1"], r
try:
    c.volumes.get("nosuch")
    raise AssertionError("found nosuch")
except docker.errors.NotFound:
    pass
print("docker-py volumes ok")
"#;

#[test]
fn docker_py_manages_and_mounts_volumes() {
    let d = TestDaemon::start("vol-py");
    d.load_busybox();
    assert!(d.docker_py(DOCKER_PY).contains("docker-py volumes ok"));
}
