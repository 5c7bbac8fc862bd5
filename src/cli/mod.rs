//! The `bangban` command line: `ask`, `eval`, `check`, `chat`, `run`, `tickets`, `users`,
//! `catalog`, `stats`.

mod ask;
mod catalog;
mod chat;
mod eval;
pub mod logging;
mod run;
mod stats;
mod tickets;
mod users;

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
    /// Measure understanding: cross-validation over the examples, and labelled held-out sets.
    Eval(eval::Args),
    /// Validate the config and catalog; exits non-zero with every error found.
    Check,
    /// A terminal sandbox: type as a resident of a village group ("@" first = addressed to the bot).
    Chat(chat::Args),
    /// Run the bot: web server, chat platforms, engine, until SIGINT/SIGTERM.
    Run(run::Args),
    /// The ledger (帮代办服务台账): list tickets or export them as CSV/XLSX.
    Tickets(tickets::Args),
    /// The item guide in the data directory: export it as TOML files or a spreadsheet.
    Catalog(catalog::Args),
    /// Console users: set a password, issue an API token, list who has what.
    Users(users::Args),
    /// Statistics: the summary of a period and scope, or `--recount` from the tickets.
    Stats(stats::Args),
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
        Command::Eval(args) => eval::run(&config, &args),
        Command::Check => {
            if let Err(problems) = crate::server::check_platforms(&config.service) {
                eprintln!("config errors in {}:\n{problems}", cli.config.display());
                return ExitCode::from(2);
            }
            println!(
                "ok: {} items, {} matters without a guide, config {}",
                config.catalog.len(),
                config.matters.len(),
                config.dir.display()
            );
            Ok(())
        }
        Command::Chat(args) => chat::run(config, &args),
        Command::Run(args) => run::run(config, &args),
        Command::Tickets(args) => tickets::run(&config, &args),
        Command::Users(args) => users::run(&config, &args),
        Command::Catalog(args) => catalog::run(&config, &args),
        Command::Stats(args) => stats::run(&config, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
