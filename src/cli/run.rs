//! `bangban run`: the bot as a service — web server, adapters, engine — until SIGINT or SIGTERM.

use crate::config::Config;
use crate::server::{self, Secrets};
use crate::store::Store;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::info;

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

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub fn run(config: Config, args: &Args) -> anyhow::Result<()> {
    init_logs(args.log_format);
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
    let secrets = Secrets::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (is another bangban running?)"))?;
        let listen = listener.local_addr()?;
        eprintln!("{}", server::connect_hint(&config, listen, &secrets));
        server::serve(Arc::new(config), store, secrets, listener, signal()).await
    })
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
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
