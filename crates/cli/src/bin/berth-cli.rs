//! The CLI alone, for development against any Engine API (the real binary is `bins/berth`).

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(berth_cli::run(std::env::args_os().collect()));
    std::process::exit(code);
}
