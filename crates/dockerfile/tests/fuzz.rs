//! A seeded mutation fuzzer that runs on stable in CI: the fixtures, mutated (bytes flipped,
//! lines spliced from other fixtures, syntax-heavy tokens inserted, cut short), must never make
//! [`parse`] or [`Instruction::expand`] panic, and what parses must obey the invariants below.
//! `FUZZ_ITERS=1000000 cargo test --release -p berth-dockerfile --test fuzz` runs longer;
//! `crates/dockerfile/fuzz` has a `cargo fuzz` target for coverage-guided runs.

use berth_dockerfile::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic, so a failure names its seed and iteration.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    "\\\n",
    "`\n",
    "\\",
    "`",
    "\n",
    "\r\n",
    "\t",
    " ",
    "#",
    "# escape=`\n",
    "# escape=\\\n",
    "# syntax=x\n",
    "<<EOF",
    "<<-EOF",
    "<<'EOF'",
    "EOF\n",
    "\tEOF\n",
    "$",
    "${",
    "}",
    "${A:-${B:+x}}",
    "${A#*/}",
    "${A//x/y}",
    ":-",
    ":?",
    "\"",
    "'",
    "[",
    "]",
    "[\"a\", \"b\"]",
    "[1]",
    ",",
    "=",
    "--",
    "--mount=",
    "type=cache,",
    "type=secret,",
    "target=/x,",
    "from=$X,",
    "mode=0700",
    "size=1g",
    "--from=",
    "--chown=",
    "--link",
    "--exclude=x",
    "--interval=1m",
    "--retries=2",
    "--platform=$P",
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "SHELL ",
    " AS ",
    "\u{feff}",
    "\u{00e9}",
    "\u{00e0}",
    "\u{0085}",
    "\u{00a0}",
    "\u{2028}",
    "\u{1F600}",
    "\0",
];

fn fixtures() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("Dockerfile")).ok())
        .collect();
    out.sort();
    out
}

/// Keeps a string valid UTF-8 after byte-level edits (the parser takes `&str`).
fn lossy(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn mutate(rng: &mut Rng, seeds: &[String], base: &str) -> String {
    let mut s = base.to_string();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 => {
                // flip a byte
                let mut b = s.into_bytes();
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                s = lossy(b);
            }
            1 | 2 => {
                // insert a token at a char boundary
                let t = TOKENS[rng.below(TOKENS.len())];
                let idx = boundary(&s, rng.below(s.len() + 1));
                s.insert_str(idx, t);
            }
            3 => {
                // splice a line from another fixture
                let other = &seeds[rng.below(seeds.len())];
                let lines: Vec<&str> = other.split_inclusive('\n').collect();
                if !lines.is_empty() {
                    let line = lines[rng.below(lines.len())];
                    let mine: Vec<&str> = s.split_inclusive('\n').collect();
                    let at = rng.below(mine.len() + 1);
                    let mut v: Vec<String> = mine.iter().map(|x| x.to_string()).collect();
                    v.insert(at, line.to_string());
                    s = v.concat();
                }
            }
            4 => {
                // delete a range
                if !s.is_empty() {
                    let a = boundary(&s, rng.below(s.len()));
                    let b = boundary(&s, (a + rng.below(16)).min(s.len()));
                    s.replace_range(a..b, "");
                }
            }
            5 => {
                // cut short
                let idx = boundary(&s, rng.below(s.len() + 1));
                s.truncate(idx);
            }
            _ => {
                // duplicate a line
                let mine: Vec<&str> = s.split_inclusive('\n').collect();
                if !mine.is_empty() {
                    let i = rng.below(mine.len());
                    let mut v: Vec<&str> = mine.clone();
                    v.insert(i, mine[i]);
                    s = v.concat();
                }
            }
        }
    }
    s
}

fn boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}

/// What must hold for any input.
fn check(text: &str) {
    let res = parse(text);
    // Deterministic.
    assert_eq!(res, parse(text), "parse is not deterministic");
    let lines = text.split_inclusive('\n').count().max(1);
    let df = match res {
        Err(e) => {
            assert!(
                e.line >= 1 && e.line <= lines,
                "error line {} outside 1..={lines}: {e}",
                e.line
            );
            assert!(e.to_string().starts_with("dockerfile parse error on line "));
            return;
        }
        Ok(df) => df,
    };
    assert!(!df.stages.is_empty() || !df.meta_args.is_empty());
    let lex = df.lexer();
    let env = |k: &str| match k {
        "A" => Some("a/b/c".to_string()),
        "P" => Some("linux/amd64".to_string()),
        _ => None,
    };
    let mut last = 0;
    for st in &df.stages {
        assert!(st.line > last && st.line <= lines);
        last = st.line;
        let _ = st.expand_base(&lex, &env);
        let _ = st.expand_platform(&lex, &env);
        for ins in &st.instructions {
            assert!(ins.line > last, "instructions out of order");
            assert!(ins.line <= ins.end_line && ins.end_line <= lines);
            last = ins.end_line;
            if let Err(e) = ins.expand(&lex, &env) {
                assert_eq!(e.line, ins.line, "expansion error names another line");
            }
            reparse_original(&df, ins);
        }
    }
}

/// An instruction's `original` (its logical line) parses, on its own, to the same
/// instruction — unless it uses here-documents (their bodies are not in `original`) or ends
/// with the escape character (which, alone, would continue the line).
fn reparse_original(df: &Dockerfile, ins: &Instruction) {
    let esc = df.directives.escape;
    let has_heredoc = match &ins.kind {
        InstructionKind::Run(r) => !r.heredocs.is_empty() || ins.end_line > ins.line,
        InstructionKind::Copy(c) | InstructionKind::Add(c) => !c.heredocs.is_empty(),
        InstructionKind::Onbuild(t) => t.contains('\n'),
        _ => false,
    };
    if has_heredoc
        || ins.original.ends_with(esc)
        || ins.original.contains("<<")
        || ins.original.len() >= parser::MAX_LINE_LEN - 1
    {
        return;
    }
    let text = format!("# escape={esc}\nFROM scratch\n{}\n", ins.original);
    let again = parse(&text)
        .unwrap_or_else(|e| panic!("original {:?} does not parse alone: {e}", ins.original));
    let mut got = again.stages[0].instructions[0].kind.clone();
    let mut want = ins.kind.clone();
    match (&mut got, &mut want) {
        (InstructionKind::Arg(a), _) => a.line = ins.line,
        // The trigger keeps the line's trailing blanks (as BuildKit's does); `original` is
        // trimmed.
        (InstructionKind::Onbuild(a), InstructionKind::Onbuild(b)) => {
            *a = a.trim_end().to_string();
            *b = b.trim_end().to_string();
        }
        _ => {}
    }
    assert_eq!(
        got, want,
        "original {:?} re-parses differently",
        ins.original
    );
}

#[test]
fn fixtures_hold_the_invariants() {
    for f in fixtures() {
        check(&f);
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let seeds = fixtures();
    let iters: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_d0c4);
    let mut rng = Rng(seed | 1);
    for i in 0..iters {
        let base = &seeds[rng.below(seeds.len())];
        let text = mutate(&mut rng, &seeds, base);
        let r = std::panic::catch_unwind(|| check(&text));
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("seed {seed} iteration {i}: {msg}\ninput: {text:?}");
        }
    }
}

/// Folds a long logical line into short physical ones with continuations (physical lines
/// are capped at 64 KiB, logical ones at 1 MiB), never right after an escape character.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in line.chars() {
        out.push(c);
        n += 1;
        if n >= 1000 && c != '\\' && c != '\n' {
            out.push_str("\\\n");
            n = 0;
        }
    }
    out
}

/// Hostile shapes stay linear: every case is a logical line of about half a megabyte, so a
/// quadratic pass would take hours; the bound is far above what a linear pass needs even in
/// a debug build on a loaded machine.
#[test]
fn hostile_inputs_stay_fast() {
    let n = 100_000;
    let cases = vec![
        format!("FROM x\nRUN {}\n", "\\\n".repeat(n)),
        format!("FROM x\nRUN echo {}\n", fold(&"a ".repeat(n * 2))),
        format!("FROM x\nENV {}\n", fold(&"a=b ".repeat(n))),
        format!("FROM x\nARG {}\n", fold(&"a=\"b\" ".repeat(n))),
        format!("FROM x\nCOPY {} /d\n", fold(&"<<E ".repeat(n))),
        format!("FROM x\nWORKDIR {}\n", fold(&"${".repeat(n))),
        format!("FROM x\nWORKDIR {}\n", fold(&"$A".repeat(n))),
        format!(
            "FROM x\nUSER {}x{}\n",
            fold(&"${A:-".repeat(n)),
            fold(&"}".repeat(n))
        ),
        format!("FROM x\nRUN [{}]\n", fold(&"[".repeat(n * 4))),
        format!("FROM x\nRUN --mount={} true\n", fold(&"a=b,".repeat(n))),
        format!("FROM x\nRUN {} true\n", fold(&"--network=host ".repeat(n))),
        format!("FROM x\n{}", "# comment\n".repeat(n)),
        format!("FROM x\n{}RUN x\n", fold(&"ONBUILD ".repeat(n))),
        format!(
            "FROM x\nCOPY {} /d\n{}",
            fold(&"<<E ".repeat(n / 10)),
            "E\n".repeat(n / 10)
        ),
        format!(
            "FROM x\nENV A={}\nWORKDIR ${{A//*b/c}}\n",
            fold(&"a".repeat(n * 2))
        ),
        format!("FROM x\nRUN <<E\n{}E\n", "line\n".repeat(n)),
        format!("FROM x\nLABEL a=\"{}\"\n", fold(&"\\\"".repeat(n))),
        format!("FROM x\nEXPOSE {}\n", fold(&"${A//?/x} ".repeat(n / 10))),
    ];
    for text in cases {
        let start = Instant::now();
        check(&text);
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} bytes took {:?}",
            text.len(),
            start.elapsed()
        );
    }
}

#[test]
fn oversized_input_is_refused() {
    let text = format!("FROM x\nRUN {}\n", "a".repeat(parser::MAX_LINE_LEN + 1));
    let e = parse(&text).unwrap_err();
    assert_eq!(e.line, 2);
    let text = "FROM x\n".repeat(parser::MAX_FILE_LEN / 7 + 1);
    assert!(parse(&text).is_err());
}
