//! Docker's default seccomp profile as data: the same allowed system calls, argument filters
//! and capability/architecture conditions as moby's `profiles/seccomp/default.json`, so a
//! program that runs under Docker's defaults runs here, and one that Docker stops is stopped.
//! [`crate::seccomp`] renders it for one container.

use crate::seccomp::{Arg, Condition, Profile, Rule};

/// System calls every container may make.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
    "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
    "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid",
    "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
    "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
    "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
    "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
    "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret",
    "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
    "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
    "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
    "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
    "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename",
    "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
    "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
    "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
    "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
    "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
    "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
    "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
    "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev",
];

/// `CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET`: without CAP_SYS_ADMIN, `clone` may not make namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

const ALLOW: &str = "SCMP_ACT_ALLOW";

fn rule(names: &[&str]) -> Rule {
    Rule {
        names: names.iter().map(|s| s.to_string()).collect(),
        action: ALLOW.into(),
        ..Rule::default()
    }
}

fn cond(caps: &[&str], arches: &[&str]) -> Condition {
    Condition {
        caps: caps.iter().map(|s| s.to_string()).collect(),
        arches: arches.iter().map(|s| s.to_string()).collect(),
        min_kernel: None,
    }
}

fn arg(index: u32, value: u64, op: &str) -> Arg {
    Arg {
        index,
        value,
        value_two: 0,
        op: op.into(),
    }
}

fn with_caps(names: &[&str], caps: &[&str]) -> Rule {
    Rule {
        includes: cond(caps, &[]),
        ..rule(names)
    }
}

fn on_arches(names: &[&str], arches: &[&str]) -> Rule {
    Rule {
        includes: cond(&[], arches),
        ..rule(names)
    }
}

/// The profile (see the module docs).
pub fn profile() -> Profile {
    let mut syscalls = vec![
        rule(ALLOWED),
        Rule {
            includes: Condition {
                min_kernel: Some("4.8".into()),
                ..Condition::default()
            },
            ..rule(&["process_vm_readv", "process_vm_writev", "ptrace"])
        },
        // AF_VSOCK (40) sockets are refused; every other family is allowed.
        Rule {
            args: vec![arg(0, 40, "SCMP_CMP_NE")],
            ..rule(&["socket"])
        },
    ];
    // personality(2) only with the harmless personas (PER_LINUX, PER_LINUX32, UNAME26 forms,
    // and the query 0xffffffff).
    for persona in [0u64, 8, 131_072, 131_080, 4_294_967_295] {
        syscalls.push(Rule {
            args: vec![arg(0, persona, "SCMP_CMP_EQ")],
            ..rule(&["personality"])
        });
    }
    syscalls.extend([
        on_arches(&["sync_file_range2", "swapcontext"], &["ppc64le"]),
        on_arches(
            &[
                "arm_fadvise64_64",
                "arm_sync_file_range",
                "sync_file_range2",
                "breakpoint",
                "cacheflush",
                "set_tls",
            ],
            &["arm", "arm64"],
        ),
        on_arches(&["arch_prctl"], &["amd64", "x32"]),
        on_arches(&["modify_ldt"], &["amd64", "x32", "x86"]),
        on_arches(
            &[
                "s390_pci_mmio_read",
                "s390_pci_mmio_write",
                "s390_runtime_instr",
            ],
            &["s390", "s390x"],
        ),
        on_arches(&["riscv_flush_icache"], &["riscv64"]),
        with_caps(&["open_by_handle_at"], &["CAP_DAC_READ_SEARCH"]),
        with_caps(
            &[
                "bpf",
                "clone",
                "clone3",
                "fanotify_init",
                "fsconfig",
                "fsmount",
                "fsopen",
                "fspick",
                "lookup_dcookie",
                "mount",
                "mount_setattr",
                "move_mount",
                "open_tree",
                "perf_event_open",
                "quotactl",
                "quotactl_fd",
                "setdomainname",
                "sethostname",
                "setns",
                "syslog",
                "umount",
                "umount2",
                "unshare",
            ],
            &["CAP_SYS_ADMIN"],
        ),
        Rule {
            args: vec![Arg {
                value: CLONE_NAMESPACE_FLAGS,
                ..arg(0, 0, "SCMP_CMP_MASKED_EQ")
            }],
            excludes: cond(&["CAP_SYS_ADMIN"], &["s390", "s390x"]),
            ..rule(&["clone"])
        },
        // s390 passes clone's flags second.
        Rule {
            args: vec![Arg {
                value: CLONE_NAMESPACE_FLAGS,
                ..arg(1, 0, "SCMP_CMP_MASKED_EQ")
            }],
            includes: cond(&[], &["s390", "s390x"]),
            excludes: cond(&["CAP_SYS_ADMIN"], &[]),
            ..rule(&["clone"])
        },
        // clone3's flags live in memory that seccomp cannot read: answer ENOSYS so that libc
        // falls back to clone, which the rule above filters.
        Rule {
            action: "SCMP_ACT_ERRNO".into(),
            errno_ret: Some(38),
            excludes: cond(&["CAP_SYS_ADMIN"], &[]),
            ..rule(&["clone3"])
        },
        with_caps(&["reboot"], &["CAP_SYS_BOOT"]),
        with_caps(&["chroot"], &["CAP_SYS_CHROOT"]),
        with_caps(
            &["delete_module", "init_module", "finit_module"],
            &["CAP_SYS_MODULE"],
        ),
        with_caps(&["acct"], &["CAP_SYS_PACCT"]),
        with_caps(
            &[
                "kcmp",
                "pidfd_getfd",
                "process_madvise",
                "process_vm_readv",
                "process_vm_writev",
                "ptrace",
            ],
            &["CAP_SYS_PTRACE"],
        ),
        with_caps(&["iopl", "ioperm"], &["CAP_SYS_RAWIO"]),
        with_caps(
            &["settimeofday", "stime", "clock_settime", "clock_settime64"],
            &["CAP_SYS_TIME"],
        ),
        with_caps(&["vhangup"], &["CAP_SYS_TTY_CONFIG"]),
        with_caps(
            &[
                "get_mempolicy",
                "mbind",
                "set_mempolicy",
                "set_mempolicy_home_node",
            ],
            &["CAP_SYS_NICE"],
        ),
        with_caps(&["syslog"], &["CAP_SYSLOG"]),
        with_caps(&["bpf"], &["CAP_BPF"]),
        with_caps(&["perf_event_open"], &["CAP_PERFMON"]),
    ]);
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(1),
        arch_map: crate::seccomp::docker_arch_map(),
        architectures: Vec::new(),
        syscalls,
    }
}
