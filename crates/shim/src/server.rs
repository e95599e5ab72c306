//! The shim process: daemonize, create the container, serve the protocol until the init exits.
//!
//! Single-threaded on purpose: libcontainer forks from this process (create and exec), which is
//! only sound without other threads. Tokio runs as a current-thread runtime with no blocking
//! pool (no `tokio::fs`, no `spawn_blocking`); runtime calls block the loop for their duration.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use berth_runtime::{ProcessIo, Runtime};
use bytes::Bytes;
use nix::fcntl::OFlag;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

use crate::error::ServeError;
use crate::jsonlog::{timestamp, JsonLog, Stream};
use crate::protocol::*;

/// Entry point of `berth shim <state dir>`; see [`crate::main`].
pub(crate) fn run(state_dir: &Path) -> ! {
    // Absolute, because the shim moves to `/`.
    let state_dir = match std::fs::canonicalize(state_dir) {
        Ok(p) => p,
        Err(e) => report_and_exit(
            &ServeError::io(format!("state dir {}", state_dir.display()), e).to_shim_error(),
        ),
    };
    let state_dir = state_dir.as_path();
    let opts = match read_options(state_dir) {
        Ok(o) => o,
        Err(e) => report_and_exit(&e.to_shim_error()),
    };
    let (rd, wr) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => report_and_exit(&ServeError::io("pipe", e.into()).to_shim_error()),
    };
    // SAFETY: no other threads exist yet (nothing has started any).
    match unsafe { nix::unistd::fork() } {
        Err(e) => report_and_exit(&ServeError::io("fork", e.into()).to_shim_error()),
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(wr);
            // One line, not EOF: a libcontainer init inherits the pipe until it execs.
            let mut file = std::fs::File::from(rd);
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = file.read(&mut byte) {
                if byte[0] == b'\n' {
                    break;
                }
                line.push(byte[0]);
            }
            let resp: Response = serde_json::from_slice(&line).unwrap_or_else(|_| {
                Response::Error(ShimError {
                    kind: ShimErrorKind::Runtime,
                    message: "shim exited before the container was created".into(),
                })
            });
            let ok = matches!(resp, Response::Ok);
            print_line(&serde_json::to_string(&resp).unwrap_or_default());
            std::process::exit(if ok { 0 } else { 1 })
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(rd);
            daemonize();
            let code = match setup(state_dir, opts) {
                Ok(shim) => {
                    send_report(&wr, &Response::Ok);
                    drop(wr);
                    // Create parsed specs and forked; give the transient heap back.
                    // SAFETY: plain glibc call.
                    unsafe { libc::malloc_trim(0) };
                    event_loop(shim)
                }
                Err(e) => {
                    send_report(&wr, &Response::Error(e.to_shim_error()));
                    1
                }
            };
            std::process::exit(code)
        }
    }
}

/// Forget the resident file pages that starting up touched (runtime, spec parsing, tokio's
/// setup): the idle shim runs a small event loop, and only the pages it uses fault back in.
/// Only read-only file mappings without any anonymous (copied-on-write) page are touched: their
/// pages are clean copies of the file, so dropping them loses nothing, while relocated
/// read-only data (which has anonymous pages) is left alone. The main stack below the current
/// frame and the heap's free pages go as well.
fn drop_cold_pages() {
    drop_clean_mappings();
    // Reading smaps took a large transient buffer (and the work before, more): give the heap's
    // free pages back too.
    // SAFETY: plain glibc call.
    unsafe { libc::malloc_trim(0) };
}

fn drop_clean_mappings() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut current: Option<(usize, usize)> = None;
    let flush = |m: Option<(usize, usize)>, anon_kb: u64| {
        if let (Some((a, b)), 0) = (m, anon_kb) {
            // SAFETY: a private, never-written file mapping: MADV_DONTNEED only drops our page
            // table entries and the next access re-reads identical bytes from the page cache.
            unsafe {
                libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED);
            }
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            current = None;
            let (Some(perms), Some(_off), Some(_dev), Some(inode)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            if f.next() == Some("[stack]") {
                if let Ok(start) = usize::from_str_radix(a, 16) {
                    drop_unused_stack(start);
                }
                continue;
            }
            if inode == "0" || perms.contains('w') || !perms.starts_with('r') {
                continue;
            }
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                current = Some((a, b));
            }
        } else if first == "Anonymous:" {
            let kb = f.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            flush(current.take(), kb);
        }
    }
}

/// Room left below the current frame: what the caller's next calls (and a signal frame) use
/// right away.
const STACK_MARGIN: usize = 16 * 1024;

/// Gives back the main stack's pages below the current frame (and a margin): create and exec
/// run deep call chains once, and nothing lives below the stack pointer afterwards. A later
/// deep call faults fresh zero pages in, as stack growth always does.
#[inline(never)]
fn drop_unused_stack(stack_start: usize) {
    let here = 0u8;
    let sp = std::hint::black_box(&here) as *const u8 as usize;
    let page = page_size();
    let end = sp.saturating_sub(STACK_MARGIN) & !(page - 1);
    if end > stack_start {
        // SAFETY: [stack_start, end) lies below every live frame of this single thread.
        unsafe {
            libc::madvise(
                stack_start as *mut libc::c_void,
                end - stack_start,
                libc::MADV_DONTNEED,
            );
        }
    }
}

fn page_size() -> usize {
    // SAFETY: plain sysconf.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

fn report_and_exit(e: &ShimError) -> ! {
    print_line(&serde_json::to_string(&Response::Error(e.clone())).unwrap_or_default());
    std::process::exit(1)
}

/// The report line; a daemon that died meanwhile (EPIPE) is no reason to panic.
fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn send_report(fd: &OwnedFd, resp: &Response) {
    let mut line = serde_json::to_vec(resp).unwrap_or_default();
    line.push(b'\n');
    let _ = nix::unistd::write(fd, &line);
}

fn read_options(state_dir: &Path) -> Result<ShimOptions, ServeError> {
    let path = state_dir.join(OPTIONS_FILE);
    let bytes =
        std::fs::read(&path).map_err(|e| ServeError::io(format!("read {}", path.display()), e))?;
    let opts: ShimOptions = serde_json::from_slice(&bytes)
        .map_err(|e| ServeError::Invalid(format!("bad {}: {e}", path.display())))?;
    for (what, p) in [
        ("bundle", &opts.bundle),
        ("runtime_root", &opts.runtime_root),
        ("log.path", &opts.log.path),
    ] {
        if !p.is_absolute() {
            return Err(ServeError::Invalid(format!(
                "{what} must be absolute: {}",
                p.display()
            )));
        }
    }
    Ok(opts)
}

/// New session, stdio on /dev/null, subreaper: the shim must outlive whoever started it and
/// inherit the container's orphans.
fn daemonize() {
    let _ = nix::unistd::setsid();
    // Do not pin the daemon's working directory (or its mount) for the container's lifetime.
    let _ = std::env::set_current_dir("/");
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
    // SAFETY: plain prctl.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Write `content` under a temporary name and rename it over `path`, so readers never see a
/// partial file. With `sync` the content is fsynced before the rename; the directory is not
/// (see [`fsync_dir`]): on this class of disk each fsync costs milliseconds on the hot path.
/// Pid files are not synced at all: after a machine crash they are meaningless anyway.
fn write_file(path: &Path, content: &[u8], sync: bool) -> Result<(), ServeError> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content)?;
        if sync {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(|e| ServeError::io(format!("write {}", path.display()), e))
}

/// Make a rename in `dir` durable.
fn fsync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

struct Subscriber {
    tx: mpsc::UnboundedSender<Bytes>,
    stdout: bool,
    stderr: bool,
    /// Bytes queued for this client and not yet written to it.
    backlog: Rc<std::cell::Cell<usize>>,
}

/// How far an attached client may fall behind the container's output before it is cut off:
/// a client that stops reading must not grow the shim without bound (the log keeps everything).
const MAX_ATTACH_BACKLOG: usize = 8 << 20;

impl Subscriber {
    /// Queues `data`; false when the client is gone or too far behind, and must be dropped.
    fn offer(&self, data: &Bytes) -> bool {
        let queued = self.backlog.get() + data.len();
        if queued > MAX_ATTACH_BACKLOG {
            return false;
        }
        self.backlog.set(queued);
        self.tx.send(data.clone()).is_ok()
    }
}

enum StdinMsg {
    Data(Bytes),
    Close,
}

struct Exec {
    process: oci_spec::runtime::Process,
    started: bool,
    pid: Option<i32>,
    exit_code: Option<i32>,
    master: Option<Rc<AsyncFd<OwnedFd>>>,
}

struct Shim {
    opts: ShimOptions,
    state_dir: PathBuf,
    runtime: Box<dyn Runtime>,
    status: ContainerStatus,
    init_pid: i32,
    exit: Option<ExitStatus>,
    subscribers: Vec<Subscriber>,
    stdin: Option<mpsc::UnboundedSender<StdinMsg>>,
    master: Option<Rc<AsyncFd<OwnedFd>>>,
    execs: HashMap<String, Exec>,
    log: Option<JsonLog>,
    /// Init fds handed to the event loop once it exists.
    pending_out: Vec<(OwnedFd, Stream)>,
    pending_in: Option<OwnedFd>,
    listener: Option<StdUnixListener>,
    finishing: bool,
}

type Shared = Rc<RefCell<Shim>>;

fn pipe() -> Result<(OwnedFd, OwnedFd), ServeError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ServeError::io("pipe", e.into()))
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), ServeError> {
    let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_GETFL)
        .map_err(|e| ServeError::io("fcntl", e.into()))?;
    nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| ServeError::io("fcntl", e.into()))?;
    Ok(())
}

static CONSOLE_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A listening socket for the runtime to send a PTY master over. Its path must fit `sun_path`
/// for the runtime too, so it lives in /tmp under a short name.
struct ConsoleSocket {
    listener: StdUnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    fn new() -> Result<Self, ServeError> {
        let n = CONSOLE_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!(".berth-console-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = StdUnixListener::bind(&path)
            .map_err(|e| ServeError::io(format!("bind {}", path.display()), e))?;
        Ok(ConsoleSocket { listener, path })
    }

    /// Receive the master the runtime sent (already queued when create/exec returned).
    fn receive(self) -> Result<OwnedFd, ServeError> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let fd = self.listener.as_raw_fd();
        let mut pfd = [nix::poll::PollFd::new(
            self.listener.as_fd_ref(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = fd;
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16)) {
            Ok(n) if n > 0 => {}
            _ => return Err(ServeError::Invalid("the runtime sent no console".into())),
        }
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| ServeError::io("accept console", e))?;
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| ServeError::io("receive console", e.into()))?;
        for c in msg
            .cmsgs()
            .map_err(|e| ServeError::io("receive console", e.into()))?
        {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&first) = fds.first() {
                    // SAFETY: the kernel just installed this fd for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(first) };
                    for &extra in &fds[1..] {
                        let _ = nix::unistd::close(extra);
                    }
                    return Ok(owned);
                }
            }
        }
        Err(ServeError::Invalid("console message carried no fd".into()))
    }
}

trait AsFdRef {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_>;
}
impl AsFdRef for StdUnixListener {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Create the process's working directory in the rootfs when the image lacks it, as Docker does.
fn prepare_workdir(bundle: &Path) -> Result<(), ServeError> {
    let spec = oci_spec::runtime::Spec::load(bundle.join("config.json"))
        .map_err(|e| ServeError::Invalid(format!("read {}/config.json: {e}", bundle.display())))?;
    let (Some(root), Some(process)) = (spec.root().as_ref(), spec.process().as_ref()) else {
        return Ok(());
    };
    let rootfs = bundle.join(root.path());
    let cwd = process.cwd().to_string_lossy().into_owned();
    let user = process.user();
    berth_runtime::workdir::ensure_workdir(&rootfs, &cwd, user.uid(), user.gid())?;
    Ok(())
}

fn make_runtime(opts: &ShimOptions) -> Box<dyn Runtime> {
    match &opts.runtime {
        RuntimeChoice::Builtin => {
            Box::new(berth_runtime::builtin::Builtin::new(&opts.runtime_root))
        }
        RuntimeChoice::External { path, args } => Box::new(berth_runtime::external::External::new(
            path,
            args.clone(),
            &opts.runtime_root,
        )),
    }
}

/// Everything up to "created": runs before the event loop, reported synchronously.
fn setup(state_dir: &Path, opts: ShimOptions) -> Result<Shim, ServeError> {
    for stale in [EXIT_FILE, INIT_PID_FILE, SOCKET_FILE] {
        let _ = std::fs::remove_file(state_dir.join(stale));
    }
    write_file(
        &state_dir.join(SHIM_PID_FILE),
        std::process::id().to_string().as_bytes(),
        false,
    )?;
    let sock = crate::sockpath::short_path(&state_dir.join(SOCKET_FILE))
        .map_err(|e| ServeError::io("socket path", e))?;
    let listener = StdUnixListener::bind(&sock.path).map_err(|e| {
        ServeError::io(format!("bind {}", state_dir.join(SOCKET_FILE).display()), e)
    })?;
    let log = JsonLog::open(&opts.log.path, opts.log.max_size, opts.log.max_file)
        .map_err(|e| ServeError::io(format!("open log {}", opts.log.path.display()), e))?;
    let runtime = make_runtime(&opts);

    let mut io = ProcessIo::default();
    let mut pending_out = Vec::new();
    let mut pending_in = None;
    let console = if opts.tty {
        let c = ConsoleSocket::new()?;
        io.console_socket = Some(c.path.clone());
        Some(c)
    } else {
        let (r, w) = pipe()?;
        io.stdout = Some(w);
        pending_out.push((r, Stream::Stdout));
        let (r, w) = pipe()?;
        io.stderr = Some(w);
        pending_out.push((r, Stream::Stderr));
        if opts.open_stdin {
            let (r, w) = pipe()?;
            io.stdin = Some(r);
            pending_in = Some(w);
        }
        None
    };
    prepare_workdir(&opts.bundle)?;
    // The runtime may have a previous run's state (a crashed shim): clear it. Both runtimes keep
    // it in `<root>/<id>`; checking first spares a runtime call on the common path.
    if opts.runtime_root.join(&opts.id).exists() {
        let _ = runtime.delete(&opts.id, true);
    }
    let pid = runtime.create(&opts.id, &opts.bundle, io)?;
    let mut master = None;
    if let Some(c) = console {
        match c.receive() {
            Ok(m) => master = Some(m),
            Err(e) => {
                let _ = runtime.delete(&opts.id, true);
                return Err(e);
            }
        }
    }
    if let Err(e) = write_file(
        &state_dir.join(INIT_PID_FILE),
        pid.to_string().as_bytes(),
        false,
    ) {
        let _ = runtime.delete(&opts.id, true);
        return Err(e);
    }
    if let Some(m) = master {
        // The master is both the output and (with open_stdin) the input.
        pending_out.push((m, Stream::Stdout));
    }
    Ok(Shim {
        opts,
        state_dir: state_dir.to_path_buf(),
        runtime,
        status: ContainerStatus::Created,
        init_pid: pid,
        exit: None,
        subscribers: Vec::new(),
        stdin: None,
        master: None,
        execs: HashMap::new(),
        log: Some(log),
        pending_out,
        pending_in,
        listener: Some(listener),
        finishing: false,
    })
}

fn event_loop(shim: Shim) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return 1,
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve(shim))
}

/// Tracks open output streams of the init and live client connections.
struct Counters {
    outputs: watch::Sender<usize>,
    connections: watch::Sender<usize>,
    exit: watch::Sender<Option<ExitStatus>>,
    /// Set once the end of the container has been handled completely.
    done: watch::Sender<bool>,
    /// Bumped whenever an exec process is reaped.
    exec_exits: watch::Sender<u64>,
}

async fn serve(mut shim: Shim) -> i32 {
    let listener = match shim.listener.take().map(|l| {
        l.set_nonblocking(true)?;
        tokio::net::UnixListener::from_std(l)
    }) {
        Some(Ok(l)) => l,
        _ => return 1,
    };
    let outputs = std::mem::take(&mut shim.pending_out);
    let pending_in = shim.pending_in.take();
    let tty = shim.opts.tty;
    let open_stdin = shim.opts.open_stdin;
    let init_pid = shim.init_pid;
    let counters = Rc::new(Counters {
        outputs: watch::Sender::new(outputs.len()),
        connections: watch::Sender::new(0),
        exit: watch::Sender::new(None),
        done: watch::Sender::new(false),
        exec_exits: watch::Sender::new(0),
    });
    let shared: Shared = Rc::new(RefCell::new(shim));

    // Output of the init: the log and every attached client.
    for (fd, stream) in outputs {
        let Ok(afd) = async_fd(fd) else { continue };
        let afd = Rc::new(afd);
        if tty {
            shared.borrow_mut().master = Some(afd.clone());
            if open_stdin {
                shared.borrow_mut().stdin = Some(spawn_stdin_writer(afd.clone(), true));
            }
        }
        let sh = shared.clone();
        let c = counters.clone();
        tokio::task::spawn_local(async move {
            pump(&afd, |data| {
                let mut s = sh.borrow_mut();
                if let Some(log) = s.log.as_mut() {
                    log.write(stream, data);
                }
                let framed = if tty {
                    Bytes::copy_from_slice(data)
                } else {
                    frame(stream, data)
                };
                s.subscribers.retain(|sub| {
                    let wanted = match stream {
                        Stream::Stdout => sub.stdout,
                        Stream::Stderr => sub.stderr,
                    };
                    !wanted || sub.offer(&framed)
                });
            })
            .await;
            if let Some(log) = sh.borrow_mut().log.as_mut() {
                log.flush_stream(stream);
            }
            c.outputs.send_modify(|n| *n = n.saturating_sub(1));
        });
    }
    if let Some(w) = pending_in {
        if let Ok(afd) = async_fd(w) {
            shared.borrow_mut().stdin = Some(spawn_stdin_writer(Rc::new(afd), false));
        }
    }

    // Reaping: SIGCHLD for ordinary children, a pidfd for processes libcontainer clones without
    // an exit signal (the init and exec processes).
    {
        let sh = shared.clone();
        let c = counters.clone();
        tokio::task::spawn_local(async move {
            let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            else {
                return;
            };
            loop {
                reap(&sh, &c);
                sig.recv().await;
            }
        });
    }
    watch_pid(shared.clone(), counters.clone(), init_pid);

    // Everything is set up: from here on the shim idles in this loop.
    drop_cold_pages();
    loop {
        tokio::select! {
            conn = listener.accept() => {
                let Ok((stream, _)) = conn else { continue };
                let sh = shared.clone();
                let c = counters.clone();
                c.connections.send_modify(|n| *n += 1);
                tokio::task::spawn_local(async move {
                    handle(sh, c.clone(), stream).await;
                    c.connections.send_modify(|n| *n = n.saturating_sub(1));
                });
            }
            code = wait_done(&counters) => return code,
        }
    }
}

/// Resolves once the init's exit has been handled and the shim may exit.
async fn wait_done(c: &Counters) -> i32 {
    let mut rx = c.done.subscribe();
    let _ = rx.wait_for(|d| *d).await;
    // Let clients read the exit and their last bytes, but do not linger.
    let mut conns = c.connections.subscribe();
    let _ = tokio::time::timeout(Duration::from_secs(2), conns.wait_for(|n| *n == 0)).await;
    0
}

fn async_fd(fd: OwnedFd) -> Result<AsyncFd<OwnedFd>, ServeError> {
    set_nonblocking(&fd)?;
    register(fd).map_err(|e| ServeError::io("register fd", e))
}

fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd stays open, and the same fd, for as long as the AsyncFd owns it.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: a plain syscall; a non-negative return is a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        None
    } else {
        Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
}

fn watch_pid(shared: Shared, counters: Rc<Counters>, pid: i32) {
    let Some(fd) = pidfd_open(pid) else {
        reap(&shared, &counters);
        return;
    };
    let Ok(afd) = register(fd) else { return };
    tokio::task::spawn_local(async move {
        let _ = afd.readable().await;
        reap(&shared, &counters);
    });
}

fn exit_code(ws: WaitStatus) -> Option<(i32, i32)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), code)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), 128 + sig as i32)),
        _ => None,
    }
}

fn reap(shared: &Shared, counters: &Rc<Counters>) {
    loop {
        let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
        match nix::sys::wait::waitpid(None, Some(flags)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(ws) => {
                let Some((pid, code)) = exit_code(ws) else {
                    continue;
                };
                let mut s = shared.borrow_mut();
                if pid == s.init_pid && !s.finishing {
                    s.finishing = true;
                    drop(s);
                    let sh = shared.clone();
                    let c = counters.clone();
                    tokio::task::spawn_local(async move { finish(sh, c, code).await });
                } else if let Some(e) = s.execs.values_mut().find(|e| e.pid == Some(pid)) {
                    e.exit_code = Some(code);
                    counters.exec_exits.send_modify(|n| *n += 1);
                }
            }
        }
    }
}

/// Did the OOM killer act in the container's cgroup? (v2 `memory.events`, v1 `memory.oom_control`.)
fn oom_killed(bundle: &Path) -> bool {
    let Ok(spec) = oci_spec::runtime::Spec::load(bundle.join("config.json")) else {
        return false;
    };
    let Some(cg) = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) else {
        return false;
    };
    let rel = cg.to_string_lossy().trim_start_matches('/').to_string();
    if rel.contains("..") {
        return false;
    }
    let count = |path: PathBuf| -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|v| v.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    };
    count(Path::new("/sys/fs/cgroup").join(&rel).join("memory.events")) > 0
        || count(
            Path::new("/sys/fs/cgroup/memory")
                .join(&rel)
                .join("memory.oom_control"),
        ) > 0
}

async fn finish(shared: Shared, counters: Rc<Counters>, code: i32) {
    // Drain the output first so that attached clients and the log see everything.
    let mut outs = counters.outputs.subscribe();
    let _ = tokio::time::timeout(Duration::from_secs(5), outs.wait_for(|n| *n == 0)).await;
    let (bundle, id, state_dir) = {
        let s = shared.borrow();
        (
            s.opts.bundle.clone(),
            s.opts.id.clone(),
            s.state_dir.clone(),
        )
    };
    let exit = ExitStatus {
        exit_code: code,
        oom_killed: oom_killed(&bundle),
        finished_at: timestamp(),
    };
    if let Ok(bytes) = serde_json::to_vec(&exit) {
        let _ = write_file(&state_dir.join(EXIT_FILE), &bytes, true);
    }
    {
        let mut s = shared.borrow_mut();
        s.status = ContainerStatus::Stopped;
        s.exit = Some(exit.clone());
        s.subscribers.clear();
        s.stdin = None;
        s.master = None;
    }
    // Answer Wait pollers before the slow part (directory fsync, runtime delete).
    counters.exit.send_replace(Some(exit));
    tokio::task::yield_now().await;
    fsync_dir(&state_dir);
    {
        let s = shared.borrow();
        let _ = s.runtime.delete(&id, true);
    }
    let _ = std::fs::remove_file(state_dir.join(SOCKET_FILE));
    counters.done.send_replace(true);
}

/// Read from `fd` until EOF (or EIO: a PTY whose slave side is closed), passing chunks on.
async fn pump(fd: &AsyncFd<OwnedFd>, mut on_data: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let Ok(mut guard) = fd.readable().await else {
            return;
        };
        match guard.try_io(|inner| {
            nix::unistd::read(inner.get_ref().as_raw_fd(), &mut buf).map_err(std::io::Error::from)
        }) {
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => on_data(&buf[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(_)) => return,
            Err(_would_block) => {}
        }
    }
}

async fn write_all_fd(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard
            .try_io(|inner| nix::unistd::write(inner.get_ref(), data).map_err(std::io::Error::from))
        {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

/// A task owning the write side of a process's stdin. `Close` ends stdin (drops the pipe); on
/// a PTY the master stays open (it is the output too) and `Close` is ignored.
fn spawn_stdin_writer(fd: Rc<AsyncFd<OwnedFd>>, pty: bool) -> mpsc::UnboundedSender<StdinMsg> {
    let (tx, mut rx) = mpsc::unbounded_channel::<StdinMsg>();
    tokio::task::spawn_local(async move {
        while let Some(msg) = rx.recv().await {
            match msg {
                StdinMsg::Data(b) => {
                    if write_all_fd(&fd, &b).await.is_err() && !pty {
                        return;
                    }
                }
                StdinMsg::Close if !pty => return,
                StdinMsg::Close => {}
            }
        }
    });
    tx
}

/// Docker's stdcopy framing: stream byte, three zeros, big-endian length, payload.
fn frame(stream: Stream, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + data.len());
    v.push(match stream {
        Stream::Stdout => 1,
        Stream::Stderr => 2,
    });
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

async fn read_request(stream: &mut UnixStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if stream.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        if byte[0] == b'\n' {
            return Ok(Some(line));
        }
        line.push(byte[0]);
        if line.len() > 4 * 1024 * 1024 {
            return Ok(None);
        }
    }
}

async fn respond(stream: &mut UnixStream, resp: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(resp).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await
}

fn err(e: ServeError) -> Response {
    Response::Error(e.to_shim_error())
}

fn resize_fd(fd: &AsyncFd<OwnedFd>, height: u16, width: u16) -> Result<(), ServeError> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
    let r = unsafe { libc::ioctl(fd.get_ref().as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r != 0 {
        return Err(ServeError::io("resize", std::io::Error::last_os_error()));
    }
    Ok(())
}

async fn handle(shared: Shared, counters: Rc<Counters>, mut stream: UnixStream) {
    let Ok(Some(line)) = read_request(&mut stream).await else {
        return;
    };
    let req: Request = match serde_json::from_slice(&line) {
        Ok(r) => r,
        Err(e) => {
            let _ = respond(
                &mut stream,
                &err(ServeError::Invalid(format!("bad request: {e}"))),
            )
            .await;
            return;
        }
    };
    let resp = match req {
        Request::Start => {
            let r = do_start(&shared);
            // The start path is cold code for the idle shim; forgotten once the daemon has
            // its answer, off the critical path of `run`.
            let _ = respond(&mut stream, &r).await;
            drop_cold_pages();
            return;
        }
        Request::State => {
            let s = shared.borrow();
            Response::State(ShimState {
                status: s.status,
                pid: if s.status == ContainerStatus::Stopped {
                    None
                } else {
                    Some(s.init_pid)
                },
                exit: s.exit.clone(),
            })
        }
        Request::Kill { signal, all } => {
            let s = shared.borrow();
            if s.status == ContainerStatus::Stopped {
                err(ServeError::Conflict(format!(
                    "container {} is not running",
                    s.opts.id
                )))
            } else {
                match s.runtime.kill(&s.opts.id, signal, all) {
                    Ok(()) => Response::Ok,
                    Err(e) => err(e.into()),
                }
            }
        }
        Request::Pause => set_paused(&shared, true),
        Request::Resume => set_paused(&shared, false),
        Request::Resize { height, width } => match shared.borrow().master.clone() {
            Some(m) => match resize_fd(&m, height, width) {
                Ok(()) => Response::Ok,
                Err(e) => err(e),
            },
            None => err(ServeError::Conflict("the container has no TTY".into())),
        },
        Request::Attach {
            stdin,
            stdout,
            stderr,
        } => {
            if respond(&mut stream, &Response::Ok).await.is_ok() {
                attach(&shared, stream, stdin, stdout, stderr).await;
            }
            return;
        }
        Request::Wait => {
            let mut rx = counters.exit.subscribe();
            let exit = match rx.wait_for(|e| e.is_some()).await {
                Ok(e) => e.clone(),
                Err(_) => None,
            };
            match exit {
                Some(e) => Response::Exited(e),
                None => err(ServeError::Invalid("shim is shutting down".into())),
            }
        }
        Request::ExecCreate { exec_id, process } => exec_create(&shared, exec_id, process),
        Request::ExecStart {
            exec_id,
            detach,
            stdin,
            process,
        } => {
            if let Some(process) = process {
                let created = exec_create(&shared, exec_id.clone(), process);
                if !matches!(created, Response::Ok) {
                    let _ = respond(&mut stream, &created).await;
                    return;
                }
            }
            exec_start(&shared, &counters, stream, exec_id, detach, stdin).await;
            return;
        }
        Request::ExecResize {
            exec_id,
            height,
            width,
        } => {
            let master = shared
                .borrow()
                .execs
                .get(&exec_id)
                .map(|e| e.master.clone());
            match master {
                None => err(ServeError::NotFound(format!("no such exec: {exec_id}"))),
                Some(None) => err(ServeError::Conflict("the exec has no TTY".into())),
                Some(Some(m)) => match resize_fd(&m, height, width) {
                    Ok(()) => Response::Ok,
                    Err(e) => err(e),
                },
            }
        }
        Request::ExecState { exec_id } => match shared.borrow().execs.get(&exec_id) {
            None => err(ServeError::NotFound(format!("no such exec: {exec_id}"))),
            Some(e) => Response::Exec(ExecState {
                running: e.started && e.exit_code.is_none(),
                pid: e.pid,
                exit_code: e.exit_code,
            }),
        },
        Request::ExecDelete { exec_id } => {
            let removed = shared.borrow_mut().execs.remove(&exec_id);
            match removed {
                None => err(ServeError::NotFound(format!("no such exec: {exec_id}"))),
                Some(e) => {
                    // Not reaped yet (no exit code), so the pid is still this exec's: only
                    // this task reaps, and it is busy here.
                    if let (Some(pid), None) = (e.pid, e.exit_code) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    Response::Ok
                }
            }
        }
        Request::Shutdown => {
            let _ = respond(&mut stream, &Response::Ok).await;
            let _ = stream.shutdown().await;
            shutdown(&shared, &counters).await;
            return;
        }
    };
    let _ = respond(&mut stream, &resp).await;
}

fn do_start(shared: &Shared) -> Response {
    let mut s = shared.borrow_mut();
    if s.status != ContainerStatus::Created {
        return err(ServeError::Conflict(format!(
            "container {} cannot be started: it is {:?}",
            s.opts.id, s.status
        )));
    }
    match s.runtime.start(&s.opts.id) {
        Ok(()) => {
            s.status = ContainerStatus::Running;
            Response::Started { pid: s.init_pid }
        }
        Err(e) => err(e.into()),
    }
}

fn set_paused(shared: &Shared, pause: bool) -> Response {
    let mut s = shared.borrow_mut();
    let (from, to) = if pause {
        (ContainerStatus::Running, ContainerStatus::Paused)
    } else {
        (ContainerStatus::Paused, ContainerStatus::Running)
    };
    if s.status != from {
        return err(ServeError::Conflict(format!(
            "container {} is {:?}, not {:?}",
            s.opts.id, s.status, from
        )));
    }
    let r = if pause {
        s.runtime.pause(&s.opts.id)
    } else {
        s.runtime.resume(&s.opts.id)
    };
    match r {
        Ok(()) => {
            s.status = to;
            Response::Ok
        }
        Err(e) => err(e.into()),
    }
}

async fn attach(shared: &Shared, stream: UnixStream, stdin: bool, stdout: bool, stderr: bool) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let backlog = Rc::new(std::cell::Cell::new(0usize));
    let (stdin_tx, stdin_once) = {
        let mut s = shared.borrow_mut();
        if s.status != ContainerStatus::Stopped && (stdout || stderr) {
            s.subscribers.push(Subscriber {
                tx,
                stdout,
                stderr,
                backlog: backlog.clone(),
            });
        } else if s.status != ContainerStatus::Stopped {
            // Keep the stream open until the container ends even without output.
            s.subscribers.push(Subscriber {
                tx,
                stdout: false,
                stderr: false,
                backlog: backlog.clone(),
            });
        }
        let stdin_tx = if stdin && s.opts.open_stdin {
            s.stdin.clone()
        } else {
            None
        };
        (stdin_tx, s.opts.stdin_once)
    };
    let input = stdin_tx.map(|tx| {
        let sh = shared.clone();
        tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx
                            .send(StdinMsg::Data(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            if stdin_once {
                let _ = tx.send(StdinMsg::Close);
                sh.borrow_mut().stdin = None;
            }
        })
    });
    while let Some(b) = rx.recv().await {
        if wr.write_all(&b).await.is_err() {
            break;
        }
        backlog.set(backlog.get().saturating_sub(b.len()));
    }
    let _ = wr.shutdown().await;
    if let Some(t) = input {
        t.abort();
    }
}

fn exec_create(shared: &Shared, exec_id: String, process: serde_json::Value) -> Response {
    let mut s = shared.borrow_mut();
    if s.status != ContainerStatus::Running {
        return err(ServeError::Conflict(format!(
            "container {} is not running",
            s.opts.id
        )));
    }
    if s.execs.contains_key(&exec_id) {
        return err(ServeError::Conflict(format!(
            "exec {exec_id} already exists"
        )));
    }
    let process: oci_spec::runtime::Process = match serde_json::from_value(process) {
        Ok(p) => p,
        Err(e) => return err(ServeError::Invalid(format!("invalid exec process: {e}"))),
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return err(ServeError::Invalid("exec: no command specified".into()));
    }
    s.execs.insert(
        exec_id,
        Exec {
            process,
            started: false,
            pid: None,
            exit_code: None,
            master: None,
        },
    );
    Response::Ok
}

/// What a started exec hands to its stream: pid, output fds, stdin pipe, whether a PTY.
struct LaunchedExec {
    pid: i32,
    outs: Vec<(OwnedFd, Stream)>,
    input: Option<OwnedFd>,
    tty: bool,
}

fn launch_exec(
    shared: &Shared,
    exec_id: &str,
    detach: bool,
    want_stdin: bool,
) -> Result<LaunchedExec, ServeError> {
    let mut s = shared.borrow_mut();
    if s.status != ContainerStatus::Running {
        return Err(ServeError::Conflict(format!(
            "container {} is not running",
            s.opts.id
        )));
    }
    let id = s.opts.id.clone();
    let exec = s
        .execs
        .get_mut(exec_id)
        .ok_or_else(|| ServeError::NotFound(format!("no such exec: {exec_id}")))?;
    if exec.started {
        return Err(ServeError::Conflict(format!(
            "exec {exec_id} has already been started"
        )));
    }
    exec.started = true;
    let process = exec.process.clone();
    let tty = process.terminal().unwrap_or(false);
    let mut io = ProcessIo::default();
    let mut outs = Vec::new();
    let mut input = None;
    let console = if tty {
        let c = ConsoleSocket::new()?;
        io.console_socket = Some(c.path.clone());
        Some(c)
    } else {
        let (r, w) = pipe()?;
        io.stdout = Some(w);
        outs.push((r, Stream::Stdout));
        let (r, w) = pipe()?;
        io.stderr = Some(w);
        outs.push((r, Stream::Stderr));
        if want_stdin && !detach {
            let (r, w) = pipe()?;
            io.stdin = Some(r);
            input = Some(w);
        }
        None
    };
    let runtime = &s.runtime;
    let pid = runtime.exec(&id, &process, io)?;
    if let Some(c) = console {
        outs.push((c.receive()?, Stream::Stdout));
    }
    let exec = s.execs.get_mut(exec_id).expect("checked above");
    exec.pid = Some(pid);
    Ok(LaunchedExec {
        pid,
        outs,
        input,
        tty,
    })
}

async fn exec_start(
    shared: &Shared,
    counters: &Rc<Counters>,
    mut stream: UnixStream,
    exec_id: String,
    detach: bool,
    want_stdin: bool,
) {
    let started = launch_exec(shared, &exec_id, detach, want_stdin);
    let LaunchedExec {
        pid,
        outs,
        input,
        tty,
    } = match started {
        Ok(v) => v,
        Err(e) => {
            if let Some(ex) = shared.borrow_mut().execs.get_mut(&exec_id) {
                // A failed start still ends the exec, with Docker's exit codes.
                ex.exit_code = Some(match &e {
                    ServeError::Runtime(berth_runtime::RuntimeError::CommandNotFound(_)) => 127,
                    ServeError::Runtime(berth_runtime::RuntimeError::CommandNotInvokable(_)) => 126,
                    _ => 126,
                });
            }
            let _ = respond(&mut stream, &err(e)).await;
            drop_cold_pages();
            return;
        }
    };
    watch_pid(shared.clone(), counters.clone(), pid);
    let _ = respond(&mut stream, &Response::Ok).await;
    // The runtime's exec path is cold code for the idle shim; forgotten once the daemon has
    // its answer.
    drop_cold_pages();

    let mut fds = Vec::new();
    for (fd, st) in outs {
        if let Ok(a) = async_fd(fd) {
            fds.push((Rc::new(a), st));
        }
    }
    if tty {
        if let Some((m, _)) = fds.first() {
            if let Some(ex) = shared.borrow_mut().execs.get_mut(&exec_id) {
                ex.master = Some(m.clone());
            }
        }
    }
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let sink = if detach { None } else { Some(tx) };
    for (fd, st) in &fds {
        let fd = fd.clone();
        let st = *st;
        let sink = sink.clone();
        tokio::task::spawn_local(async move {
            pump(&fd, |data| {
                if let Some(s) = &sink {
                    let b = if tty {
                        Bytes::copy_from_slice(data)
                    } else {
                        frame(st, data)
                    };
                    let _ = s.send(b);
                }
            })
            .await;
        });
    }
    drop(sink);
    if detach {
        let _ = wr.shutdown().await;
        return;
    }
    let stdin_fd = if tty && want_stdin {
        fds.first().map(|(m, _)| m.clone())
    } else {
        match input.map(async_fd) {
            Some(Ok(a)) => Some(Rc::new(a)),
            _ => None,
        }
    };
    let input_task = stdin_fd.map(|fd| {
        let stdin_tx = spawn_stdin_writer(fd, tty);
        tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stdin_tx
                            .send(StdinMsg::Data(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            let _ = stdin_tx.send(StdinMsg::Close);
        })
    });
    drop(fds);
    let mut client_gone = false;
    while let Some(b) = rx.recv().await {
        if !client_gone && wr.write_all(&b).await.is_err() {
            // Keep draining so the process never blocks on a full pipe.
            client_gone = true;
        }
    }
    // The output ends a moment before the process is reaped. Closing the stream only once the
    // exit code is known lets the daemon read it at once instead of polling for it (bounded:
    // a process that closed its output may run on).
    let mut exits = counters.exec_exits.subscribe();
    let reaped = || {
        shared
            .borrow()
            .execs
            .get(&exec_id)
            .is_none_or(|e| e.exit_code.is_some())
    };
    let _ = tokio::time::timeout(EXEC_REAP_WAIT, async {
        while !reaped() {
            if exits.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    let _ = wr.shutdown().await;
    if let Some(t) = input_task {
        t.abort();
    }
}

/// How long a finished exec's stream waits for the process to be reaped.
const EXEC_REAP_WAIT: Duration = Duration::from_secs(2);

async fn shutdown(shared: &Shared, counters: &Rc<Counters>) {
    let already = shared.borrow().finishing;
    if !already {
        {
            let s = shared.borrow();
            let _ = s.runtime.kill(&s.opts.id, libc::SIGKILL, true);
        }
        // The init's exit arrives through the reaper and runs `finish`; bound the wait.
        let mut rx = counters.exit.subscribe();
        let done =
            tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|e| e.is_some())).await;
        if done.is_ok() {
            return;
        }
    } else {
        let mut rx = counters.exit.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|e| e.is_some())).await;
        return;
    }
    // The init never exited (or never existed): tear down anyway.
    let (id, state_dir) = {
        let s = shared.borrow();
        (s.opts.id.clone(), s.state_dir.clone())
    };
    let _ = shared.borrow().runtime.delete(&id, true);
    let _ = std::fs::remove_file(state_dir.join(SOCKET_FILE));
    std::process::exit(0);
}
