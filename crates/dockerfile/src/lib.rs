//! The Dockerfile language, as BuildKit's `frontend/dockerfile` parser, `instructions` and
//! `shell` packages define it. Pure: text in, typed instructions out, no I/O.
//!
//! Lifecycle: [`parse`] turns the file into a [`Dockerfile`] (directives, meta `ARG`s and
//! stages of [`Instruction`]s, every one carrying its line). The builder then walks a stage and,
//! for each instruction, calls [`Instruction::expand`] with the stage's current `ARG`/`ENV`
//! values to substitute variables in exactly the fields BuildKit substitutes (`RUN`, `CMD` and
//! `ENTRYPOINT` are left to the shell). [`ShellLex`] is the word expander itself, for the
//! builder's own uses (`FROM` with meta args, `--mount` values, `--from`).
//!
//! Every error names the line it comes from.

pub mod ast;

pub use ast::*;
