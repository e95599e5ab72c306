//! A crash at any point leaves a state that the next start recognises and cleans up.

mod common;

use common::*;
use std::time::Duration;

fn mounts_under(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .filter(|m| m.starts_with(p.to_str().unwrap()))
        .collect()
}

#[test]
fn a_shim_killed_with_the_daemon_is_recorded_and_cleaned_up() {
    let mut d = TestDaemon::start("crash-shim");
    d.load_busybox();
    let out = d.berth(&["run", "-d", "--name", "victim", "busybox", "sleep", "600"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    let state_dir = d.exec_root.join("c").join(&id);
    let shim_pid: i32 = std::fs::read_to_string(state_dir.join("shim.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let init_pid: i32 = stdout(&d.berth(&["inspect", "-f", "{{.State.Pid}}", "victim"]))
        .trim()
        .parse()
        .unwrap();

    // Everything dies at once, as in a power cut of the engine: daemon, shim, container.
    d.kill9();
    unsafe {
        libc::kill(shim_pid, libc::SIGKILL);
        libc::kill(init_pid, libc::SIGKILL);
    }
    assert!(eventually(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{init_pid}")).exists()
    }));
    assert!(
        !mounts_under(&state_dir).is_empty(),
        "the rootfs is still mounted before the restart"
    );

    d.spawn();
    let out = d.berth(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}",
        "victim",
    ]);
    let text = stdout(&out);
    assert!(text.starts_with("exited "), "{text}");
    assert!(
        eventually(Duration::from_secs(5), || mounts_under(&d.exec_root)
            .is_empty()),
        "{:?}",
        mounts_under(&d.exec_root)
    );
    assert!(!state_dir.exists(), "the bundle is removed");

    // And the container starts again.
    let out = d.berth(&["start", "victim"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log_text());
    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.State.Running}}", "victim"])).trim(),
        "true"
    );
}

#[test]
fn leftovers_of_an_interrupted_create_are_removed() {
    let mut d = TestDaemon::start("crash-create");
    d.load_busybox();
    let out = d.berth(&["create", "--name", "kept", "busybox", "true"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    d.kill9();
    // What a create killed before its database row leaves: a container directory and a bundle
    // directory named by an ID nobody knows.
    let orphan = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let orphan_dir = d.data_root.join("containers").join(orphan);
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join("hostname"), "x\n").unwrap();
    let orphan_bundle = d.exec_root.join("c").join(orphan);
    std::fs::create_dir_all(orphan_bundle.join("rootfs")).unwrap();

    d.spawn();
    assert!(!orphan_dir.exists(), "orphaned container directory removed");
    assert!(!orphan_bundle.exists(), "orphaned bundle removed");
    let out = d.berth(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(stdout(&out).trim(), "kept", "a complete container is kept");
    let out = d.berth(&["start", "-a", "kept"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
