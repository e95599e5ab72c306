//! A stand-alone shim binary for this crate's tests (the product binary is `berth`, which
//! dispatches the same way): `berth-shim-test shim <state dir>`, or invoked as `docker-init`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("");
    if argv0 == "docker-init" {
        berth_shim::init::main(args);
    }
    match args.get(1).map(String::as_str) {
        Some("shim") if args.len() == 3 => berth_shim::main(std::path::Path::new(&args[2])),
        Some("init") => berth_shim::init::main(args[1..].to_vec()),
        _ => {
            eprintln!("usage: berth-shim-test shim <state dir> | init -- CMD...");
            std::process::exit(2)
        }
    }
}
