//! Compiled seccomp programs, kept on disk so that a filter is compiled once, not per start.
//!
//! libseccomp compiles Docker's default profile (three architectures, some 350 rules) in tens
//! of milliseconds, and libcontainer did so in every container init and every exec. The BPF
//! program it produces depends only on the filter, the architecture, libseccomp's version and
//! the running kernel (whose seccomp features libseccomp probes), so it is compiled once —
//! with libcontainer's own filter construction (`libcontainer::seccomp::export_seccomp`, our
//! patch in `vendor/libcontainer`) — and stored as `<dir>/<key>.bpf`, the key a SHA-256
//! of all four. The init then loads the stored program at the point where it would have
//! compiled the filter: the same filter, the same flags, the same moment.
//!
//! The directory lives in the exec root (a tmpfs by default), so a reboot, maybe into another
//! kernel, starts afresh. A program is written under a temporary name, fsynced and renamed:
//! a crash leaves a whole program or none, and two shims compiling the same key at once both
//! write the same bytes. A file that is not a whole number of BPF instructions is compiled
//! again. Filters with `SCMP_ACT_NOTIFY` actions are not precompiled: loading them hands back
//! a listener fd that only libcontainer's own path deals with.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use crate::error::RuntimeError;

/// Bump when the way programs are produced changes, so stale files are never loaded.
const FORMAT: &str = "berth-seccomp-bpf-1";

/// Size of one BPF instruction (`struct sock_filter`).
const INSN: usize = 8;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct SeccompCache {
    dir: PathBuf,
}

impl SeccompCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SeccompCache { dir: dir.into() }
    }

    /// The file that holds (or will hold) the program of `seccomp`.
    pub fn path(&self, seccomp: &LinuxSeccomp) -> Result<PathBuf, RuntimeError> {
        Ok(self.dir.join(format!("{}.bpf", key(seccomp)?)))
    }

    /// The compiled program of `seccomp`, compiled and stored on the first use; `None` for a
    /// filter that cannot be precompiled (notify actions).
    pub fn program(&self, seccomp: &LinuxSeccomp) -> Result<Option<Vec<u8>>, RuntimeError> {
        if libcontainer::seccomp::is_notify(seccomp) {
            return Ok(None);
        }
        let path = self.path(seccomp)?;
        match std::fs::read(&path) {
            Ok(p) if is_program(&p) => return Ok(Some(p)),
            // A damaged file (which temp+rename should never leave) is replaced below.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RuntimeError::io(format!("read {}", path.display()), e)),
        }
        self.compile(seccomp, &path).map(Some)
    }

    fn compile(&self, seccomp: &LinuxSeccomp, path: &Path) -> Result<Vec<u8>, RuntimeError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| RuntimeError::io(format!("create {}", self.dir.display()), e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".compile-")
            .tempfile_in(&self.dir)
            .map_err(|e| RuntimeError::io(format!("create a file in {}", self.dir.display()), e))?;
        libcontainer::seccomp::export_seccomp(seccomp, tmp.as_file()).map_err(|e| {
            RuntimeError::InvalidSpec(format!("compiling the seccomp filter: {}", chain(&e)))
        })?;
        let mut program = Vec::new();
        tmp.as_file_mut()
            .seek(SeekFrom::Start(0))
            .and_then(|_| tmp.as_file_mut().read_to_end(&mut program))
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| RuntimeError::io("read the compiled seccomp filter", e))?;
        if !is_program(&program) {
            return Err(RuntimeError::InvalidSpec(format!(
                "libseccomp exported {} bytes, not a BPF program",
                program.len()
            )));
        }
        tmp.persist(path)
            .map_err(|e| RuntimeError::io(format!("rename to {}", path.display()), e.error))?;
        Ok(program)
    }
}

fn is_program(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len().is_multiple_of(INSN)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// SHA-256 of everything the compiled program depends on.
fn key(seccomp: &LinuxSeccomp) -> Result<String, RuntimeError> {
    let filter = serde_json::to_vec(seccomp)
        .map_err(|e| RuntimeError::InvalidSpec(format!("seccomp filter: {e}")))?;
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let libseccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let mut h = Sha256::new();
    for part in [
        FORMAT.as_bytes(),
        std::env::consts::ARCH.as_bytes(),
        kernel.as_bytes(),
        libseccomp.as_bytes(),
        &filter,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder};

    fn deny_mkdir(errno: u32) -> LinuxSeccomp {
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActAllow)
            .syscalls(vec![LinuxSyscallBuilder::default()
                .names(vec!["mkdir".to_string(), "mkdirat".to_string()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(errno)
                .build()
                .unwrap()])
            .build()
            .unwrap()
    }

    #[test]
    fn compiles_once_then_reads_the_stored_program() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SeccompCache::new(dir.path().join("c"));
        let f = deny_mkdir(1);
        let p1 = cache.program(&f).unwrap().unwrap();
        assert!(is_program(&p1));
        let path = cache.path(&f).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), p1);
        // A second use reads the file: replace it with a recognisable (valid-sized) program.
        std::fs::write(&path, [0u8; 16]).unwrap();
        assert_eq!(cache.program(&f).unwrap().unwrap(), vec![0u8; 16]);
        // A damaged file is compiled again.
        std::fs::write(&path, [1u8; 5]).unwrap();
        assert_eq!(cache.program(&f).unwrap().unwrap(), p1);
        // Another filter, another key; no temporary files are left behind.
        let other = cache.path(&deny_mkdir(13)).unwrap();
        assert_ne!(other, path);
        cache.program(&deny_mkdir(13)).unwrap().unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path().join("c"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.ends_with(".bpf")), "{names:?}");
    }

    /// The stored program filters exactly like the filter: loaded in a child (a filter can
    /// never be removed), mkdir fails with the profile's errno while other calls work.
    #[test]
    fn the_loaded_program_blocks_what_the_filter_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SeccompCache::new(dir.path().join("c"));
        let f = deny_mkdir(42);
        let program = cache.program(&f).unwrap().unwrap();
        let target = std::ffi::CString::new(dir.path().join("x").to_str().unwrap()).unwrap();
        // SAFETY: the child only makes raw syscalls (no allocation) and _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe {
                let _ = libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if libcontainer::seccomp::load_exported(&f, &program).is_err() {
                    libc::_exit(10);
                }
                let rc = libc::mkdir(target.as_ptr(), 0o755);
                let errno = *libc::__errno_location();
                if rc == 0 {
                    libc::_exit(11);
                }
                if errno != 42 {
                    libc::_exit(12);
                }
                if libc::getpid() <= 0 {
                    libc::_exit(13);
                }
                libc::_exit(0)
            },
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
        assert!(!dir.path().join("x").exists());
        // Without the filter, the same call works.
        std::fs::create_dir(dir.path().join("x")).unwrap();
    }
}
