//! A compact, reviewable rendering of a parsed Dockerfile (one line per instruction, like
//! BuildKit's `Node.Dump`) for the fixture test.

use berth_dockerfile::*;
use std::fmt::Write;

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn qo(s: &Option<String>) -> String {
    s.as_deref().map(q).unwrap_or_else(|| "-".into())
}

fn list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("[{}]", items.join(", "))
}

fn form(c: &CommandForm) -> String {
    match c {
        CommandForm::Shell(s) => format!("shell {}", q(s)),
        CommandForm::Exec(v) => format!("exec {}", list(v)),
    }
}

fn heredocs(out: &mut String, docs: &[Heredoc]) {
    for h in docs {
        let _ = writeln!(
            out,
            "      heredoc {} expand={} {}",
            q(&h.name),
            h.expand,
            q(&h.content)
        );
    }
}

fn pairs(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(k, v)| format!("{}={}", q(k), q(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn args(a: &ArgInstruction) -> String {
    a.args
        .iter()
        .map(|d| match &d.default {
            Some(v) => format!("{}={}", q(&d.name), q(v)),
            None => q(&d.name),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn dur(d: &Option<std::time::Duration>) -> String {
    d.map(|d| format!("{d:?}")).unwrap_or_else(|| "-".into())
}

fn mount(m: &RunMount) -> String {
    let mut s = format!("{:?}", m.kind).to_lowercase();
    let mut f = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            let _ = write!(s, " {k}={}", q(v));
        }
    };
    f("target", &m.target);
    f("source", &m.source);
    f("from", &m.from);
    f("id", &m.id);
    f("env", &m.env);
    let _ = write!(s, " ro={}", m.read_only);
    if m.kind == MountType::Cache {
        let _ = write!(s, " sharing={:?}", m.sharing);
    }
    if let Some(v) = m.mode {
        let _ = write!(s, " mode={v:o}");
    }
    if let Some(v) = m.uid {
        let _ = write!(s, " uid={v}");
    }
    if let Some(v) = m.gid {
        let _ = write!(s, " gid={v}");
    }
    if let Some(v) = m.size {
        let _ = write!(s, " size={v}");
    }
    if m.required {
        s.push_str(" required");
    }
    s
}

fn copy(c: &Copy) -> String {
    let mut s = format!("{} -> {}", list(&c.sources), q(&c.dest));
    if c.json_form {
        s.push_str(" json");
    }
    for (k, v) in [
        ("from", &c.from),
        ("chown", &c.chown),
        ("chmod", &c.chmod),
        ("checksum", &c.checksum),
    ] {
        if let Some(v) = v {
            let _ = write!(s, " --{k}={}", q(v));
        }
    }
    if c.link {
        s.push_str(" --link");
    }
    if c.parents {
        s.push_str(" --parents");
    }
    if c.keep_git_dir {
        s.push_str(" --keep-git-dir");
    }
    if let Some(u) = c.unpack {
        let _ = write!(s, " --unpack={u}");
    }
    for e in &c.exclude {
        let _ = write!(s, " --exclude={}", q(e));
    }
    s
}

pub fn kind(k: &InstructionKind, out: &mut String) {
    match k {
        InstructionKind::Run(r) => {
            let _ = write!(out, "RUN {}", form(&r.command));
            if r.network != RunNetwork::Default {
                let _ = write!(out, " network={:?}", r.network);
            }
            if r.security_insecure {
                out.push_str(" security=insecure");
            }
            out.push('\n');
            for m in &r.mounts {
                let _ = writeln!(out, "      mount {}", mount(m));
            }
            heredocs(out, &r.heredocs);
        }
        InstructionKind::Copy(c) => {
            let _ = writeln!(out, "COPY {}", copy(c));
            heredocs(out, &c.heredocs);
        }
        InstructionKind::Add(c) => {
            let _ = writeln!(out, "ADD {}", copy(c));
            heredocs(out, &c.heredocs);
        }
        InstructionKind::Cmd(c) => {
            let _ = writeln!(out, "CMD {}", form(c));
        }
        InstructionKind::Entrypoint(c) => {
            let _ = writeln!(out, "ENTRYPOINT {}", form(c));
        }
        InstructionKind::Env(p) => {
            let _ = writeln!(out, "ENV {}", pairs(p));
        }
        InstructionKind::Label(p) => {
            let _ = writeln!(out, "LABEL {}", pairs(p));
        }
        InstructionKind::Arg(a) => {
            let _ = writeln!(out, "ARG {}", args(a));
        }
        InstructionKind::Maintainer(m) => {
            let _ = writeln!(out, "MAINTAINER {}", q(m));
        }
        InstructionKind::Expose(p) => {
            let _ = writeln!(out, "EXPOSE {}", list(p));
        }
        InstructionKind::Volume(v) => {
            let _ = writeln!(out, "VOLUME {}", list(v));
        }
        InstructionKind::Workdir(w) => {
            let _ = writeln!(out, "WORKDIR {}", q(w));
        }
        InstructionKind::User(u) => {
            let _ = writeln!(out, "USER {}", q(u));
        }
        InstructionKind::Healthcheck(Healthcheck::None) => out.push_str("HEALTHCHECK NONE\n"),
        InstructionKind::Healthcheck(Healthcheck::Check {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        }) => {
            let _ = writeln!(
                out,
                "HEALTHCHECK {} interval={} timeout={} start-period={} start-interval={} retries={}",
                form(test),
                dur(interval),
                dur(timeout),
                dur(start_period),
                dur(start_interval),
                retries.map(|r| r.to_string()).unwrap_or_else(|| "-".into())
            );
        }
        InstructionKind::Onbuild(t) => {
            let _ = writeln!(out, "ONBUILD {}", q(t));
        }
        InstructionKind::Shell(s) => {
            let _ = writeln!(out, "SHELL {}", list(s));
        }
        InstructionKind::StopSignal(s) => {
            let _ = writeln!(out, "STOPSIGNAL {}", q(s));
        }
    }
}

/// The whole file, or its error.
pub fn dump(res: &Result<Dockerfile, Error>) -> String {
    let df = match res {
        Err(e) => return format!("error: {e}\n"),
        Ok(df) => df,
    };
    let mut out = String::new();
    let d = &df.directives;
    let _ = writeln!(
        out,
        "directives escape={} syntax={} check={}",
        q(&d.escape.to_string()),
        qo(&d.syntax),
        qo(&d.check)
    );
    for w in &df.warnings {
        let _ = writeln!(out, "warning line {}: {}", w.line, w.message);
    }
    for a in &df.meta_args {
        let _ = writeln!(out, "meta {}: ARG {}", a.line, args(a));
    }
    for (i, st) in df.stages.iter().enumerate() {
        let _ = writeln!(
            out,
            "stage {i} line {} base={} name={} platform={}",
            st.line,
            q(&st.base),
            qo(&st.name),
            qo(&st.platform)
        );
        let _ = writeln!(out, "  original {}", q(&st.original));
        for ins in &st.instructions {
            let _ = writeln!(out, "  {}-{} {}", ins.line, ins.end_line, q(&ins.original));
            out.push_str("    ");
            kind(&ins.kind, &mut out);
        }
    }
    out
}
