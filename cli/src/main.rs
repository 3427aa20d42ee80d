//! `orderflow`: the library's `run` on this process's arguments and terminal. Exit 0 on
//! success, 2 on bad usage, 1 on any other failure (its message says what to do).

use std::io::Write;
use std::process::ExitCode;

use orderflow_cli::{CliError, Terminal, chain, run_with};

#[tokio::main]
async fn main() -> ExitCode {
    let mut stdout = std::io::stdout();
    match run_with(std::env::args_os(), &mut stdout, Terminal::detect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut stderr = std::io::stderr().lock();
            // clap formats its own messages (usage line, hint); everything else gets the chain.
            let message = match &error {
                CliError::Usage(usage) => usage.render().to_string(),
                other => format!("error: {}\n", chain(other)),
            };
            // Nothing better to do if stderr is gone.
            let _ignored = stderr.write_all(message.as_bytes());
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(1))
        }
    }
}
