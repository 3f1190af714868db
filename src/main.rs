//! The `allot` binary: parse arguments, run the command, print the error
//! chain on failure.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ALLOT_LOG")
                .unwrap_or_else(|_| "allot=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = allot::cli::Cli::parse();
    match allot::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", allot::cli::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
