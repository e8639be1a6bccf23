//! The `edge` binary: see `edge --help`.

/// jemalloc for the whole server (see Cargo.toml): many small
/// allocations per request and per message, from several threads.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`. One background thread returns
/// freed pages to the system about a second after their last use: by
/// default jemalloc waits ten seconds, and only purges when some thread
/// allocates, so an idle server kept the pages of its busiest moment
/// (21.5 MiB after a burst of 1 MiB responses, for good; 14.3 MiB 3 s
/// after it with these). `_RJEM_MALLOC_CONF` in the environment still
/// overrides them.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 88] =
    b"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";

fn main() -> std::process::ExitCode {
    edge::cli::main()
}
