//! `--userns-remap`: containers' root is an unprivileged host id, proven from inside containers
//! and from the host, through the `berth` CLI, the `docker` CLI and the Engine API.
//!
//! Each test makes a remap user of its own with a subordinate range that overlaps no other
//! line of `/etc/subuid`/`/etc/subgid`, and removes it (and its lines) at the end.

mod common;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn ok(out: &std::process::Output, d: &TestDaemon) -> String {
    assert_eq!(
        code(out),
        0,
        "stdout: {}\nstderr: {}\n{}",
        stdout(out),
        stderr(out),
        d.log_text()
    );
    stdout(out)
}

/// A host user with a fresh 65536-id subordinate range; deleted on drop.
struct RemapUser {
    name: String,
    start: u32,
}

impl RemapUser {
    fn create(tag: &str) -> RemapUser {
        let name = format!("bt{tag}{}", std::process::id());
        let _ = Command::new("userdel").arg(&name).output();
        let out = Command::new("useradd")
            .args(["-r", "-s", "/bin/false", "-U", &name])
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd: {}", stderr(&out));
        // Under a lock of our own so that two tests of this file never pick the same range.
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock().unwrap();
        let start = free_range(65536);
        let range = format!("{start}-{}", start + 65535);
        let out = Command::new("usermod")
            .args(["-v", &range, "-w", &range, &name])
            .output()
            .unwrap();
        assert!(out.status.success(), "usermod: {}", stderr(&out));
        RemapUser { name, start }
    }
}

impl Drop for RemapUser {
    fn drop(&mut self) {
        // userdel removes the user's /etc/subuid and /etc/subgid lines too; make sure.
        let _ = Command::new("usermod")
            .args([
                "--del-subuids",
                &format!("{}-{}", self.start, self.start + 65535),
                "--del-subgids",
                &format!("{}-{}", self.start, self.start + 65535),
                &self.name,
            ])
            .output();
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// The first start ≥ 500000 whose `size` ids are in no line of /etc/subuid or /etc/subgid.
fn free_range(size: u64) -> u32 {
    let mut taken: Vec<(u64, u64)> = ["/etc/subuid", "/etc/subgid"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut p = l.split(':').skip(1);
                    let a: u64 = p.next()?.parse().ok()?;
                    let n: u64 = p.next()?.parse().ok()?;
                    Some((a, a + n))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    taken.sort();
    let mut start = 500000u64;
    for (a, b) in taken {
        if a < start + size && start < b {
            start = b;
        }
    }
    start as u32
}

/// A remapped daemon whose data root's parents the remapped root may traverse (the harness's
/// temporary directory is 0700; dockerd, like Berth, needs o+x on the way to its root).
fn remapped_daemon(name: &str, args: &[&str]) -> TestDaemon {
    let mut d = TestDaemon::unstarted(name, args);
    let parent = d.data_root.parent().unwrap();
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o711)).unwrap();
    d.spawn();
    d
}

fn owner(p: &Path) -> (u32, u32) {
    let md = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (md.uid(), md.gid())
}

#[test]
fn userns_remapped_root_is_root_inside_and_unprivileged_outside() {
    let user = RemapUser::create("a");
    let d = remapped_daemon("userns-a", &["--userns-remap", &user.name]);
    d.load_busybox();
    let s = user.start;
    let map_line = format!("0 {s} 65536");

    // Inside: root, the mapping, the image's files owned by root.
    let out = ok(
        &d.berth(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g /bin/busybox /etc/passwd /",
        ]),
        &d,
    );
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        vec!["0", "0", &map_line, &map_line, "0:0", "0:0", "0:0"],
        "{out}"
    );

    // The host: the daemon's subtree is <uid>.<gid>, the unpacked image belongs to the range.
    let sub = d.data_root.join(format!("{s}.{s}"));
    // dockerd's modes: root's, the remapped root's group may traverse.
    for dir in [&d.data_root, &sub] {
        assert_eq!(owner(dir), (0, s));
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o710, "{}", dir.display());
    }
    let info = ok(
        &d.docker(&[
            "info",
            "--format",
            "{{.DockerRootDir}} {{.SecurityOptions}}",
        ]),
        &d,
    );
    assert!(info.starts_with(sub.to_str().unwrap()), "{info}");
    assert!(info.contains("name=userns"), "{info}");

    // A running container: its process is the remapped root on the host; exec joins its user
    // namespace (not the host's root); a bind mount and a volume get files of the range.
    let bind = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bind.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let vol_bind = format!("{}:/b", bind.path().display());
    ok(
        &d.berth(&[
            "run", "-d", "--name", "c1", "-v", &vol_bind, "-v", "uvol:/v", "busybox", "sleep",
            "300",
        ]),
        &d,
    );
    let pid = ok(&d.berth(&["inspect", "-f", "{{.State.Pid}}", "c1"]), &d);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some(s.to_string().as_str()),
        "{uid_line}"
    );
    let out = ok(
        &d.berth(&[
            "exec",
            "c1",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; touch /b/from-exec /v/in-volume; mkdir /b/d",
        ]),
        &d,
    );
    assert!(out.starts_with("0\n"), "{out}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == map_line),
        "exec is not in the container's user namespace: {out}"
    );
    assert_eq!(owner(&bind.path().join("from-exec")), (s, s));
    assert_eq!(owner(&bind.path().join("d")), (s, s));
    let data = sub.join("volumes/uvol/_data");
    assert_eq!(owner(&data), (s, s));
    assert_eq!(owner(&data.join("in-volume")), (s, s));
    // A file only the host's root may write stays unwritable for the container's root.
    std::fs::write(bind.path().join("host-only"), b"x").unwrap();
    std::fs::set_permissions(
        bind.path().join("host-only"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = d.berth(&["exec", "c1", "sh", "-c", "echo y >> /b/host-only"]);
    assert_ne!(code(&out), 0, "the remapped root wrote a host root's file");
    assert_eq!(std::fs::read(bind.path().join("host-only")).unwrap(), b"x");

    // Commit, export and cp out write the image world's owners, not the host's.
    ok(
        &d.berth(&["exec", "c1", "sh", "-c", "echo z > /made; chown 5:6 /made"]),
        &d,
    );
    ok(&d.berth(&["commit", "c1", "committed:1"]), &d);
    let out = ok(
        &d.berth(&[
            "run",
            "--rm",
            "committed:1",
            "stat",
            "-c",
            "%u:%g",
            "/made",
            "/bin/busybox",
        ]),
        &d,
    );
    assert_eq!(out, "5:6\n0:0\n");
    let export = tempfile::NamedTempFile::new().unwrap();
    ok(
        &d.berth(&["export", "-o", export.path().to_str().unwrap(), "c1"]),
        &d,
    );
    let mut seen = 0;
    let mut ar = tar::Archive::new(std::fs::File::open(export.path()).unwrap());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let h = e.header();
        if path.trim_start_matches("./") == "made" {
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (5, 6));
            seen += 1;
        }
        if path.trim_start_matches("./") == "bin/busybox" {
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "export lacks /made or /bin/busybox");

    // cp in: the copied file belongs to root inside (its host owner is the remapped root; an
    // unshifted one would show as 65534).
    let src = bind.path().join("to-copy");
    std::fs::write(&src, b"copied").unwrap();
    ok(&d.berth(&["cp", src.to_str().unwrap(), "c1:/copied"]), &d);
    assert_eq!(
        ok(
            &d.berth(&["exec", "c1", "stat", "-c", "%u:%g", "/copied"]),
            &d
        ),
        "0:0\n"
    );

    // A volume's `chown` option names container ids: the host gets the range's.
    let out = ok(
        &d.berth(&[
            "run",
            "--rm",
            "--mount",
            "source=cvol,target=/d,chown=1000:1001",
            "busybox",
            "stat",
            "-c",
            "%u:%g",
            "/d",
        ]),
        &d,
    );
    assert_eq!(out, "1000:1001\n");
    assert_eq!(owner(&sub.join("volumes/cvol/_data")), (s + 1000, s + 1001));

    // --init: docker-init (the berth binary, bound in from the host) runs as pid 1 in the
    // user namespace.
    let out = ok(
        &d.berth(&[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/uid_map; cat /proc/1/cmdline | tr '\\0' ' '",
        ]),
        &d,
    );
    assert!(
        out.contains(&s.to_string()) && out.contains("docker-init"),
        "{out}"
    );

    // The docker CLI sees the same.
    let out = ok(&d.docker(&["exec", "c1", "cat", "/proc/self/uid_map"]), &d);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>().join(" "),
        map_line
    );

    // docker-py: the same mapping, and the refusal as an APIError with dockerd's words.
    let out = d.docker_py(
        r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
print(c.containers.run("busybox", "cat /proc/self/uid_map", remove=True).decode().split())
print("name=userns" in c.info()["SecurityOptions"])
try:
    c.containers.run("busybox", "true", privileged=True, remove=True)
    print("ran")
except docker.errors.APIError as e:
    print(e.status_code, "incompatible with user namespaces" in str(e))
"#,
    );
    assert_eq!(
        out,
        format!("['0', '{s}', '65536']\nTrue\n400 True\n"),
        "{out}"
    );

    // dockerd's refusals, and the opt-out.
    for (flags, msg) in [
        (
            vec!["--privileged"],
            "privileged mode is incompatible with user namespaces",
        ),
        (
            vec!["--network", "host"],
            "cannot share the host's network namespace",
        ),
        (vec!["--pid", "host"], "cannot share the host PID namespace"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend(["busybox", "true"]);
        let out = d.berth(&args);
        assert_eq!(code(&out), 125, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(msg), "{}", stderr(&out));
    }
    let out = ok(
        &d.berth(&[
            "run",
            "--rm",
            "--privileged",
            "--userns",
            "host",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/uid_map; stat -c %u /bin/busybox",
        ]),
        &d,
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    // The host's user namespace, on the remapped layers (as dockerd: they are shared).
    assert_eq!(words, vec!["0", "0", "4294967295", &s.to_string()], "{out}");
}

#[test]
fn userns_remapped_containers_have_working_networks() {
    let user = RemapUser::create("n");
    let mut d = remapped_daemon("userns-n", &["--userns-remap", &user.name]);
    d.load_busybox();
    ok(&d.berth(&["network", "create", "unet"]), &d);
    ok(
        &d.berth(&[
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            "unet",
            "busybox",
            "sh",
            "-c",
            "echo hello-from-userns > /tmp/m; while true; do nc -l -p 7777 < /tmp/m; done",
        ]),
        &d,
    );
    // By name through the embedded DNS, and the answer comes back.
    let mut last = String::new();
    let got = eventually(std::time::Duration::from_secs(20), || {
        let out = d.berth(&[
            "run",
            "--rm",
            "--network",
            "unet",
            "busybox",
            "nc",
            "-w",
            "3",
            "srv",
            "7777",
        ]);
        last = format!("{}{}", stdout(&out), stderr(&out));
        stdout(&out).contains("hello-from-userns")
    });
    assert!(got, "no answer over the network: {last}\n{}", d.log_text());
    // The interface is there inside, and /sys is the read-only host view (no sysfs of our
    // own: the network namespace belongs to the host's user namespace).
    let out = ok(
        &d.berth(&[
            "exec",
            "srv",
            "sh",
            "-c",
            "ip -o addr show eth0 | grep -c 'inet '; touch /sys/x 2>/dev/null || echo ro",
        ]),
        &d,
    );
    assert_eq!(out, "1\nro\n");

    // A daemon killed and started again re-adopts the container: exec still joins its user
    // and network namespaces.
    d.kill9();
    d.spawn();
    let out = ok(
        &d.berth(&[
            "exec",
            "srv",
            "sh",
            "-c",
            "cat /proc/self/uid_map; ip -o addr show eth0 | grep -c 'inet '",
        ]),
        &d,
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        vec!["0", &user.start.to_string(), "65536", "1"],
        "{out}"
    );
}

#[test]
fn userns_restart_with_another_mapping_uses_another_subtree() {
    let a = RemapUser::create("r");
    let b = RemapUser::create("q");
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("daemon.json");
    std::fs::write(
        &conf,
        format!("{{\"userns-remap\": \"{}:{}\"}}", a.name, a.name),
    )
    .unwrap();
    // daemon.json's key, in the user:group form.
    let mut d = remapped_daemon("userns-r", &["--config-file", conf.to_str().unwrap()]);
    d.load_busybox();
    ok(&d.berth(&["run", "--name", "kept", "busybox", "true"]), &d);
    let first = d.data_root.join(format!("{}.{}", a.start, a.start));
    assert!(first.join("berth.db").exists());

    // Another mapping: another subtree, where nothing of the first is.
    d.kill9();
    d.extra_args = vec!["--userns-remap".into(), b.name.clone()];
    d.spawn();
    assert_eq!(ok(&d.berth(&["images", "-q"]), &d), "");
    assert_eq!(ok(&d.berth(&["ps", "-aq"]), &d), "");
    assert!(d
        .data_root
        .join(format!("{}.{}", b.start, b.start))
        .join("berth.db")
        .exists());

    // No remapping: the top of the data root, also empty.
    d.kill9();
    d.extra_args = vec![];
    d.spawn();
    assert_eq!(ok(&d.berth(&["images", "-q"]), &d), "");

    // Back to the first: its image and container are there again.
    d.kill9();
    d.extra_args = vec!["--config-file".into(), conf.to_str().unwrap().into()];
    d.spawn();
    assert_ne!(ok(&d.berth(&["images", "-q"]), &d), "");
    assert_eq!(
        ok(&d.berth(&["ps", "-a", "--format", "{{.Names}}"]), &d),
        "kept\n"
    );
    ok(&d.berth(&["rm", "kept"]), &d);
}

#[test]
fn userns_bad_remap_values_stop_the_daemon_clearly() {
    for (value, msg) in [
        ("no-such-user-xyz", "cannot find user"),
        ("root", "no subuid ranges"),
    ] {
        let mut d = TestDaemon::unstarted("userns-bad", &["--userns-remap", value]);
        let out = Command::new(BERTH)
            .args(["daemon", "--data-root"])
            .arg(&d.data_root)
            .arg("--exec-root")
            .arg(&d.exec_root)
            .args(["-H", &d.host(), "--userns-remap", value])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(stderr(&out).contains(msg), "{value}: {}", stderr(&out));
        d.child = None;
        drop(d);
    }
}

/// `--userns-remap default`: the daemon creates `dockremap` (user, group, a free 65536-id
/// range) as dockerd does, when the host has none; removed again if this test made it.
#[test]
fn userns_remap_default_creates_dockremap() {
    let had = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("dockremap:"));
    struct Cleanup(bool);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            if self.0 {
                return;
            }
            let ranges: Vec<String> = std::fs::read_to_string("/etc/subuid")
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    (f.next()? == "dockremap").then_some(())?;
                    let a: u64 = f.next()?.parse().ok()?;
                    let n: u64 = f.next()?.parse().ok()?;
                    Some(format!("{a}-{}", a + n - 1))
                })
                .collect();
            for r in ranges {
                let _ = Command::new("usermod")
                    .args(["--del-subuids", &r, "--del-subgids", &r, "dockremap"])
                    .output();
            }
            let _ = Command::new("userdel").arg("dockremap").output();
            let _ = Command::new("groupdel").arg("dockremap").output();
        }
    }
    let _cleanup = Cleanup(had);
    let d = remapped_daemon("userns-def", &["--userns-remap", "default"]);
    let line = std::fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("dockremap:"))
        .map(str::to_owned)
        .expect("no dockremap range in /etc/subuid");
    let start: u32 = line.split(':').nth(1).unwrap().parse().unwrap();
    assert!(std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("dockremap:")));
    d.load_busybox();
    let out = ok(
        &d.berth(&["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]),
        &d,
    );
    let words: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
    assert_eq!(words[0], "0");
    assert_eq!(words[1], start.to_string());
    let gid_start = std::fs::read_to_string("/etc/subgid")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("dockremap:")?
                .split(':')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .expect("no dockremap range in /etc/subgid");
    assert!(d.data_root.join(format!("{start}.{gid_start}")).is_dir());
    drop(d);
}
