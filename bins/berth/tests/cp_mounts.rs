//! `docker cp` to and from paths under a container's volumes and bind mounts (issue 3's
//! leftover): the copy sees what the container sees there, stopped or running, through the
//! real docker CLI and the berth CLI.

mod common;

use common::*;

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

#[test]
fn cp_reaches_volumes_and_bind_mounts() {
    let d = TestDaemon::start("cp-mounts");
    d.load_busybox();
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("hostfile"), "from the host\n").unwrap();
    let local = tmp.path().join("local.txt");
    std::fs::write(&local, "from cp\n").unwrap();
    let bind = format!("{}:/bind", host.display());
    let robind = format!("{}:/robind:ro", host.display());
    ok(
        &d.berth(&[
            "create",
            "--name",
            "cpm",
            "-v",
            "cpvol:/data",
            "-v",
            &bind,
            "-v",
            &robind,
            "busybox",
            "sleep",
            "1000",
        ]),
        "create",
    );

    // Stopped: into a volume, out of a bind mount (a file, and the mount point itself).
    ok(
        &d.docker(&["cp", local.to_str().unwrap(), "cpm:/data/"]),
        "cp into the volume",
    );
    let out = ok(
        &d.berth(&[
            "run",
            "--rm",
            "-v",
            "cpvol:/v",
            "busybox",
            "cat",
            "/v/local.txt",
        ]),
        "read the volume",
    );
    assert_eq!(out, "from cp\n");
    let got = tmp.path().join("got.txt");
    ok(
        &d.docker(&["cp", "cpm:/bind/hostfile", got.to_str().unwrap()]),
        "cp out of the bind",
    );
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "from the host\n");
    let gotdir = tmp.path().join("gotdir");
    ok(
        &d.docker(&["cp", "cpm:/bind", gotdir.to_str().unwrap()]),
        "cp the mount point",
    );
    assert_eq!(
        std::fs::read_to_string(gotdir.join("hostfile")).unwrap(),
        "from the host\n"
    );
    // Docker's refusal for a read-only mount; nothing lands in the source.
    let o = d.docker(&["cp", local.to_str().unwrap(), "cpm:/robind/"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("mounted volume is marked read-only"),
        "{}",
        stderr(&o)
    );
    assert!(!host.join("local.txt").exists());

    // Running: into the bind mount, visible inside the container and on the host.
    ok(&d.berth(&["start", "cpm"]), "start");
    ok(
        &d.berth(&["cp", local.to_str().unwrap(), "cpm:/bind/copied.txt"]),
        "berth cp into the bind",
    );
    assert_eq!(
        std::fs::read_to_string(host.join("copied.txt")).unwrap(),
        "from cp\n"
    );
    let out = ok(
        &d.berth(&["exec", "cpm", "cat", "/bind/copied.txt", "/data/local.txt"]),
        "exec cat",
    );
    assert_eq!(out, "from cp\nfrom cp\n");
    // The contents of a volume as a tar on stdout.
    let o = d.docker(&["cp", "cpm:/data/.", "-"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut names: Vec<String> = tar::Archive::new(&o.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, [".", "local.txt"]);
    ok(&d.berth(&["rm", "-f", "cpm"]), "rm");
    ok(&d.berth(&["volume", "rm", "cpvol"]), "volume rm");
}
