//! The `allot` binary: parse arguments, run the command, print the error
//! chain on failure.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ALLOT_LOG")
        .unwrap_or_else(|_| "allot=info,warn".into());
    // Lines for a person on a terminal; one JSON object per line, without
    // colour codes, for a file or a log collector (`ALLOT_LOG_FORMAT`
    // chooses: `text` or `json`).
    let json = match std::env::var("ALLOT_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().with_span_list(false).init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let cli = allot::cli::Cli::parse();
    match allot::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", allot::cli::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
