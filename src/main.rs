fn main() -> std::process::ExitCode {
    postdeploy::cli::main()
}
