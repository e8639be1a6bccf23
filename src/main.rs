//! The `edge` binary: see `edge --help`.

/// mimalloc: measured faster per proxied request and smaller per idle
/// connection than the system allocator (benches/proxy.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    edge::cli::main()
}
