//! BuildKit-style fixtures: `tests/fixtures/NAME/Dockerfile` is parsed and rendered (see
//! `common::dump`) and compared with `tests/fixtures/NAME/expected`. When the directory has an
//! `env` file (`KEY=VALUE` lines), every instruction is also expanded with those values and
//! the result appended after `--- expanded`.
//!
//! `BLESS=1 cargo test -p berth-dockerfile --test fixtures` rewrites the expected files; review
//! the diff before committing it.

mod common;

use berth_dockerfile::*;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

fn expanded(df: &Dockerfile, env: &HashMap<String, String>) -> String {
    let lex = df.lexer();
    let get = |k: &str| env.get(k).cloned();
    let mut out = String::from("--- expanded\n");
    for a in &df.meta_args {
        match a.expand(&lex, &get) {
            Ok(a) => {
                let mut s = String::new();
                common::kind(&InstructionKind::Arg(a), &mut s);
                let _ = write!(out, "meta {s}");
            }
            Err(e) => {
                let _ = writeln!(out, "meta error: {e}");
            }
        }
    }
    for (i, st) in df.stages.iter().enumerate() {
        let base = st.expand_base(&lex, &get).map_err(|e| e.to_string());
        let platform = st.expand_platform(&lex, &get).map_err(|e| e.to_string());
        let _ = writeln!(out, "stage {i} base={base:?} platform={platform:?}");
        for ins in &st.instructions {
            match ins.expand(&lex, &get) {
                Ok(x) => {
                    let _ = write!(out, "  {}: ", x.line);
                    common::kind(&x.kind, &mut out);
                }
                Err(e) => {
                    let _ = writeln!(out, "  {}: error: {e}", ins.line);
                }
            }
        }
    }
    out
}

#[test]
fn fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let bless = std::env::var_os("BLESS").is_some();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").exists())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "fixtures missing under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let res = parse(&text);
        let mut got = common::dump(&res);
        if let (Ok(df), Ok(env)) = (&res, std::fs::read_to_string(dir.join("env"))) {
            let env: HashMap<String, String> = env
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            got.push_str(&expanded(df, &env));
        }
        let exp_path = dir.join("expected");
        if bless {
            std::fs::write(&exp_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&exp_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}:\n--- want\n{want}\n--- got\n{got}",
                dir.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
