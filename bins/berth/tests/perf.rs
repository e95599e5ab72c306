//! The start-up shortcuts keep their semantics: containers load a seccomp program compiled once
//! (and filter exactly as before), and `--rm` containers get a volatile overlay without that
//! leaking into containers whose writable layer must survive. Speed itself is measured in
//! `bench/`, never asserted here.

mod common;

use common::*;
use std::path::PathBuf;

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

fn blocked(out: &std::process::Output) {
    assert_ne!(code(out), 0, "not blocked: {}", stdout(out));
    assert!(
        stderr(out).contains("Operation not permitted"),
        "{}",
        stderr(out)
    );
}

/// The compiled programs in the daemon's cache, sorted.
fn cached(d: &TestDaemon) -> Vec<PathBuf> {
    let dir = d.exec_root.join("runtime/.seccomp");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn perf_seccomp_programs_are_compiled_once_and_filter_as_before() {
    let d = TestDaemon::start("perf-sec");
    d.load_busybox();

    // The default profile blocks user namespaces for a container without CAP_SYS_ADMIN.
    blocked(&d.berth(&["run", "--rm", "busybox", "unshare", "-U", "true"]));
    let first = cached(&d);
    assert_eq!(first.len(), 1, "one compiled program: {first:?}");
    let ino = |p: &PathBuf| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = ino(&first[0]);
    blocked(&d.docker(&["run", "--rm", "busybox", "unshare", "-U", "true"]));
    assert_eq!(cached(&d), first, "the same filter is never compiled twice");
    assert_eq!(
        ino(&first[0]),
        before,
        "the stored program was not rewritten"
    );

    // A custom profile is compiled into a program of its own, and filters as written.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    for out in [
        d.berth(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/x",
        ]),
        d.docker(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/x",
        ]),
    ] {
        blocked(&out);
    }
    let after = cached(&d);
    assert_eq!(after.len(), 2, "{after:?}");
    let custom = after.iter().find(|p| **p != first[0]).unwrap().clone();

    // The init and exec processes really load the stored program: swap the default profile's
    // program for the custom one's, and a default container now filters like the custom
    // profile (mkdir blocked, user namespaces allowed).
    std::fs::copy(&custom, &first[0]).unwrap();
    blocked(&d.berth(&["run", "--rm", "busybox", "mkdir", "/x"]));
    ok(
        &d.berth(&["run", "-d", "--name", "swapped", "busybox", "sleep", "300"]),
        &d,
    );
    blocked(&d.berth(&["exec", "swapped", "mkdir", "/y"]));
    ok(&d.berth(&["rm", "-f", "swapped"]), &d);

    // A damaged program is never loaded: it is compiled again, and filtering is back.
    std::fs::write(&first[0], b"garbage").unwrap();
    blocked(&d.berth(&["run", "--rm", "busybox", "unshare", "-U", "true"]));
    assert_ne!(std::fs::read(&first[0]).unwrap(), b"garbage");
    std::fs::remove_file(&first[0]).unwrap();
    ok(
        &d.berth(&["run", "-d", "--name", "hx", "busybox", "sleep", "300"]),
        &d,
    );
    blocked(&d.berth(&["exec", "hx", "unshare", "-U", "true"]));
    blocked(&d.docker(&["exec", "hx", "unshare", "-U", "true"]));
    let out = d.berth(&["exec", "hx", "grep", "^Seccomp:", "/proc/self/status"]);
    assert!(ok(&out, &d).contains('2'), "{}", stdout(&out));
    ok(&d.berth(&["rm", "-f", "hx"]), &d);
    // unconfined and no-new-privileges take their own paths and still work.
    let out = d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "^Seccomp:",
        "/proc/self/status",
    ]);
    assert!(ok(&out, &d).contains('0'), "{}", stdout(&out));
    let out = d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    blocked(&out);
}

/// The options of the mount at `/` inside a container started with `args`.
fn root_mount_options(d: &TestDaemon, args: &[&str]) -> String {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "grep", " / / ", "/proc/self/mountinfo"]);
    ok(&d.berth(&all), d)
}

#[test]
fn perf_only_rm_containers_get_a_volatile_overlay() {
    let d = TestDaemon::start("perf-vol");
    d.load_busybox();
    let opts = root_mount_options(&d, &["--rm"]);
    assert!(opts.contains("overlay"), "{opts}");
    assert!(opts.contains("volatile"), "an --rm container: {opts}");
    let opts = root_mount_options(&d, &["--name", "kept"]);
    assert!(!opts.contains("volatile"), "a kept container: {opts}");

    // Copy-up into a new volume mounts the rootfs volatile; the container's own (durable)
    // mount that follows must still work, and see what the image has.
    let out = d.docker(&[
        "run",
        "--name",
        "cu",
        "-v",
        "perfvol:/etc",
        "busybox",
        "sh",
        "-c",
        "grep -c root /etc/passwd; grep ' / / ' /proc/self/mountinfo",
    ]);
    let text = ok(&out, &d);
    assert!(text.starts_with("1\n"), "{text}");
    assert!(!text.contains("volatile"), "{text}");
    // What a kept container writes survives its next start.
    let append = ["sh", "-c", "echo kept >> /data; cat /data"];
    let mut first = vec!["run", "--name", "kw", "busybox"];
    first.extend_from_slice(&append);
    assert_eq!(ok(&d.berth(&first), &d), "kept\n");
    assert_eq!(ok(&d.berth(&["start", "-a", "kw"]), &d), "kept\nkept\n");
    ok(&d.berth(&["rm", "-f", "kept", "cu", "kw"]), &d);
    ok(&d.berth(&["volume", "rm", "perfvol"]), &d);
}
