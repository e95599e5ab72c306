//! The Dockerfile language, as BuildKit's `frontend/dockerfile` parser, `instructions` and
//! `shell` packages define it. Pure: text in, typed instructions out, no I/O.
//!
//! Lifecycle: [`parse`] turns the file into a [`Dockerfile`] (directives, meta `ARG`s and
//! stages of [`Instruction`]s, every one carrying its line). The builder then walks a stage and,
//! for each instruction, calls [`Instruction::expand`] with the stage's current `ARG`/`ENV`
//! values to substitute variables in exactly the fields BuildKit substitutes (`RUN`, `CMD` and
//! `ENTRYPOINT` are left to the shell). [`ShellLex`] is the word expander itself, for the
//! builder's own uses; [`Stage::expand_base`] and [`Stage::expand_platform`] resolve `FROM`
//! with the meta args, [`ArgInstruction::expand`] the meta args themselves.
//!
//! Every error names the line it comes from.
//!
//! Limits against hostile input (each a clean error, never a panic): the file at most
//! [`parser::MAX_FILE_LEN`] bytes, a physical line [`parser::MAX_LINE_LEN`], a logical
//! (continued) line [`parser::MAX_LOGICAL_LINE_LEN`]; `${...}` nesting at most
//! [`lex::MAX_NESTING`] and one expanded word at most [`lex::MAX_EXPANDED_LEN`] bytes. Every
//! pass over the text is linear in its size; pattern substitutions (`${VAR/pat/x}`), which can
//! be quadratic in a variable's value, stop after [`lex::MAX_PATTERN_STEPS`].

pub mod ast;
mod duration;
mod error;
mod expand;
mod flags;
mod instructions;
pub mod lex;
mod mount;
pub mod parser;

pub use ast::*;
pub use error::Error;
pub use lex::ShellLex;

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, Error> {
    let lines = parser::parse_lines(text)?;
    instructions::build(lines)
}
