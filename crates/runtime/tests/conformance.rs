//! The runtime conformance suite: the same scenarios against every backend (libcontainer
//! built in, and runc). Needs root. A plain `main` (harness = false) because libcontainer forks
//! inside the calling process, which must be single-threaded; the test process is made a
//! subreaper so that runc's inits (whose parent `runc create` exits) stay its children.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_runtime::builtin::Builtin;
use berth_runtime::external::External;
use berth_runtime::spec::{build_spec, write_spec, SpecInput};
use berth_runtime::{ProcessIo, Runtime, RuntimeError, Status};
use nix::sys::wait::{WaitPidFlag, WaitStatus};

struct Bundle {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    rootfs: PathBuf,
    root: PathBuf,
}

fn bundle() -> Bundle {
    let tmp = tempfile::Builder::new()
        .prefix("berth-rt-conf")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("bundle");
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(&dir).unwrap();
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "echo", "sleep", "cat", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    Bundle {
        root: tmp.path().join("state"),
        _tmp: tmp,
        dir,
        rootfs,
    }
}

fn write(b: &Bundle, id: &str, args: &[&str]) {
    let input = SpecInput::new(
        id,
        args.iter().map(|s| s.to_string()).collect(),
        b.rootfs.clone(),
    );
    write_spec(&b.dir, &build_spec(&input).unwrap()).unwrap();
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

fn wait_exit(pid: i32) -> i32 {
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::__WALL)) {
        Ok(WaitStatus::Exited(_, c)) => c,
        Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        other => panic!("unexpected wait result {other:?}"),
    }
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

type Make = fn(&Path) -> Box<dyn Runtime>;
type Scenario = (&'static str, fn(Make));

fn lifecycle(make: Make) {
    let b = bundle();
    let rt = make(&b.root);
    let id = "conf-life";
    write(&b, id, &["sh", "-c", "echo hello; sleep 1000"]);
    let (r, w) = pipe();
    let io = ProcessIo {
        stdout: Some(w),
        ..Default::default()
    };
    let pid = rt.create(id, &b.dir, io).unwrap();
    let st = rt.state(id).unwrap();
    assert_eq!(st.status, Status::Created);
    assert_eq!(st.pid, Some(pid));
    rt.start(id).unwrap();
    assert_eq!(rt.state(id).unwrap().status, Status::Running);
    assert!(matches!(
        rt.start(id),
        Err(RuntimeError::Conflict(_)) | Err(RuntimeError::Runtime { .. })
    ));
    rt.pause(id).unwrap();
    assert_eq!(rt.state(id).unwrap().status, Status::Paused);
    rt.resume(id).unwrap();
    assert_eq!(rt.state(id).unwrap().status, Status::Running);

    let (er, ew) = pipe();
    let p: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": ["sh", "-c", "echo from-exec; exit 4"], "env": ["PATH=/bin"], "cwd": "/",
        "user": {"uid": 0, "gid": 0},
    }))
    .unwrap();
    let epid = rt
        .exec(
            id,
            &p,
            ProcessIo {
                stdout: Some(ew),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(wait_exit(epid), 4);
    assert_eq!(read_all(er), "from-exec\n");

    rt.kill(id, libc::SIGKILL, false).unwrap();
    assert_eq!(wait_exit(pid), 137);
    assert_eq!(read_all(r), "hello\n");
    assert_eq!(rt.state(id).unwrap().status, Status::Stopped);
    rt.delete(id, false).unwrap();
    assert!(matches!(rt.state(id), Err(RuntimeError::NotFound(_))));
    rt.delete(id, false).unwrap();
}

fn command_errors(make: Make) {
    let b = bundle();
    let rt = make(&b.root);
    let id = "conf-cmd";
    write(&b, id, &["no-such-command"]);
    match rt.create(id, &b.dir, ProcessIo::default()) {
        Err(RuntimeError::CommandNotFound(m)) => {
            assert!(
                m.contains("exec: \"no-such-command\": executable file not found in $PATH"),
                "{m}"
            )
        }
        other => panic!("expected CommandNotFound, got {other:?}"),
    }
    let _ = rt.delete(id, true);
    write(&b, id, &["/etc"]);
    assert!(matches!(
        rt.create(id, &b.dir, ProcessIo::default()),
        Err(RuntimeError::CommandNotInvokable(_))
    ));
    let _ = rt.delete(id, true);
    // The ID is free again.
    write(&b, id, &["true"]);
    let pid = rt.create(id, &b.dir, ProcessIo::default()).unwrap();
    rt.start(id).unwrap();
    assert_eq!(wait_exit(pid), 0);
    rt.delete(id, false).unwrap();
}

fn force_delete(make: Make) {
    let b = bundle();
    let rt = make(&b.root);
    let id = "conf-force";
    write(&b, id, &["sleep", "1000"]);
    let pid = rt.create(id, &b.dir, ProcessIo::default()).unwrap();
    rt.start(id).unwrap();
    rt.delete(id, true).unwrap();
    assert_eq!(wait_exit(pid), 137);
    assert!(matches!(rt.state(id), Err(RuntimeError::NotFound(_))));
    assert!(matches!(
        rt.kill(id, 9, false),
        Err(RuntimeError::NotFound(_))
    ));
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("0 passed, 0 failed, 3 skipped: needs root");
        return;
    }
    // SAFETY: plain prctl in the test's own process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let backends: [(&str, Make); 2] = [
        ("builtin", |root| Box::new(Builtin::new(root))),
        ("runc", |root| {
            Box::new(External::new("/usr/sbin/runc", vec![], root))
        }),
    ];
    let scenarios: [Scenario; 3] = [
        ("lifecycle", lifecycle),
        ("command_errors", command_errors),
        ("force_delete", force_delete),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (bname, make) in backends {
        for (sname, f) in scenarios {
            let ok = std::panic::catch_unwind(|| f(make)).is_ok();
            println!(
                "test {bname}::{sname} ... {}",
                if ok { "ok" } else { "FAILED" }
            );
            if ok {
                passed += 1
            } else {
                failed += 1
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
