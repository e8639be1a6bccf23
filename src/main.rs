//! The `edge` binary: see `edge --help`.

/// jemalloc for the whole server (see Cargo.toml): many small
/// allocations per request and per message, from several threads.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    edge::cli::main()
}
