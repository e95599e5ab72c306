//! Any input: `parse` must not panic; what parses must expand without panicking, under both
//! escape characters, with a few variables set.
#![no_main]

use berth_dockerfile::{parse, ShellLex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |k: &str| match k {
        "A" => Some("a/b c".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    for esc in ['\\', '`'] {
        let lex = ShellLex::new(esc);
        let _ = lex.process_words(text, &env);
        let _ = lex.process_word(text, &env);
    }
    let Ok(df) = parse(text) else {
        return;
    };
    let lex = df.lexer();
    for a in &df.meta_args {
        let _ = a.expand(&lex, &env);
    }
    for st in &df.stages {
        let _ = st.expand_base(&lex, &env);
        let _ = st.expand_platform(&lex, &env);
        for ins in &st.instructions {
            let _ = ins.expand(&lex, &env);
        }
    }
});
