//! The parsed Dockerfile. Strings are kept as written (unexpanded) except where noted; the
//! builder expands them per stage with [`Instruction::expand`], because the values of `ARG` and
//! `ENV` are only known while the stage is being built.

use std::time::Duration;

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    pub directives: Directives,
    /// `ARG`s before the first `FROM` (the "meta args"): usable in `FROM` lines only, unless a
    /// stage re-declares them.
    pub meta_args: Vec<ArgInstruction>,
    pub stages: Vec<Stage>,
    /// Deprecations and lint findings that do not stop the build (e.g. an empty continuation
    /// line).
    pub warnings: Vec<Warning>,
}

/// Parser directives (`# syntax=`, `# escape=`, `# check=`) from the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub syntax: Option<String>,
    /// `\` unless `# escape=` says `` ` ``.
    pub escape: char,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// One `FROM` and the instructions up to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// The base image reference as written (may contain meta-arg variables), or `scratch`.
    pub base: String,
    /// `--platform=` as written.
    pub platform: Option<String>,
    /// Line of the `FROM` (1-based).
    pub line: usize,
    /// The `FROM` line as written (for "Step 1/N : FROM ..." output).
    pub original: String,
    pub instructions: Vec<Instruction>,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// First line of the instruction (1-based).
    pub line: usize,
    /// Last line (continuations and here-documents included).
    pub end_line: usize,
    /// The instruction as written, continuations joined, keyword as written; what Docker
    /// prints after "Step N/M : " and records in the history's `created_by`.
    pub original: String,
    pub kind: InstructionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    Run(Run),
    /// `COPY`; `ADD` is [`InstructionKind::Add`] with the same fields.
    Copy(Copy),
    Add(Copy),
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    /// `ENV a=b c=d` or the legacy `ENV a b c` (value = rest of line); in order.
    Env(Vec<(String, String)>),
    Arg(ArgInstruction),
    Label(Vec<(String, String)>),
    Maintainer(String),
    /// Port specs as written (`80`, `53/udp`, `8000-8010/tcp`, `$PORT`).
    Expose(Vec<String>),
    Volume(Vec<String>),
    Workdir(String),
    User(String),
    Healthcheck(Healthcheck),
    /// The trigger's text as written (`RUN echo hi`), validated to parse and not to be
    /// `ONBUILD`, `FROM` or `MAINTAINER`; stored in the image config's `OnBuild`.
    Onbuild(String),
    Shell(Vec<String>),
    StopSignal(String),
}

/// Shell form (run through `SHELL`, default `/bin/sh -c`) or exec (JSON) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    Shell(String),
    Exec(Vec<String>),
}

/// A here-document (`<<EOF`, `<<-EOF`, `<<"EOF"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (`EOF`).
    pub name: String,
    /// The body, every line ending with `\n`; leading tabs already removed for `<<-`.
    pub content: String,
    /// `false` when the delimiter was quoted: the body is then taken literally, with no
    /// variable expansion.
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// For a lone here-document (`RUN <<EOF`), `Shell` holds the document's body and
    /// `heredocs` is empty: the body is the script. Otherwise `heredocs` are the documents
    /// that the command line's `<<NAME` redirections feed (BuildKit semantics).
    pub command: CommandForm,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<RunMount>,
    pub network: RunNetwork,
    /// `--security=insecure` (needs an entitlement) vs `sandbox` (default).
    pub security_insecure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunNetwork {
    #[default]
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountType {
    #[default]
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// `RUN --mount=type=...,key=value` (values as written; the builder expands them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunMount {
    /// The `--mount=` value as written; [`Instruction::expand`] parses it again with the
    /// variables substituted (fields holding a `$` keep their defaults until then).
    pub spec: String,
    pub kind: MountType,
    pub target: Option<String>,
    pub source: Option<String>,
    /// A stage name or index, or an image.
    pub from: Option<String>,
    pub id: Option<String>,
    pub read_only: bool,
    pub sharing: CacheSharing,
    /// Octal file mode (`mode=0700`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `tmpfs` size in bytes.
    pub size: Option<u64>,
    /// `secret`/`ssh`: fail when the secret is missing.
    pub required: bool,
    /// `secret`: expose as this environment variable instead of a file.
    pub env: Option<String>,
}

/// `COPY`/`ADD` (fields that only `ADD` accepts are `None`/`false` for `COPY`; the parser
/// rejects them there).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    /// Sources as written (wildcards, URLs for `ADD`, `<<EOF` here-doc names).
    pub sources: Vec<String>,
    /// Here-documents used as sources (`COPY <<EOF /file`), by name.
    pub heredocs: Vec<Heredoc>,
    pub dest: String,
    /// `true` when written in exec (JSON array) form.
    pub json_form: bool,
    pub from: Option<String>,
    pub chown: Option<String>,
    /// Octal (`0755`) or symbolic as written.
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `ADD --checksum=sha256:...`.
    pub checksum: Option<String>,
    /// `ADD --keep-git-dir`.
    pub keep_git_dir: bool,
    /// `ADD --unpack` (`None` = the default: unpack local archives, not URLs).
    pub unpack: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    Check {
        /// Exec form becomes `["CMD", ...]`, shell form `["CMD-SHELL", "..."]` in the config.
        test: CommandForm,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

/// `ARG name[=default] [name2[=default2] ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgInstruction {
    pub line: usize,
    pub original: String,
    pub args: Vec<ArgDecl>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// As written (unexpanded).
    pub default: Option<String>,
}
