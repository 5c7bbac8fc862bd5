//! The `bangban` command line: `ask`, `check`, `chat`.

mod ask;
mod chat;

use crate::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "bangban",
    version,
    about = "帮办: the help-and-proxy chat-group bot"
)]
struct Cli {
    /// Config directory (catalog, lexicon, matcher tuning, replies).
    #[arg(
        long,
        global = true,
        env = "BANGBAN_CONFIG",
        default_value = "bot-config"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer a question as the bot would in a group.
    Ask(ask::Args),
    /// Validate the config and catalog; exits non-zero with every error found.
    Check,
    /// A terminal sandbox: type as a resident of a village group ("@" first = addressed to the bot).
    Chat,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("config errors in {}:\n{errors}", cli.config.display());
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Ask(args) => ask::run(&config, &args),
        Command::Check => {
            println!(
                "ok: {} items, config {}",
                config.catalog.len(),
                config.dir.display()
            );
            Ok(())
        }
        Command::Chat => chat::run(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
