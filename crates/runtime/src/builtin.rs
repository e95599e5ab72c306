//! The built-in runtime: youki's `libcontainer`, in the calling process.
//!
//! `create` forks an intermediate process that forks the container init; the init ends up a
//! child of the caller (the shim, a subreaper). The init is cloned with `CLONE_PARENT` and no exit
//! signal, so the caller must not rely on SIGCHLD for it: watch it with a pidfd and reap it with
//! `__WALL`.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{LinuxSeccomp, Spec};

use crate::error::RuntimeError;
use crate::seccomp_cache::SeccompCache;
use crate::{ProcessIo, Runtime, RuntimeState, Status};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Builtin {
    root: PathBuf,
}

impl Builtin {
    /// A runtime keeping its per-container state under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Builtin { root: root.into() }
    }

    fn load(&self, id: &str) -> Result<Container, RuntimeError> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        let dir = self.root.join(id);
        if !dir.join("state.json").exists() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Container::load(dir).map_err(|e| map_err("load", id, e))
    }

    /// The compiled program of `seccomp` from the cache (see [`crate::seccomp_cache`]). When
    /// it cannot be had, libcontainer compiles the filter itself as before: slower, the same.
    fn compiled(&self, seccomp: Option<&LinuxSeccomp>) -> Option<CompiledSeccomp> {
        let filter = seccomp?;
        let program = SeccompCache::new(self.root.join(SECCOMP_CACHE_DIR))
            .program(filter)
            .ok()??;
        Some(CompiledSeccomp {
            filter: filter.clone(),
            program,
        })
    }

    fn builder(
        &self,
        id: &str,
        io: ProcessIo,
        executor: DockerExecutor,
    ) -> Result<ContainerBuilder, RuntimeError> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| RuntimeError::io(format!("create {}", self.root.display()), e))?;
        let mut b = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(executor)
            .with_root_path(&self.root)
            .map_err(|e| map_err("create", id, e))?
            .with_console_socket(io.console_socket.as_deref());
        // Without an explicit fd libcontainer leaves the caller's own stdio to the process;
        // give /dev/null instead so the shim's descriptors never leak into a container.
        let null = || -> Result<std::os::fd::OwnedFd, RuntimeError> {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(Into::into)
                .map_err(|e| RuntimeError::io("open /dev/null", e))
        };
        if io.console_socket.is_none() {
            b = b
                .with_stdin(match io.stdin {
                    Some(fd) => fd,
                    None => null()?,
                })
                .with_stdout(match io.stdout {
                    Some(fd) => fd,
                    None => null()?,
                })
                .with_stderr(match io.stderr {
                    Some(fd) => fd,
                    None => null()?,
                });
        }
        Ok(b)
    }
}

/// Render an error with its whole source chain: libcontainer wraps the init's message.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn map_err(op: &'static str, id: &str, e: LibcontainerError) -> RuntimeError {
    match &e {
        LibcontainerError::NoDirectory => RuntimeError::NotFound(id.to_string()),
        LibcontainerError::Exist => {
            RuntimeError::Conflict(format!("container {id} already exists"))
        }
        LibcontainerError::IncorrectStatus(s) => RuntimeError::Conflict(format!(
            "cannot {op} container {id}: container is {}",
            format!("{s:?}").to_ascii_lowercase()
        )),
        _ => {
            let msg = chain(&e);
            // Our executor words exec failures as runc does; strip libcontainer's wrapping.
            match msg.find("exec: \"") {
                Some(i) => RuntimeError::classify(
                    op,
                    format!("unable to start container process: {}", &msg[i..]),
                ),
                None => RuntimeError::classify(op, msg),
            }
        }
    }
}

impl Runtime for Builtin {
    fn create(&self, id: &str, bundle: &Path, io: ProcessIo) -> Result<i32, RuntimeError> {
        adapt_seccomp_args(bundle)?;
        let netns = crate::userns::detach_netns(bundle)?;
        let spec = load_spec(bundle)?;
        let executor = DockerExecutor {
            exec_seccomp: None,
            compiled: self.compiled(spec.linux().as_ref().and_then(|l| l.seccomp().as_ref())),
        };
        let container = crate::userns::in_netns(netns.as_deref(), || {
            Ok(self
                .builder(id, io, executor)?
                .validate_id()
                .map_err(|e| map_err("create", id, e))?
                .as_init(bundle)
                .with_systemd(false)
                .with_detach(true)
                .build())
        })?;
        let container = match container {
            Ok(c) => c,
            Err(e) => {
                // A failed build can leave a half-made state dir behind; the ID must be reusable.
                if let Ok(mut c) = Container::load(self.root.join(id)) {
                    let _ = c.delete(true);
                }
                let _ = std::fs::remove_dir_all(self.root.join(id));
                return Err(map_err("create", id, e));
            }
        };
        let pid = container
            .pid()
            .map(|p| p.as_raw())
            .ok_or_else(|| RuntimeError::Runtime {
                op: "create",
                message: "libcontainer reported no init pid".into(),
            })?;
        if let Err(e) = apply_oom_kill_disable(&spec) {
            let _ = self.delete(id, true);
            return Err(e);
        }
        let new_netns = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .and_then(|ns| {
                ns.iter()
                    .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
            })
            .map(|n| n.path().is_none())
            .unwrap_or(false);
        if new_netns {
            if let Err(e) = crate::bring_loopback_up(pid) {
                let _ = self.delete(id, true);
                return Err(e);
            }
        }
        Ok(pid)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.start().map_err(|e| map_err("start", id, e))
    }

    fn state(&self, id: &str) -> Result<RuntimeState, RuntimeError> {
        let mut c = self.load(id)?;
        c.refresh_status().map_err(|e| map_err("state", id, e))?;
        let status = match c.status() {
            ContainerStatus::Creating => Status::Creating,
            ContainerStatus::Created => Status::Created,
            ContainerStatus::Running => Status::Running,
            ContainerStatus::Paused => Status::Paused,
            ContainerStatus::Stopped => Status::Stopped,
        };
        let pid = if status == Status::Stopped {
            None
        } else {
            c.pid().map(|p| p.as_raw())
        };
        Ok(RuntimeState { status, pid })
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let sig = libcontainer::signal::Signal::try_from(signal)
            .map_err(|_| RuntimeError::InvalidSpec(format!("invalid signal {signal}")))?;
        self.load(id)?
            .kill(sig, all)
            .map_err(|e| map_err("kill", id, e))
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.pause().map_err(|e| map_err("pause", id, e))
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?
            .resume()
            .map_err(|e| map_err("resume", id, e))
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        match self.load(id) {
            Ok(mut c) => c.delete(force).map_err(|e| map_err("delete", id, e)),
            Err(RuntimeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ProcessIo,
    ) -> Result<i32, RuntimeError> {
        // Fail like runc for an unknown or stopped container rather than libcontainer's wording.
        let st = self.state(id)?;
        if st.status != Status::Running {
            return Err(RuntimeError::Conflict(format!(
                "cannot exec in a {} container",
                format!("{:?}", st.status).to_ascii_lowercase()
            )));
        }
        let json = serde_json::to_vec(process)
            .map_err(|e| RuntimeError::InvalidSpec(format!("exec process: {e}")))?;
        let dir = self.root.join(id);
        let pfile = tempfile::Builder::new()
            .prefix(".berth-exec-")
            .suffix(".json")
            .tempfile_in(&dir)
            .map_err(|e| RuntimeError::io("create exec process file", e))?;
        std::fs::write(pfile.path(), json)
            .map_err(|e| RuntimeError::io("write exec process file", e))?;
        // libcontainer leaves seccomp out of an exec's spec: carry the container's filter to the
        // executor, which loads it right before execve (as runc and Docker apply it to execs).
        let container_spec = load_spec(self.load(id)?.bundle())?;
        let seccomp = container_spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().clone());
        let executor = DockerExecutor {
            compiled: self.compiled(seccomp.as_ref()),
            exec_seccomp: seccomp,
        };
        let netns = crate::userns::exec_netns(&container_spec);
        let exec = || {
            self.builder(id, io, executor)?
                .as_tenant()
                .with_detach(true)
                .with_process(Some(pfile.path()))
                .build()
                .map(|p| p.as_raw())
                .map_err(|e| map_err("exec", id, e))
        };
        crate::userns::in_netns(netns.as_deref(), exec)
    }
}

fn load_spec(bundle: &Path) -> Result<Spec, RuntimeError> {
    Spec::load(bundle.join("config.json")).map_err(|e| {
        RuntimeError::InvalidSpec(format!("read {}/config.json: {e}", bundle.display()))
    })
}

/// libcontainer's default executor with runc's (and so Docker's) wording for a command that
/// cannot be found or run, which [`RuntimeError::classify`] understands. For an exec it also
/// loads the container's seccomp filter, which libcontainer's tenant path drops.
#[derive(Clone)]
struct DockerExecutor {
    exec_seccomp: Option<LinuxSeccomp>,
    /// The container's filter, compiled: loaded by the init (through libcontainer's
    /// `compiled_seccomp` hook, our patch) or by an exec's executor.
    compiled: Option<CompiledSeccomp>,
}

#[derive(Clone)]
struct CompiledSeccomp {
    filter: LinuxSeccomp,
    program: Vec<u8>,
}

/// Under the runtime root, beside the per-container state dirs (whose IDs never start with
/// a dot).
const SECCOMP_CACHE_DIR: &str = ".seccomp";

/// Whether this process holds CAP_SYS_ADMIN in its effective set.
fn has_cap_sys_admin() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|m| m & (1 << 21) != 0)
}

fn lookup(cmd: &str, env: &[String]) -> Result<PathBuf, String> {
    let check = |p: &Path| -> Result<(), String> {
        let md = std::fs::metadata(p)
            .map_err(|e| format!("exec: \"{cmd}\": stat {}: {}", p.display(), strip_os(&e)))?;
        if md.is_dir() {
            return Err(format!("exec: \"{cmd}\": is a directory"));
        }
        if md.permissions().mode() & 0o111 == 0 {
            return Err(format!("exec: \"{cmd}\": permission denied"));
        }
        Ok(())
    };
    if cmd.contains('/') {
        check(Path::new(cmd))?;
        return Ok(PathBuf::from(cmd));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(crate::spec::DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(cmd);
        if let Ok(md) = std::fs::metadata(&p) {
            if !md.is_dir() && md.permissions().mode() & 0o111 != 0 {
                return Ok(p);
            }
        }
    }
    Err(format!(
        "exec: \"{cmd}\": executable file not found in $PATH"
    ))
}

fn strip_os(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_ascii_lowercase(),
        None => s,
    }
}

impl Executor for DockerExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let process = spec.process().as_ref().ok_or(ExecutorError::InvalidArg)?;
        let args = process
            .args()
            .as_ref()
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;
        let env = process.env().clone().unwrap_or_default();
        let path = lookup(&args[0], &env).map_err(ExecutorError::Other)?;
        let path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| ExecutorError::InvalidArg)?;
        let argv: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
            .collect();
        // libcontainer has already replaced the environment with the spec's. The shim ignores
        // SIGPIPE, and an ignored signal would stay ignored across exec.
        // SAFETY: resetting a disposition in the single-threaded init process.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        if let Some(seccomp) = &self.exec_seccomp {
            // Capabilities are already dropped here: without CAP_SYS_ADMIN the kernel loads a
            // filter only under no_new_privs, so an exec gets it (a deliberate difference from
            // Docker: a filtered exec beats a setuid-capable one).
            if !has_cap_sys_admin() {
                nix::sys::prctl::set_no_new_privs()
                    .map_err(|e| ExecutorError::Other(format!("no_new_privs: {e}")))?;
            }
            match self.compiled_seccomp(seccomp) {
                Some(program) => libcontainer::seccomp::load_exported(seccomp, program),
                None => libcontainer::seccomp::initialize_seccomp(seccomp).map(|_| ()),
            }
            .map_err(|e| ExecutorError::Other(format!("loading seccomp: {e}")))?;
        }
        let err = nix::unistd::execv(&path, &argv).unwrap_err();
        Err(ExecutorError::Other(format!(
            "exec: \"{}\": {}",
            args[0],
            err.desc().to_ascii_lowercase()
        )))
    }

    fn compiled_seccomp(&self, seccomp: &LinuxSeccomp) -> Option<&[u8]> {
        // Only ever the program of exactly this filter.
        self.compiled
            .as_ref()
            .filter(|c| &c.filter == seccomp)
            .map(|c| c.program.as_slice())
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let process = spec.process().as_ref().ok_or_else(|| {
            ExecutorValidationError::ArgValidationError("spec did not contain process".into())
        })?;
        let args = process
            .args()
            .as_ref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                ExecutorValidationError::ArgValidationError("no command specified".into())
            })?;
        let env = process.env().clone().unwrap_or_default();
        lookup(&args[0], &env)
            .map(|_| ())
            .map_err(ExecutorValidationError::ArgValidationError)
    }
}

/// Rewrites `bundle/config.json` for libcontainer's reading of masked-equality seccomp
/// arguments (see [`crate::seccomp`]); a spec without such arguments is left untouched.
fn adapt_seccomp_args(bundle: &Path) -> Result<(), RuntimeError> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path)
        .map_err(|e| RuntimeError::io(format!("read {}", path.display()), e))?;
    let mut spec: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| RuntimeError::InvalidSpec(format!("config.json: {e}")))?;
    if crate::seccomp::swap_masked_eq_for_libcontainer(&mut spec) {
        let bytes = serde_json::to_vec_pretty(&spec)
            .map_err(|e| RuntimeError::InvalidSpec(format!("config.json: {e}")))?;
        crate::durable_write(&path, &bytes)?;
    }
    Ok(())
}

/// libcontainer 0.7 never passes `disableOOMKiller` on to the cgroup (it hardcodes `false`):
/// write it once the cgroup exists, before the init runs the command.
fn apply_oom_kill_disable(spec: &Spec) -> Result<(), RuntimeError> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let wanted = linux
        .resources()
        .as_ref()
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    let Some(path) = linux.cgroups_path().as_ref() else {
        return Ok(());
    };
    if !wanted || crate::cgroups::version() == crate::cgroups::Version::V2 {
        // cgroup v2 has no switch for it; Docker ignores the flag there too.
        return Ok(());
    }
    let memory = oci_spec::runtime::LinuxMemoryBuilder::default()
        .disable_oom_killer(true)
        .build()
        .map_err(|e| RuntimeError::InvalidSpec(e.to_string()))?;
    let resources = oci_spec::runtime::LinuxResourcesBuilder::default()
        .memory(memory)
        .build()
        .map_err(|e| RuntimeError::InvalidSpec(e.to_string()))?;
    crate::cgroups::update(&path.to_string_lossy(), &resources)
}
