//! From [`Node`]s to typed instructions (BuildKit's `frontend/dockerfile/instructions`):
//! argument counts, flags, and the per-instruction checks, with BuildKit's messages.

use std::collections::HashMap;
use std::time::Duration;

use crate::ast::*;
use crate::duration::parse_go_duration;
use crate::error::Error;
use crate::flags::{parse_flags, with_suggestion, FlagType, FlagValues};
use crate::mount::{parse_mount, parse_mount_partial};
use crate::parser::{chomp_heredoc, parse_heredoc, Node, ParsedLines, RawHeredoc};

const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// One typed line: a stage start, or an instruction.
enum Parsed {
    From(Stage),
    Instruction(Instruction),
}

pub(crate) fn build(parsed: ParsedLines) -> Result<Dockerfile, Error> {
    let mut df = Dockerfile {
        directives: parsed.directives,
        meta_args: Vec::new(),
        stages: Vec::new(),
        warnings: parsed.warnings,
    };
    for node in &parsed.nodes {
        let line = node.start_line;
        match convert(node).map_err(|m| Error::new(line, m))? {
            Parsed::From(stage) => df.stages.push(stage),
            Parsed::Instruction(ins) => match df.stages.last_mut() {
                Some(stage) => stage.instructions.push(ins),
                None => match ins.kind {
                    InstructionKind::Arg(arg) => df.meta_args.push(arg),
                    _ => return Err(Error::new(line, "no build stage in current context")),
                },
            },
        }
    }
    Ok(df)
}

fn err_at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}
fn err_exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

/// Joins the shell form's words (BuildKit's `handleJSONArgs`).
fn command_form(node: &Node, args: &[String]) -> CommandForm {
    if node.json {
        CommandForm::Exec(args.to_vec())
    } else {
        CommandForm::Shell(args.join(" "))
    }
}

fn no_flags(node: &Node) -> Result<FlagValues, String> {
    parse_flags(&node.flags, &[])
}

fn convert(node: &Node) -> Result<Parsed, String> {
    let cmd = node.cmd.to_ascii_lowercase();
    let args = &node.args;
    let kind = match cmd.as_str() {
        "from" => return parse_from(node).map(Parsed::From),
        "env" | "label" => {
            no_flags(node)?;
            let name = cmd.to_ascii_uppercase();
            if args.is_empty() {
                return Err(err_at_least_one(&name));
            }
            if !args.len().is_multiple_of(3) {
                return Err(format!("Bad input to {name}, too many arguments"));
            }
            let mut pairs = Vec::new();
            for kv in args.chunks(3) {
                if kv[0].is_empty() {
                    return Err(format!("{name} names can not be blank"));
                }
                pairs.push((kv[0].clone(), kv[1].clone()));
            }
            if cmd == "env" {
                InstructionKind::Env(pairs)
            } else {
                InstructionKind::Label(pairs)
            }
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(err_exactly_one("MAINTAINER"));
            }
            no_flags(node)?;
            InstructionKind::Maintainer(args[0].clone())
        }
        "add" | "copy" => parse_copy(node, cmd == "add")?,
        "onbuild" => {
            if args.is_empty() {
                return Err(err_at_least_one("ONBUILD"));
            }
            no_flags(node)?;
            let trigger = args[0].trim().to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            // The trigger must itself be a valid instruction.
            if let Some(sub) = &node.sub {
                convert(sub)?;
            }
            let mut expr = strip_onbuild(&node.original).to_string();
            for doc in &node.heredocs {
                expr.push('\n');
                expr.push_str(&doc.content);
                expr.push_str(&doc.name);
            }
            InstructionKind::Onbuild(expr)
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(err_exactly_one("WORKDIR"));
            }
            no_flags(node)?;
            InstructionKind::Workdir(args[0].clone())
        }
        "run" => parse_run(node)?,
        "cmd" => {
            no_flags(node)?;
            InstructionKind::Cmd(command_form(node, args))
        }
        "entrypoint" => {
            no_flags(node)?;
            InstructionKind::Entrypoint(command_form(node, args))
        }
        "healthcheck" => parse_healthcheck(node)?,
        "expose" => {
            if args.is_empty() {
                return Err(err_at_least_one("EXPOSE"));
            }
            no_flags(node)?;
            let mut ports = args.clone();
            ports.sort();
            InstructionKind::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(err_exactly_one("USER"));
            }
            no_flags(node)?;
            InstructionKind::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(err_at_least_one("VOLUME"));
            }
            no_flags(node)?;
            let mut vols = Vec::new();
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_string());
            }
            InstructionKind::Volume(vols)
        }
        "stopsignal" => {
            if args.len() != 1 {
                return Err(err_exactly_one("STOPSIGNAL"));
            }
            InstructionKind::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(err_at_least_one("ARG"));
            }
            let mut decls = Vec::new();
            for a in args {
                match a.split_once('=') {
                    Some((k, v)) => {
                        if k.is_empty() {
                            return Err("ARG names can not be blank".into());
                        }
                        decls.push(ArgDecl {
                            name: k.to_string(),
                            default: Some(v.to_string()),
                        });
                    }
                    None => decls.push(ArgDecl {
                        name: a.clone(),
                        default: None,
                    }),
                }
            }
            InstructionKind::Arg(ArgInstruction {
                line: node.start_line,
                original: node.original.trim().to_string(),
                args: decls,
            })
        }
        "shell" => {
            no_flags(node)?;
            if args.is_empty() {
                return Err(err_at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            InstructionKind::Shell(args.clone())
        }
        _ => {
            return Err(with_suggestion(
                format!("unknown instruction: {}", node.cmd),
                &node.cmd,
                INSTRUCTIONS,
                false,
            ))
        }
    };
    Ok(Parsed::Instruction(Instruction {
        line: node.start_line,
        end_line: node.end_line,
        original: node.original.trim().to_string(),
        kind,
    }))
}

/// `(?i)^\s*ONBUILD\s*` removed.
fn strip_onbuild(original: &str) -> &str {
    let s = original.trim_start();
    match s.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("onbuild") => s[7..].trim_start(),
        _ => original,
    }
}

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

fn parse_from(node: &Node) -> Result<Stage, String> {
    let args = &node.args;
    let name = match args.len() {
        3 if args[1].eq_ignore_ascii_case("as") => {
            let n = args[2].to_lowercase();
            if !is_valid_stage_name(&n) {
                return Err(format!(
                    "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                    args[2]
                ));
            }
            Some(n)
        }
        1 => None,
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let flags = parse_flags(&node.flags, &[("platform", FlagType::String)])?;
    Ok(Stage {
        name,
        base: args[0].clone(),
        platform: flags.string("platform").filter(|p| !p.is_empty()),
        line: node.start_line,
        original: node.original.trim().to_string(),
        instructions: Vec::new(),
    })
}

fn heredoc_content(doc: &RawHeredoc) -> String {
    if doc.chomp {
        chomp_heredoc(&doc.content)
    } else {
        doc.content.clone()
    }
}

fn to_heredoc(doc: &RawHeredoc) -> Heredoc {
    Heredoc {
        name: doc.name.clone(),
        content: heredoc_content(doc),
        expand: doc.expand,
    }
}

fn parse_copy(node: &Node, is_add: bool) -> Result<InstructionKind, String> {
    let name = if is_add { "ADD" } else { "COPY" };
    let args = &node.args;
    if args.len() < 2 {
        return Err(format!("{name} requires at least two arguments, but only one was provided. Destination could not be determined"));
    }
    let defs: &[(&str, FlagType)] = if is_add {
        &[
            ("chown", FlagType::String),
            ("chmod", FlagType::String),
            ("link", FlagType::Bool),
            ("keep-git-dir", FlagType::Bool),
            ("checksum", FlagType::String),
            ("unpack", FlagType::Bool),
            ("exclude", FlagType::Strings),
        ]
    } else {
        &[
            ("chown", FlagType::String),
            ("from", FlagType::String),
            ("chmod", FlagType::String),
            ("link", FlagType::Bool),
            ("exclude", FlagType::Strings),
            ("parents", FlagType::Bool),
        ]
    };
    let flags = parse_flags(&node.flags, defs)?;
    let (dest, sources) = args.split_last().expect("len >= 2");
    if parse_heredoc(dest)?.is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    // By name; a later document of the same name wins, as in BuildKit's lookup map.
    let by_name: HashMap<&str, &RawHeredoc> =
        node.heredocs.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut heredocs = Vec::new();
    for src in sources {
        if let Some(h) = parse_heredoc(src)? {
            let content = by_name
                .get(h.name.as_str())
                .map(|d| d.content.clone())
                .unwrap_or_default();
            let content = if h.chomp {
                chomp_heredoc(&content)
            } else {
                content
            };
            heredocs.push(Heredoc {
                name: h.name,
                content,
                expand: h.expand,
            });
        }
    }
    let non_empty = |s: Option<String>| s.filter(|v| !v.is_empty());
    let copy = Copy {
        sources: sources.to_vec(),
        heredocs,
        dest: dest.clone(),
        json_form: node.json,
        from: non_empty(flags.string("from")),
        chown: non_empty(flags.string("chown")),
        chmod: non_empty(flags.string("chmod")),
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        exclude: flags.strings("exclude"),
        checksum: non_empty(flags.string("checksum")),
        keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
        unpack: flags.bool("unpack"),
    };
    Ok(if is_add {
        InstructionKind::Add(copy)
    } else {
        InstructionKind::Copy(copy)
    })
}

fn parse_run(node: &Node) -> Result<InstructionKind, String> {
    let flags = parse_flags(
        &node.flags,
        &[
            ("mount", FlagType::Strings),
            ("network", FlagType::String),
            ("security", FlagType::String),
        ],
    )?;
    let mut mounts = Vec::new();
    for spec in flags.strings("mount") {
        // Values may hold variables that only the builder knows; check what can be
        // checked now, and let `expand` parse again with the values.
        if spec.contains('$') {
            mounts.push(parse_mount_partial(&spec)?);
        } else {
            let identity = |v: &str| -> Result<String, String> { Ok(v.to_string()) };
            mounts.push(parse_mount(&spec, Some(&identity))?);
        }
    }
    let network = match flags.string("network").as_deref().unwrap_or("default") {
        "default" => RunNetwork::Default,
        "none" => RunNetwork::None,
        "host" => RunNetwork::Host,
        other => return Err(format!("invalid network mode {other:?}")),
    };
    let security_insecure = match flags.string("security").as_deref().unwrap_or("sandbox") {
        "sandbox" => false,
        "insecure" => true,
        other => return Err(format!("security {other:?} is not valid")),
    };
    let (command, heredocs) = if node.heredocs.is_empty() {
        (command_form(node, &node.args), Vec::new())
    } else {
        if node.json || node.args.len() != 1 {
            return Err(format!(
                "parsing produced an invalid run command: {:?}",
                node.args
            ));
        }
        match parse_heredoc(&node.args[0])? {
            // `RUN <<EOF` alone: the document is the script.
            Some(_) => (
                CommandForm::Shell(heredoc_content(&node.heredocs[0])),
                Vec::new(),
            ),
            None => (
                CommandForm::Shell(node.args[0].clone()),
                node.heredocs.iter().map(to_heredoc).collect(),
            ),
        }
    };
    Ok(InstructionKind::Run(Run {
        command,
        heredocs,
        mounts,
        network,
        security_insecure,
    }))
}

fn parse_interval(flags: &FlagValues, name: &str) -> Result<Option<Duration>, String> {
    let Some(s) = flags.string(name).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let ns = parse_go_duration(&s)?;
    if ns == 0 {
        return Ok(None);
    }
    if ns < 1_000_000 {
        return Err(format!("Interval {name:?} cannot be less than 1ms"));
    }
    Ok(Some(Duration::from_nanos(ns as u64)))
}

fn parse_healthcheck(node: &Node) -> Result<InstructionKind, String> {
    let args = &node.args;
    if args.is_empty() {
        return Err(err_at_least_one("HEALTHCHECK"));
    }
    let typ = args[0].to_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(InstructionKind::Healthcheck(Healthcheck::None));
    }
    let flags = parse_flags(
        &node.flags,
        &[
            ("interval", FlagType::String),
            ("timeout", FlagType::String),
            ("start-period", FlagType::String),
            ("start-interval", FlagType::String),
            ("retries", FlagType::String),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    if rest.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let test = command_form(node, rest);
    let interval = parse_interval(&flags, "interval")?;
    let timeout = parse_interval(&flags, "timeout")?;
    let start_period = parse_interval(&flags, "start-period")?;
    let start_interval = parse_interval(&flags, "start-interval")?;
    let retries = match flags.string("retries").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let n: i32 = s
                .parse()
                .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            Some(n as u32).filter(|&n| n != 0)
        }
    };
    Ok(InstructionKind::Healthcheck(Healthcheck::Check {
        test,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    }))
}
