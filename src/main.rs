fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    bangban::cli::main()
}

/// sled writes from a pool of short-lived I/O threads, and glibc's malloc gives threads arenas
/// of their own (up to eight per core): under load the bot's memory grew to 130 MiB, mostly
/// idle arenas. Two arenas keep it at about 77 MiB at 2,000 questions/s with no loss of speed
/// (measured with `cargo bench --bench onebot_load`; mimalloc instead was measured at 165 MiB).
/// Set before any thread starts. Other C libraries ignore it.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter; called while the process has one thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
