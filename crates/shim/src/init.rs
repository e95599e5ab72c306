//! `docker-init` (`--init`): a minimal pid 1 for containers, in the spirit of tini.
//!
//! It runs the command as its child, forwards the signals it receives to it, reaps every zombie
//! the container produces, and exits with the child's status (128 + signal when the child was
//! killed). The daemon bind-mounts the berth binary at `/sbin/docker-init` and prepends
//! `/sbin/docker-init --` to the command; the binary calls [`main`] when its `argv[0]` ends in
//! `docker-init`.

use std::ffi::CString;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

/// Signals that describe a fault of this process itself, never forwarded.
const SYNCHRONOUS: &[Signal] = &[
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

fn fatal(msg: &str, code: i32) -> ! {
    eprintln!("[FATAL docker-init] {msg}");
    std::process::exit(code)
}

/// Run `args` (everything after an optional leading `--`; `args[0]` is this program) as a child
/// and never return. Exit codes: the child's; 127 if the command cannot be found, 126 if it
/// cannot be executed, 1 for usage errors.
pub fn main(args: Vec<String>) -> ! {
    let mut cmd: Vec<String> = args.into_iter().skip(1).collect();
    if cmd.first().map(String::as_str) == Some("--") {
        cmd.remove(0);
    }
    if cmd.is_empty() {
        fatal("usage: docker-init [--] PROGRAM [ARGS...]", 1);
    }
    let argv: Vec<CString> = match cmd.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(v) => v,
        Err(_) => fatal("argument contains a NUL byte", 1),
    };

    // Block every asynchronous signal; they are read from a signalfd and forwarded.
    let mut mask = SigSet::all();
    for s in SYNCHRONOUS {
        mask.remove(*s);
    }
    let mut old = SigSet::empty();
    if nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask), Some(&mut old)).is_err()
    {
        fatal("cannot block signals", 1);
    }

    // SAFETY: single-threaded here; the child only resets its mask and execs.
    let child = match unsafe { nix::unistd::fork() } {
        Err(e) => fatal(&format!("fork failed: {e}"), 1),
        Ok(ForkResult::Child) => {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            // SAFETY: restoring default dispositions for the command.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::signal(libc::SIGTTIN, libc::SIG_DFL);
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            }
            let err = nix::unistd::execvp(&argv[0], &argv).unwrap_err();
            let code = if err == nix::errno::Errno::ENOENT {
                127
            } else {
                126
            };
            fatal(&format!("exec {} failed: {}", cmd[0], err.desc()), code);
        }
        Ok(ForkResult::Parent { child }) => child,
    };

    let sfd = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(e) => fatal(&format!("signalfd: {e}"), 1),
    };
    loop {
        if let Some(code) = reap(child) {
            std::process::exit(code);
        }
        match sfd.read_signal() {
            Ok(Some(info)) => {
                let signo = info.ssi_signo as i32;
                if signo != libc::SIGCHLD {
                    if let Ok(sig) = Signal::try_from(signo) {
                        let _ = nix::sys::signal::kill(child, sig);
                    }
                }
            }
            Ok(None) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => fatal(&format!("reading signals: {e}"), 1),
        }
    }
}

/// Reap every exited child; the main child's exit code once it has exited.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match nix::sys::wait::waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}
