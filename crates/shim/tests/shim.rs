//! End-to-end tests of the shim (as root): a busybox rootfs, a bundle from the spec builder, the
//! shim spawned through `client::spawn`, driven through `ShimClient`. Every scenario runs with the
//! built-in runtime (libcontainer) and with the external one (runc).

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_runtime::spec::{build_spec, write_spec, SpecInput};
use berth_shim::protocol::*;
use berth_shim::{ShimClient, SpawnError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "ls", "true", "false", "id", "hostname", "stty", "tty", "seq",
    "kill", "ps", "env", "wc", "head", "yes", "touch", "mkdir",
];

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    rootfs: PathBuf,
    runtime_root: PathBuf,
    id: String,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("berth-shim-test")
            .tempdir()
            .unwrap();
        let dir = tmp.path().join("state");
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(&dir).unwrap();
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "sbin"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for a in BUSYBOX_APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
        let id = format!("t{}", &berth_types_id());
        Fixture {
            runtime_root: tmp.path().join("rt"),
            _tmp: tmp,
            dir,
            rootfs,
            id,
        }
    }

    fn input(&self, args: &[&str]) -> SpecInput {
        let mut i = SpecInput::new(
            self.id.clone(),
            args.iter().map(|s| s.to_string()).collect(),
            self.rootfs.clone(),
        );
        i.hostname = "testhost".into();
        i
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("container-json.log")
    }

    /// Write the bundle and shim.json, spawn the shim.
    fn spawn(
        &self,
        input: &SpecInput,
        runtime: &RuntimeChoice,
        open_stdin: bool,
        stdin_once: bool,
        max_size: u64,
        max_file: u32,
    ) -> Result<ShimClient, SpawnError> {
        let spec = build_spec(input).unwrap();
        write_spec(&self.dir, &spec).unwrap();
        let opts = ShimOptions {
            id: self.id.clone(),
            bundle: self.dir.clone(),
            runtime: runtime.clone(),
            runtime_root: self.runtime_root.clone(),
            tty: input.tty,
            open_stdin,
            stdin_once,
            log: LogOptions {
                path: self.log_path(),
                max_size,
                max_file,
            },
        };
        std::fs::write(
            self.dir.join(OPTIONS_FILE),
            serde_json::to_vec(&opts).unwrap(),
        )
        .unwrap();
        berth_shim::spawn(Path::new(env!("CARGO_BIN_EXE_berth-shim-test")), &self.dir)?;
        Ok(ShimClient::new(&self.dir))
    }
}

fn berth_types_id() -> String {
    let mut b = [0u8; 6];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn builtin() -> RuntimeChoice {
    RuntimeChoice::Builtin
}

fn runc() -> RuntimeChoice {
    RuntimeChoice::External {
        path: "/usr/sbin/runc".into(),
        args: vec![],
    }
}

/// Read a stdcopy-framed stream to its end: (stdout, stderr).
async fn demux(stream: &mut tokio::net::UnixStream) -> (String, String) {
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut all))
        .await
        .expect("stream did not end")
        .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i + 8 <= all.len() {
        let len = u32::from_be_bytes(all[i + 4..i + 8].try_into().unwrap()) as usize;
        let payload = &all[i + 8..i + 8 + len];
        match all[i] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            t => panic!("bad stream type {t}"),
        }
        i += 8 + len;
    }
    assert_eq!(i, all.len(), "trailing bytes in the stream");
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn log_entries(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn wait(c: &ShimClient) -> ExitStatus {
    tokio::time::timeout(Duration::from_secs(30), c.wait())
        .await
        .expect("wait timed out")
        .unwrap()
}

async fn run_output_and_exit(rt: RuntimeChoice) {
    let f = Fixture::new();
    let mut input = f.input(&[
        "sh",
        "-c",
        "echo hello; echo oops >&2; cat /sys/class/net/lo/flags; hostname; pwd; exit 3",
    ]);
    // A working directory the image lacks is created.
    input.cwd = "/work/dir".into();
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    assert!(f.dir.join(INIT_PID_FILE).exists());
    assert!(f.dir.join(SHIM_PID_FILE).exists());
    assert_eq!(c.state().await.unwrap().status, ContainerStatus::Created);
    let mut stream = c.attach(false, true, true).await.unwrap();
    let pid = c.start().await.unwrap();
    assert!(pid > 0);
    let (out, err) = demux(&mut stream).await;
    // lo is up (IFF_UP|IFF_LOOPBACK = 0x9) in the new network namespace.
    assert_eq!(out, "hello\n0x9\ntesthost\n/work/dir\n");
    assert_eq!(err, "oops\n");
    let exit = wait(&c).await;
    assert_eq!(exit.exit_code, 3);
    assert!(!exit.oom_killed);
    let on_disk: ExitStatus =
        serde_json::from_slice(&std::fs::read(f.dir.join(EXIT_FILE)).unwrap()).unwrap();
    assert_eq!(on_disk, exit);
    let log = log_entries(&f.log_path());
    let mut got: Vec<(String, String)> = log
        .iter()
        .map(|e| {
            (
                e["stream"].as_str().unwrap().into(),
                e["log"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("stderr".to_string(), "oops\n".to_string()),
            ("stdout".into(), "/work/dir\n".into()),
            ("stdout".into(), "0x9\n".into()),
            ("stdout".into(), "hello\n".into()),
            ("stdout".into(), "testhost\n".into()),
        ]
    );
    // The shim cleans up after itself: socket gone, state stopped from exit.json.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!f.dir.join(SOCKET_FILE).exists());
    let st = c.state().await.unwrap();
    assert_eq!(st.status, ContainerStatus::Stopped);
    assert_eq!(st.exit.unwrap().exit_code, 3);
}

async fn stdin_once(rt: RuntimeChoice) {
    let f = Fixture::new();
    let input = f.input(&["sh", "-c", "cat; echo done"]);
    let c = f.spawn(&input, &rt, true, true, 0, 1).unwrap();
    let mut stream = c.attach(true, true, true).await.unwrap();
    // A second client sees the same output (fan-out) without taking stdin.
    let mut second = c.attach(false, true, false).await.unwrap();
    c.start().await.unwrap();
    stream.write_all(b"abc\n").await.unwrap();
    stream.write_all(b"def\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let (out, _) = demux(&mut stream).await;
    assert_eq!(out, "abc\ndef\ndone\n");
    let (out2, err2) = demux(&mut second).await;
    assert_eq!((out2.as_str(), err2.as_str()), ("abc\ndef\ndone\n", ""));
    assert_eq!(wait(&c).await.exit_code, 0);
}

async fn exec_and_kill(rt: RuntimeChoice) {
    let f = Fixture::new();
    let input = f.input(&["sleep", "1000"]);
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    // Exec in a created (not running) container is refused.
    let p: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": ["sh", "-c", "cat; echo out; echo err >&2; exit 5"],
        "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
    }))
    .unwrap();
    assert!(c.exec_create("e0", &p).await.is_err());
    c.start().await.unwrap();
    c.exec_create("e1", &p).await.unwrap();
    assert!(c.exec_create("e1", &p).await.is_err(), "duplicate exec id");
    let mut s = c.exec_start("e1", false, true).await.unwrap().unwrap();
    s.write_all(b"in\n").await.unwrap();
    s.shutdown().await.unwrap();
    let (out, err) = demux(&mut s).await;
    assert_eq!(out, "in\nout\n");
    assert_eq!(err, "err\n");
    let mut st = c.exec_state("e1").await.unwrap();
    for _ in 0..50 {
        if st.exit_code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        st = c.exec_state("e1").await.unwrap();
    }
    assert_eq!(st.exit_code, Some(5));
    assert!(!st.running);

    // A missing command in an exec: 127 semantics.
    let nf: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": ["nope"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
    }))
    .unwrap();
    c.exec_create("e2", &nf).await.unwrap();
    let e = c.exec_start("e2", false, false).await.unwrap_err();
    assert_eq!(
        e.shim_error().unwrap().kind,
        ShimErrorKind::CommandNotFound,
        "{e}"
    );
    assert!(c.exec_state("nope").await.is_err());

    // Detached exec.
    let touch: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": ["touch", "/tmp/x"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
    }))
    .unwrap();
    c.exec_create("e3", &touch).await.unwrap();
    assert!(c.exec_start("e3", true, false).await.unwrap().is_none());

    c.pause().await.unwrap();
    assert_eq!(c.state().await.unwrap().status, ContainerStatus::Paused);
    assert!(c.pause().await.is_err());
    c.resume().await.unwrap();
    assert_eq!(c.state().await.unwrap().status, ContainerStatus::Running);

    c.kill(libc::SIGKILL, false).await.unwrap();
    assert_eq!(wait(&c).await.exit_code, 137);
}

async fn tty_and_resize(rt: RuntimeChoice) {
    let f = Fixture::new();
    let mut input = f.input(&["sh", "-c", "read x; tty; stty size; echo $TERM"]);
    input.tty = true;
    let c = f.spawn(&input, &rt, true, false, 0, 1).unwrap();
    let mut stream = c.attach(true, true, true).await.unwrap();
    c.start().await.unwrap();
    c.resize(30, 100).await.unwrap();
    stream.write_all(b"go\n").await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&all).replace('\r', "");
    assert!(text.contains("/dev/pts/0\n30 100\nxterm\n"), "{text:?}");
    assert_eq!(wait(&c).await.exit_code, 0);
}

async fn command_not_found(rt: RuntimeChoice) {
    let f = Fixture::new();
    let input = f.input(&["does-not-exist"]);
    let e = f.spawn(&input, &rt, false, false, 0, 1).unwrap_err();
    let se = e.shim_error().unwrap_or_else(|| panic!("{e}"));
    assert_eq!(se.kind, ShimErrorKind::CommandNotFound, "{}", se.message);
    assert!(
        se.message.contains("executable file not found in $PATH"),
        "{}",
        se.message
    );
    // Nothing is left behind and the ID can be used again.
    let input = f.input(&["/etc/passwd"]);
    let e = f.spawn(&input, &rt, false, false, 0, 1).unwrap_err();
    assert_eq!(
        e.shim_error().unwrap().kind,
        ShimErrorKind::CommandNotInvokable,
        "{e}"
    );
    let input = f.input(&["true"]);
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    c.start().await.unwrap();
    assert_eq!(wait(&c).await.exit_code, 0);
}

async fn log_rotation(rt: RuntimeChoice) {
    let f = Fixture::new();
    let input = f.input(&["seq", "1", "300"]);
    let c = f.spawn(&input, &rt, false, false, 2000, 3).unwrap();
    c.start().await.unwrap();
    assert_eq!(wait(&c).await.exit_code, 0);
    let cur = log_entries(&f.log_path());
    let one = log_entries(&PathBuf::from(format!("{}.1", f.log_path().display())));
    let two = log_entries(&PathBuf::from(format!("{}.2", f.log_path().display())));
    assert!(!PathBuf::from(format!("{}.3", f.log_path().display())).exists());
    assert!(!one.is_empty() && !two.is_empty());
    assert!(std::fs::metadata(f.log_path()).unwrap().len() <= 2000);
    assert_eq!(cur.last().unwrap()["log"], "300\n");
}

async fn shutdown_running(rt: RuntimeChoice) {
    let f = Fixture::new();
    let input = f.input(&["sleep", "1000"]);
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    c.start().await.unwrap();
    let shim_pid = berth_shim::client::read_shim_pid(&f.dir).unwrap();
    // The shim is single-threaded (libcontainer forks inside it) and small.
    let status = std::fs::read_to_string(format!("/proc/{shim_pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    assert_eq!(field("Threads:"), 1);
    // Private memory stays small (file-backed pages of the binary are shared and not counted).
    let rollup = std::fs::read_to_string(format!("/proc/{shim_pid}/smaps_rollup")).unwrap();
    let anon: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(anon < 3 * 1024, "shim anonymous memory {anon} kB");
    c.shutdown().await.unwrap();
    for _ in 0..100 {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim_pid), None).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim_pid), None).is_err());
    assert!(!f.dir.join(SOCKET_FILE).exists());
    assert!(
        !f.runtime_root.join(&f.id).exists(),
        "runtime state left behind"
    );
}

async fn docker_init(rt: RuntimeChoice) {
    let f = Fixture::new();
    // The test binary is dynamically linked: give the rootfs its libraries.
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_berth-shim-test"));
    let ldd = std::process::Command::new("ldd")
        .arg(&exe)
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        if let Some(p) = path {
            let dst = f.rootfs.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(p, &dst).unwrap();
        }
    }
    std::fs::File::create(f.rootfs.join("sbin/docker-init")).unwrap();
    let mut input = f.input(&[
        "sh",
        "-c",
        "echo pid1=$(cat /proc/1/comm); sleep 0 & exit 7",
    ]);
    input.init_binary = Some(exe);
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    let mut s = c.attach(false, true, true).await.unwrap();
    c.start().await.unwrap();
    let (out, err) = demux(&mut s).await;
    assert_eq!(out, "pid1=docker-init\n", "stderr: {err}");
    assert_eq!(wait(&c).await.exit_code, 7);
}

async fn exec_tty(rt: RuntimeChoice) {
    let f = Fixture::new();
    let input = f.input(&["sleep", "1000"]);
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    c.start().await.unwrap();
    let p: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "terminal": true,
        "args": ["sh", "-c", "read x; tty; stty size; exit 9"],
        "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
    }))
    .unwrap();
    c.exec_create("t1", &p).await.unwrap();
    let mut s = c.exec_start("t1", false, true).await.unwrap().unwrap();
    c.exec_resize("t1", 40, 120).await.unwrap();
    s.write_all(b"go\n").await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&all).replace('\r', "");
    assert!(
        text.contains("/dev/pts/") && text.contains("40 120\n"),
        "{text:?}"
    );
    let mut st = c.exec_state("t1").await.unwrap();
    for _ in 0..50 {
        if st.exit_code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        st = c.exec_state("t1").await.unwrap();
    }
    assert_eq!(st.exit_code, Some(9));
    assert!(c.resize(10, 10).await.is_err(), "the init has no TTY");
    // pid 1 ignores SIGTERM without a handler; kill every process.
    c.kill(libc::SIGKILL, true).await.unwrap();
    assert_eq!(wait(&c).await.exit_code, 137);
}

/// The shim ignores SIGPIPE; the container's processes must not inherit that.
async fn sigpipe_default(rt: RuntimeChoice) {
    let f = Fixture::new();
    let input = f.input(&["sh", "-c", "yes | head -n 1"]);
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    let mut s = c.attach(false, true, true).await.unwrap();
    c.start().await.unwrap();
    let (out, _) = demux(&mut s).await;
    assert_eq!(out, "y\n");
    assert_eq!(wait(&c).await.exit_code, 0);
}

async fn oom_killed(rt: RuntimeChoice) {
    let f = Fixture::new();
    for a in ["tr", "tail"] {
        std::os::unix::fs::symlink("busybox", f.rootfs.join("bin").join(a)).unwrap();
    }
    let mut input = f.input(&[
        "sh",
        "-c",
        "head -c 200000000 /dev/zero | tail -c 1000000000 | wc -c",
    ]);
    input.resources.memory = 16 * 1024 * 1024;
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    c.start().await.unwrap();
    let exit = wait(&c).await;
    assert!(exit.oom_killed, "{exit:?}");
}

/// A shim killed with SIGKILL leaves a running container; the daemon's cleanup removes it.
async fn dead_shim_cleanup(rt: RuntimeChoice) {
    let f = Fixture::new();
    let input = f.input(&["sleep", "1000"]);
    let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
    c.start().await.unwrap();
    assert!(
        !berth_shim::client::cleanup_dead_shim(&f.dir).unwrap(),
        "the shim is alive"
    );
    let shim_pid = berth_shim::client::read_shim_pid(&f.dir).unwrap();
    let init: i32 = std::fs::read_to_string(f.dir.join(INIT_PID_FILE))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    for _ in 0..50 {
        if !std::path::Path::new(&format!("/proc/{shim_pid}")).exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(
        c.state().await,
        Err(berth_shim::ClientError::NotRunning(_))
    ));
    assert!(berth_shim::client::cleanup_dead_shim(&f.dir).unwrap());
    assert!(!f.runtime_root.join(&f.id).exists());
    assert!(!f.dir.join(SOCKET_FILE).exists());
    for _ in 0..50 {
        let alive = std::fs::read_to_string(format!("/proc/{init}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the container's init survived the cleanup");
}

macro_rules! both {
    ($($name:ident),*) => {
        mod builtin_runtime {
            $(
                #[tokio::test]
                async fn $name() {
                    if !super::is_root() { eprintln!("skipped: needs root"); return; }
                    super::$name(super::builtin()).await
                }
            )*
        }
        mod runc_runtime {
            $(
                #[tokio::test]
                async fn $name() {
                    if !super::is_root() { eprintln!("skipped: needs root"); return; }
                    super::$name(super::runc()).await
                }
            )*
        }
    };
}

both!(
    run_output_and_exit,
    stdin_once,
    exec_and_kill,
    tty_and_resize,
    command_not_found,
    log_rotation,
    shutdown_running,
    docker_init,
    exec_tty,
    sigpipe_default,
    oom_killed,
    dead_shim_cleanup
);

/// Not a test: timing of spawn → start → wait for `true` (run with `--ignored --nocapture`,
/// ideally `--release`).
#[tokio::test]
#[ignore]
async fn timing_run_true() {
    for (name, rt) in [("builtin", builtin()), ("runc", runc())] {
        let mut times = Vec::new();
        for _ in 0..10 {
            let f = Fixture::new();
            let input = f.input(&["true"]);
            let t0 = std::time::Instant::now();
            let c = f.spawn(&input, &rt, false, false, 0, 1).unwrap();
            let t1 = t0.elapsed();
            c.start().await.unwrap();
            let t2 = t0.elapsed();
            wait(&c).await;
            let t3 = t0.elapsed();
            times.push((t1, t2, t3));
        }
        times.sort_by_key(|t| t.2);
        let (a, b, c) = times[times.len() / 2];
        eprintln!("{name}: spawn {a:?} start {b:?} exited {c:?}");
    }
}

/// Not a test: leave a ready state dir behind for manual tracing (`--ignored --nocapture`).
#[test]
#[ignore]
fn make_state_dir() {
    let f = Fixture::new();
    let input = f.input(&["true"]);
    let spec = build_spec(&input).unwrap();
    write_spec(&f.dir, &spec).unwrap();
    let opts = ShimOptions {
        id: f.id.clone(),
        bundle: f.dir.clone(),
        runtime: builtin(),
        runtime_root: f.runtime_root.clone(),
        tty: false,
        open_stdin: false,
        stdin_once: false,
        log: LogOptions {
            path: f.log_path(),
            max_size: 0,
            max_file: 1,
        },
    };
    std::fs::write(f.dir.join(OPTIONS_FILE), serde_json::to_vec(&opts).unwrap()).unwrap();
    let Fixture { _tmp, dir, .. } = f;
    eprintln!("STATE {}", dir.display());
    std::mem::forget(_tmp);
}
