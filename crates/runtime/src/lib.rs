//! OCI runtime integration: spec generation, user resolution, and the [`Runtime`] trait with two
//! backends.
//!
//! * [`spec`] turns a container's configuration ([`spec::SpecInput`]) into an OCI runtime spec
//!   with Docker's defaults; the daemon writes it as `<bundle>/config.json`.
//! * [`user`] resolves `--user` inside the image's rootfs; [`workdir`] creates a missing working
//!   directory there (the shim does it before `create`).
//! * [`Runtime`] drives one container through the OCI lifecycle. Only the shim calls it: the
//!   runtime's `create` makes the container init a child (or, via the shim's subreaper flag, an
//!   adopted grandchild) of the calling process, which must outlive the container.
//!
//! # Lifecycle
//!
//! ```text
//!  create(id, bundle, io) ──► Created ──start──► Running ◄──pause/resume──► Paused
//!         │                                        │ (init exits or kill)
//!         └────────────── delete(force) ◄──── Stopped
//! ```
//!
//! `create` sets up namespaces, mounts and cgroups and leaves the init blocked before `exec` of
//! the user's command; it fails with [`RuntimeError::CommandNotFound`] or
//! [`RuntimeError::CommandNotInvokable`] when the command cannot be run (Docker's exit codes
//! 127/126). `start` releases the init. `exec` adds a process to a running container and returns
//! once it has been executed (or failed to). `delete` removes the runtime's state and cgroups; with
//! `force` it kills the container first.
//!
//! Backends: [`builtin::Builtin`] (youki's libcontainer in-process, no external binary) and
//! [`external::External`] (a runc-compatible binary). They pass the same conformance tests.
//! Calls are blocking and expect a single-threaded caller (libcontainer forks).

pub mod builtin;
pub mod cgroups;
pub mod cgroups_v2;
pub mod devices;
pub mod error;
pub mod external;
pub mod mount_target;
pub mod resources;
pub mod seccomp;
pub mod seccomp_cache;
pub mod seccomp_default;
pub mod spec;
pub mod user;
pub mod userns;
pub mod workdir;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use error::RuntimeError;

/// Where a process's stdio goes.
///
/// Without a terminal, the three descriptors become the process's fd 0, 1, 2 (`None` =
/// `/dev/null`). With a terminal (`process.terminal` in the spec) the runtime allocates a PTY
/// inside the container and sends its master over the unix socket at `console_socket`
/// (SCM_RIGHTS, runc's protocol); the caller must be listening there before the call.
#[derive(Debug, Default)]
pub struct ProcessIo {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub console_socket: Option<PathBuf>,
}

/// The runtime's view of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeState {
    pub status: Status,
    /// Host pid of the init, when it exists.
    pub pid: Option<i32>,
}

/// An OCI runtime (see the crate docs for the lifecycle).
pub trait Runtime {
    /// Create the container `id` from `<bundle>/config.json`; returns the init's host pid.
    fn create(&self, id: &str, bundle: &Path, io: ProcessIo) -> Result<i32, RuntimeError>;
    /// Let the created init exec the user's command.
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    fn state(&self, id: &str) -> Result<RuntimeState, RuntimeError>;
    /// Send `signal` to the init, or to every process of the container when `all`.
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError>;
    fn pause(&self, id: &str) -> Result<(), RuntimeError>;
    fn resume(&self, id: &str) -> Result<(), RuntimeError>;
    /// Remove the runtime's state and cgroups; `force` kills a running container first.
    /// Deleting an unknown container succeeds (idempotent).
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
    /// Run `process` in the running container; returns its host pid once it has been executed.
    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ProcessIo,
    ) -> Result<i32, RuntimeError>;
}

/// Write `bytes` to `path` durably: temporary name, fsync, rename, fsync of the directory.
pub fn durable_write(path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| RuntimeError::io(format!("create temp file in {}", dir.display()), e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| RuntimeError::io(format!("write {}", path.display()), e))?;
    tmp.persist(path)
        .map_err(|e| RuntimeError::io(format!("rename to {}", path.display()), e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Bring the loopback interface of the network namespace of `pid` up.
///
/// runc does this itself for a new network namespace; libcontainer does not. It forks a child
/// that enters the namespace, so the caller's own namespace never changes; the caller must be
/// single-threaded (the shim is).
pub fn bring_loopback_up(pid: i32) -> Result<(), RuntimeError> {
    use nix::sched::{setns, CloneFlags};
    use nix::unistd::{fork, ForkResult};
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| RuntimeError::io("open the container's network namespace", e))?;
    // SAFETY: the child only makes async-signal-safe syscalls and then _exits.
    match unsafe { fork() }.map_err(|e| RuntimeError::io("fork", e.into()))? {
        ForkResult::Child => {
            let ok = setns(&ns, CloneFlags::CLONE_NEWNET).is_ok() && set_lo_up();
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            other => Err(RuntimeError::Runtime {
                op: "create",
                message: format!("bringing up lo in the container failed: {other:?}"),
            }),
        },
    }
}

fn set_lo_up() -> bool {
    // SAFETY: plain ioctls on a socket we own with a zeroed, properly sized ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return false;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut ok = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0;
        if ok {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            ok = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) == 0;
        }
        libc::close(fd);
        ok
    }
}
