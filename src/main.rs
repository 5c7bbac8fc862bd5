fn main() -> std::process::ExitCode {
    bangban::cli::main()
}
