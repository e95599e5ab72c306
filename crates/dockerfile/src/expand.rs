//! Variable substitution in the fields BuildKit substitutes (its `Expand`/`ExpandRaw`
//! methods and the dispatcher's own expansions): `ADD`/`COPY` sources, destination,
//! `--chown`, `--chmod`, `--checksum` and here-document bodies whose delimiter was not quoted;
//! `ENV` and `LABEL` keys and values; `EXPOSE` (split into words); `VOLUME`; `WORKDIR`;
//! `USER`; `STOPSIGNAL`; `ARG` names and defaults; `RUN --mount` values. `RUN`, `CMD`,
//! `ENTRYPOINT`, `SHELL`, `HEALTHCHECK`, `ONBUILD` and `MAINTAINER` are left alone (the
//! shell, or a later build, expands them).

use std::collections::HashSet;

use crate::ast::*;
use crate::error::Error;
use crate::lex::ShellLex;
use crate::mount::parse_mount;

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Instruction {
    /// The instruction with its variables substituted from `env` (the stage's current `ARG`
    /// and `ENV` values). Errors name this instruction's line.
    pub fn expand(&self, lex: &ShellLex, env: Env<'_>) -> Result<Instruction, Error> {
        let line = self.line;
        let word = |w: &str| lex.process_word(w, env).map_err(|e| e.at(line));
        let opt = |w: &Option<String>| -> Result<Option<String>, Error> {
            w.as_deref().map(word).transpose()
        };
        let kind = match &self.kind {
            InstructionKind::Env(pairs) => InstructionKind::Env(expand_pairs(pairs, &word)?),
            InstructionKind::Label(pairs) => InstructionKind::Label(expand_pairs(pairs, &word)?),
            InstructionKind::Copy(c) | InstructionKind::Add(c) => {
                if let Some(from) = &c.from {
                    // BuildKit refuses variables in `COPY --from` (stages are resolved before
                    // any ARG is known).
                    let unchanged = lex.process_word(from, &|_| None).ok().as_ref() == Some(from);
                    if !unchanged {
                        return Err(Error::new(line, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"));
                    }
                }
                let mut n = c.clone();
                let heredoc_names: HashSet<&str> =
                    c.heredocs.iter().map(|h| h.name.as_str()).collect();
                n.sources = c
                    .sources
                    .iter()
                    .map(|s| {
                        let is_heredoc = crate::parser::parse_heredoc(s)
                            .ok()
                            .flatten()
                            .is_some_and(|h| heredoc_names.contains(h.name.as_str()));
                        if is_heredoc {
                            Ok(s.clone())
                        } else {
                            word(s)
                        }
                    })
                    .collect::<Result<_, _>>()?;
                n.dest = word(&c.dest)?;
                n.chown = opt(&c.chown)?;
                n.chmod = opt(&c.chmod)?;
                n.checksum = opt(&c.checksum)?;
                // Here-document bodies: variables only, quotes are text (BuildKit's
                // ExpandRaw, always with `\` as the escape).
                let mut raw = ShellLex::new('\\');
                raw.skip_process_quotes = true;
                for h in &mut n.heredocs {
                    if h.expand {
                        h.content = raw.process_word(&h.content, env).map_err(|e| e.at(line))?;
                    }
                }
                match &self.kind {
                    InstructionKind::Add(_) => InstructionKind::Add(n),
                    _ => InstructionKind::Copy(n),
                }
            }
            InstructionKind::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(lex.process_words(p, env).map_err(|e| e.at(line))?);
                }
                InstructionKind::Expose(out)
            }
            InstructionKind::Volume(v) => {
                InstructionKind::Volume(v.iter().map(|s| word(s)).collect::<Result<_, _>>()?)
            }
            InstructionKind::Workdir(p) => InstructionKind::Workdir(word(p)?),
            InstructionKind::User(u) => InstructionKind::User(word(u)?),
            InstructionKind::StopSignal(s) => InstructionKind::StopSignal(word(s)?),
            InstructionKind::Arg(a) => InstructionKind::Arg(a.expand(lex, env)?),
            InstructionKind::Run(r) => {
                let mut n = r.clone();
                let expander = |v: &str| -> Result<String, String> {
                    lex.process_word(v, env).map_err(|e| e.message)
                };
                n.mounts = r
                    .mounts
                    .iter()
                    .map(|m| parse_mount(&m.spec, Some(&expander)))
                    .collect::<Result<_, _>>()
                    .map_err(|m| Error::new(line, m))?;
                InstructionKind::Run(n)
            }
            other @ (InstructionKind::Cmd(_)
            | InstructionKind::Entrypoint(_)
            | InstructionKind::Maintainer(_)
            | InstructionKind::Healthcheck(_)
            | InstructionKind::Onbuild(_)
            | InstructionKind::Shell(_)) => other.clone(),
        };
        Ok(Instruction {
            line: self.line,
            end_line: self.end_line,
            original: self.original.clone(),
            kind,
        })
    }
}

fn expand_pairs(
    pairs: &[(String, String)],
    word: &dyn Fn(&str) -> Result<String, Error>,
) -> Result<Vec<(String, String)>, Error> {
    pairs
        .iter()
        .map(|(k, v)| Ok((word(k)?, word(v)?)))
        .collect()
}

impl ArgInstruction {
    /// Names and defaults with variables substituted (for meta args, `env` holds the
    /// meta args declared before this one and the build args).
    pub fn expand(&self, lex: &ShellLex, env: Env<'_>) -> Result<ArgInstruction, Error> {
        let line = self.line;
        let word = |w: &str| lex.process_word(w, env).map_err(|e| e.at(line));
        let args = self
            .args
            .iter()
            .map(|a| {
                Ok(ArgDecl {
                    name: word(&a.name)?,
                    default: a.default.as_deref().map(word).transpose()?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(ArgInstruction {
            line,
            original: self.original.clone(),
            args,
        })
    }
}

impl Stage {
    /// The base image with meta args substituted; an error when it expands to nothing.
    pub fn expand_base(&self, lex: &ShellLex, meta_env: Env<'_>) -> Result<String, Error> {
        let base = lex
            .process_word(&self.base, meta_env)
            .map_err(|e| e.at(self.line))?;
        if base.is_empty() {
            return Err(Error::new(
                self.line,
                format!("base name ({}) should not be blank", self.base),
            ));
        }
        Ok(base)
    }

    /// `--platform` with meta args substituted (`None` when not given).
    pub fn expand_platform(
        &self,
        lex: &ShellLex,
        meta_env: Env<'_>,
    ) -> Result<Option<String>, Error> {
        let Some(p) = &self.platform else {
            return Ok(None);
        };
        let v = lex.process_word(p, meta_env).map_err(|e| {
            Error::new(
                self.line,
                format!(
                    "failed to process arguments for platform {p}: {}",
                    e.message
                ),
            )
        })?;
        if v.is_empty() {
            return Err(Error::new(
                self.line,
                format!("empty platform value from expression {p}"),
            ));
        }
        Ok(Some(v))
    }
}

impl Copy {
    /// The here-document a source word stands for (`<<EOF` → the document named `EOF`).
    pub fn heredoc_for(&self, source: &str) -> Option<&Heredoc> {
        let h = crate::parser::parse_heredoc(source).ok()??;
        self.heredocs.iter().find(|d| d.name == h.name)
    }
}

impl Dockerfile {
    /// The word expander for this file's escape character.
    pub fn lexer(&self) -> ShellLex {
        ShellLex::new(self.directives.escape)
    }
}
