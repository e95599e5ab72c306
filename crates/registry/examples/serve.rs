//! `berth registry` without the rest of Berth: the same entry point the `berth` binary
//! dispatches to, for benchmarks that should not build the whole engine.
//! `cargo run --release -p berth-registry --example serve -- serve --addr ... --storage ...`

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    args[0] = "registry".into();
    std::process::exit(berth_registry::cli_main(&args));
}
