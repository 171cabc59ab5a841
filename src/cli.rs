//! Command line: `serve`, `evaluate` and `replay`, every flag also readable from a `PAS_*`
//! environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Da Vinci PAS 2.2.1 prior-authorization adapter.
#[derive(Debug, Parser)]
#[command(name = "pas-adapter", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `pas_adapter=debug`.
    #[arg(long, env = "PAS_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log line format.
    #[arg(long, env = "PAS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub service: ServiceArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of the adjudication service, shared by every command.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "PAS_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Deepest JSON nesting accepted in a request.
    #[arg(long, env = "PAS_MAX_DEPTH", default_value_t = 64, global = true)]
    pub max_depth: usize,

    /// System of the identifiers the adapter assigns to its responses.
    #[arg(long, env = "PAS_IDENTIFIER_SYSTEM", default_value = crate::service::DEFAULT_IDENTIFIER_SYSTEM, global = true)]
    pub identifier_system: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the PAS operations over HTTP.
    Serve(ServeArgs),
    /// Evaluate one request Bundle offline and print the response Bundle (exit 1 when the
    /// request cannot be adjudicated; its OperationOutcome is printed instead).
    Evaluate(EvaluateArgs),
    /// Replay request Bundles (files or folders) and compare the answers with the expected
    /// ones kept beside them (`NAME.expected.json`); exit 1 on any difference.
    Replay(ReplayArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PAS_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// The request Bundle (JSON file), or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    pub input: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Bundle files and folders of bundles (`*.expected.json` files are expectations, not
    /// bundles).
    #[arg(value_name = "PATHS", required = true)]
    pub paths: Vec<PathBuf>,

    /// POST the bundles to this running server (e.g. `http://127.0.0.1:8080`) instead of
    /// evaluating them in process.
    #[arg(long, env = "PAS_SERVER")]
    pub server: Option<String>,

    /// Evaluate every bundle this many times in process (no HTTP, no store) and end with a
    /// timing line: `<count> bundles in <seconds> s: <rate> bundles/s, p50 <x> us, p99 <y> us`.
    #[arg(long, value_name = "N", conflicts_with = "server", value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
