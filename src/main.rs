//! The `edge` binary: see `edge --help`.

fn main() -> std::process::ExitCode {
    edge::cli::main()
}
