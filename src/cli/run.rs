//! `bangban run`: the bot as a service — web server, adapters, engine — until SIGINT or SIGTERM.
//!
//! Logs go to stderr: text (coloured only on a terminal) or one JSON object per line. The
//! start-up hint for the operator goes there too: as text in text mode, as one structured event
//! (field `hint`) in JSON mode, so a JSON log stream holds nothing but JSON.
//!
//! Exit status: 0 after SIGINT/SIGTERM; 2 when an enabled adapter refuses its configuration
//! (as for a broken `bot-config/`: starting again will not help until it is changed); 1 for any
//! other failure.

use crate::config::Config;
use crate::runtime::AdapterFailed;
use crate::server::{self, Secrets};
use crate::store::Store;
use anyhow::Context;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::{error, info};

#[derive(clap::Args)]
pub struct Args {
    /// Data directory (default: `data_dir` in bangban.toml, itself `data` by default).
    #[arg(long, env = "BANGBAN_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on (default: `server.listen` in bangban.toml, 127.0.0.1:8080).
    #[arg(long, env = "BANGBAN_LISTEN")]
    listen: Option<SocketAddr>,
    /// Log lines as text or as JSON objects (one per line). Filter with RUST_LOG, e.g.
    /// `RUST_LOG=bangban=debug,info`.
    #[arg(long, env = "BANGBAN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Exit status when an adapter refuses its configuration, as for config errors at load.
const EXIT_CONFIG: i32 = 2;

pub fn run(config: Config, args: &Args) -> anyhow::Result<()> {
    init_logs(args.log_format);
    let Err(e) = serve_until_stopped(config, args) else {
        return Ok(());
    };
    let refused = e
        .downcast_ref::<AdapterFailed>()
        .is_some_and(|f| f.refused_config)
        || e.is::<server::Refused>()
        || e.is::<server::BadSecret>();
    if !refused && args.log_format == LogFormat::Text {
        // main prints it and exits 1.
        return Err(e);
    }
    // Said once, in the log's own format; everything is shut down and flushed by now.
    match args.log_format {
        LogFormat::Text => eprintln!("error: {e:#}"),
        LogFormat::Json => error!(error = %format!("{e:#}"), "bangban run stopped"),
    }
    std::process::exit(if refused { EXIT_CONFIG } else { 1 });
}

fn serve_until_stopped(config: Config, args: &Args) -> anyhow::Result<()> {
    let mut config = config;
    if let Some(data) = &args.data {
        config.service.data_dir = data.clone();
    }
    if let Some(listen) = args.listen {
        config.service.server.listen = listen;
    }
    let data = config.service.data_dir.clone();
    let listen = config.service.server.listen;
    let store = Store::open(&data)?;
    info!(data = %data.display(), config = %config.dir.display(), "data directory open");
    let secrets = Secrets::from_env(&config.service)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let format = args.log_format;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (is another bangban running?)"))?;
        let config = Arc::new(config);
        // The adapters accept their configuration here, before the hint says the bot started.
        let server = server::start(config.clone(), store, secrets.clone(), listener).await?;
        let hint = server::connect_hint(&config, server.addr(), &secrets);
        match format {
            LogFormat::Text => eprintln!("{hint}"),
            LogFormat::Json => info!(url = %format!("http://{}", server.addr()), %hint, "started"),
        }
        server.run(signal()).await
    })
}

fn init_logs(format: LogFormat) {
    // Third-party frame logging capped below trace; see `logging`.
    let filter = super::logging::filter(std::env::var("RUST_LOG").ok().as_deref());
    // Colour codes only for a person at a terminal: never in a pipe, a file or journald, and
    // not when NO_COLOR is set (https://no-color.org).
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("SIGINT received"),
        () = term => info!("SIGTERM received"),
    }
}
