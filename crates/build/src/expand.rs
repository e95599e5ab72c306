//! The parser's entry points, with their errors as this crate's.

use berth_dockerfile::{Dockerfile, Instruction, ShellLex};

use crate::error::{Error, Result};

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile> {
    berth_dockerfile::parse(text).map_err(|e| Error::Dockerfile(e.to_string()))
}

/// Expands `inst` with the variables `env` knows.
pub fn instruction(
    inst: &Instruction,
    lex: &ShellLex,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Instruction> {
    inst.expand(lex, env)
        .map_err(|e| Error::Dockerfile(e.to_string()))
}

/// Expands one word.
pub fn word(lex: &ShellLex, w: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    lex.process_word(w, env)
        .map_err(|e| Error::Dockerfile(e.to_string()))
}
