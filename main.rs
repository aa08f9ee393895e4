//! The `simplechat` binary: `serve` (the default), `migrate`, `openapi`; with the `clients`
//! feature also `bench` and `chat`.

use clap::{Parser, Subcommand};
#[cfg(feature = "clients")]
use simplechat::pkg::{
    bench::{self, BenchArgs},
    chat::{self, ChatArgs},
};
use simplechat::{
    pkg::{
        config::{self, Config, LogFormat},
        routes,
        server::BoundServer,
    },
    platform::database,
};
use tracing_subscriber::EnvFilter;

// A chat server allocates and frees many small buffers on every core (frames, requests, Redis
// replies); glibc's allocator spent a fifth of a reconnect storm's samples on them. mimalloc
// keeps them in per-thread pages. It is built without transparent huge pages (Cargo.toml):
// with them, every fresh page it touched while thousands of sockets opened was zeroed 2 MiB at
// a time (docs/performance.md, change 22).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "simplechat", version, about = "A real-time chat backend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (creates the database and applies migrations first).
    Serve,
    /// Create the database if missing and apply pending migrations, then exit. Forward only: a
    /// migration is never reverted (a release keeps working on the schema of the next one).
    Migrate,
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Load running servers and report throughput, latency and correctness.
    #[cfg(feature = "clients")]
    Bench(Box<BenchArgs>),
    /// Chat from the terminal: log in (registering on first use) and talk to another user.
    #[cfg(feature = "clients")]
    Chat(ChatArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Openapi) => {
            println!("{}", routes::openapi().spec());
            return;
        }
        // The load generator is a client: it needs no server configuration.
        #[cfg(feature = "clients")]
        Some(Command::Bench(args)) => {
            if let Err(err) = bench::run(*args).await {
                eprintln!("error: {err:#}");
                std::process::exit(1);
            }
            return;
        }
        #[cfg(feature = "clients")]
        Some(Command::Chat(args)) => {
            if let Err(err) = chat::run(args).await {
                eprintln!("error: {err:#}");
                std::process::exit(1);
            }
            return;
        }
        _ => {}
    }

    // .env is read here already (Config::from_env reads it too), so LOG_FORMAT may be set there.
    let _ = dotenvy::dotenv();
    let log_format = match config::log_format(std::env::var("LOG_FORMAT").ok().as_deref()) {
        Ok(format) => format,
        Err(err) => {
            eprintln!("error: invalid configuration: {err}");
            std::process::exit(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            // Colours only for a person at a terminal, not for log files and collectors.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_env_filter(filter)
            .init(),
        // One object per line: timestamp, level, target, message and the other fields at the
        // top, the current span's fields (e.g. request_id) under "span".
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init(),
    }

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: invalid configuration: {err}");
            std::process::exit(2);
        }
    };

    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => migrate(&config).await,
        Command::Serve => serve(config).await,
        #[cfg(feature = "clients")]
        Command::Bench(_) | Command::Chat(_) => unreachable!("handled above"),
        Command::Openapi => unreachable!("handled above"),
    };
    if let Err(err) = outcome {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    database::ensure_database_exists(&config.database_url).await?;
    database::run_migrations(&config.database_url).await?;
    tracing::info!("database is up to date (migrations only move forward)");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = BoundServer::bind(config).await?;
    server.run_until(shutdown_signal()).await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (what `docker stop` and orchestrators send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
