//! Command line: `serve`, `evaluate` and `replay`, every flag also readable from a `PAS_*`
//! environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Da Vinci PAS 2.2.1 prior-authorization adapter.
#[derive(Debug, Parser)]
#[command(name = "pas-adapter", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `pas_adapter=debug`.
    #[arg(long, env = "PAS_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log line format: `human` (one readable line per event) or `json` (one JSON object per
    /// line, for log shippers).
    #[arg(long, env = "PAS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub service: ServiceArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[value(alias = "text")]
    Human,
    Json,
}

/// Settings of the adjudication service, shared by every command.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// Largest request body accepted, in bytes (413 above; `serve` answers a larger declared
    /// `Content-Length` at once, without reading the body).
    #[arg(long, env = "PAS_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Deepest JSON nesting accepted in a request.
    #[arg(long, env = "PAS_MAX_DEPTH", default_value_t = 64, global = true)]
    pub max_depth: usize,

    /// Most `Bundle.entry` accepted in a request (413 above).
    #[arg(long, env = "PAS_MAX_ENTRIES", default_value_t = 1000, global = true)]
    pub max_entries: usize,

    /// Decide with the policy files (`*.toml`) of this folder instead of the ones built into
    /// the binary: a new drug policy deploys as a file. Every file is checked at start-up.
    #[arg(long, env = "PAS_PROFILES", global = true)]
    pub profiles: Option<PathBuf>,

    /// System of the identifiers the adapter assigns to its responses.
    #[arg(long, env = "PAS_IDENTIFIER_SYSTEM", default_value = crate::service::DEFAULT_IDENTIFIER_SYSTEM, global = true)]
    pub identifier_system: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the PAS operations over HTTP.
    Serve(Box<ServeArgs>),
    /// Evaluate one request Bundle offline and print the response Bundle (exit 1 when the
    /// request cannot be adjudicated; its OperationOutcome is printed instead).
    Evaluate(EvaluateArgs),
    /// Remove stored answers past retention: whole authorizations whose authorized period (or,
    /// without one, whose last answer) ended more than `--keep-months` ago.
    Purge(PurgeArgs),
    /// Replay request Bundles (files or folders) and compare the answers with the expected
    /// ones kept beside them (`NAME.expected.json`); exit 1 on any difference.
    Replay(ReplayArgs),
    /// Check policy files and run the policy tests kept as data (`profiles/tests/`).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Manage plan reviewer accounts (the reviewer worklist, its API and the reports).
    Reviewer(ReviewerArgs),
}

/// `pas-adapter reviewer add NAME | list | remove NAME`.
#[derive(Debug, Clone, Args)]
pub struct ReviewerArgs {
    #[command(subcommand)]
    pub action: ReviewerAction,

    /// The store: `sqlite://PATH` or `postgres://...` (as for `serve`).
    #[arg(long, env = "PAS_DB", default_value = crate::store::DEFAULT_URI, global = true)]
    pub db: String,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ReviewerAction {
    /// Create a reviewer and print its token once, alone on the last line of standard output
    /// (only a hash of it is stored).
    Add {
        /// The reviewer's name, as shown in the answer history.
        name: String,
    },
    /// List the reviewers (never their tokens).
    List,
    /// Remove a reviewer; its token stops working at once.
    Remove { name: String },
}

/// review: how long the plan has for a final answer on a pended request.
#[derive(Debug, Clone, Args)]
pub struct ReviewClockArgs {
    /// Hours to a final answer for an expedited request (urgent, emergency or stat).
    #[arg(long, env = "PAS_REVIEW_EXPEDITED_HOURS", value_name = "HOURS", default_value = "72", value_parser = hours)]
    pub review_expedited_hours: Duration,

    /// Hours to a final answer for a standard request (default 7 calendar days).
    #[arg(long, env = "PAS_REVIEW_STANDARD_HOURS", value_name = "HOURS", default_value = "168", value_parser = hours)]
    pub review_standard_hours: Duration,
}

impl From<&ReviewClockArgs> for crate::review::ReviewClock {
    fn from(args: &ReviewClockArgs) -> Self {
        Self {
            expedited: args.review_expedited_hours,
            standard: args.review_standard_hours,
        }
    }
}

/// A positive number of hours, fractions allowed.
fn hours(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of hours"))?;
    match Duration::try_from_secs_f64(value * 3600.0) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!("`{text}` is not a positive number of hours")),
    }
}

/// `pas-adapter policy ...`: what a policy analyst runs before deploying a policy file.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load policy files as the service would and report every problem with its line and
    /// column (exit 1 when any file is invalid).
    Check {
        /// Policy files (`profiles/*.toml`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the policy test cases of a folder (default `profiles/tests`) and report each
    /// difference (exit 1 when any case fails); with `--profiles DIR` the files of that folder
    /// decide instead of the built-in ones.
    Test {
        /// Folder of case files (`*.toml`).
        #[arg(default_value = "profiles/tests")]
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PAS_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    #[command(flatten)]
    pub db: DbArgs,

    /// Longest a request may take once its body is in and it holds an in-flight slot, in
    /// seconds (503 `timeout` with `Retry-After` after). The body upload has its own timeout.
    #[arg(long, env = "PAS_REQUEST_TIMEOUT", value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    pub request_timeout: Duration,

    /// Longest a client may take to send a request's body once its headers are in, in seconds
    /// (408 `timeout` after, connection closed). Bodies are read in full before a request
    /// takes an in-flight slot, so a slow client holds none.
    #[arg(long, env = "PAS_BODY_READ_TIMEOUT", value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub body_read_timeout: Duration,

    /// Longest a client may take to send a request's headers, in seconds (the connection is
    /// closed after); also how long an idle keep-alive connection is kept.
    #[arg(long, env = "PAS_HEADER_READ_TIMEOUT", value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub header_read_timeout: Duration,

    /// Most requests processed at once; more are answered 503 `transient` with `Retry-After`.
    #[arg(long, env = "PAS_MAX_IN_FLIGHT", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Most request body bytes held at once, by bodies being read and by requests in flight:
    /// each counts its `Content-Length` (a chunked body `--max-body-bytes` while it is read)
    /// until answered. A body that does not fit is answered 503 `transient` with
    /// `Retry-After` at once, unread. Raised to `--max-body-bytes` when below it.
    #[arg(long, env = "PAS_MAX_BODY_BYTES_IN_FLIGHT", value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes_in_flight: usize,

    /// `Retry-After` sent with a 503, in whole seconds.
    #[arg(long, env = "PAS_RETRY_AFTER", value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_after: u64,

    /// The clients file (TOML): every calling system, its scopes and public keys. Reloaded on
    /// SIGHUP. Required unless `--insecure-no-auth`.
    #[arg(
        long,
        env = "PAS_CLIENTS",
        value_name = "PATH",
        required_unless_present = "insecure_no_auth"
    )]
    pub clients: Option<PathBuf>,

    /// The base URL callers reach this server at (e.g. `https://pas.plan.example`); client
    /// assertions must name `{public-url}/auth/token` as their `aud`. Default: `http://` and
    /// the listen address.
    #[arg(long, env = "PAS_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Serve without authentication: anyone who can reach the port can submit and read.
    /// For local trials only; logged at start and said in `/metadata`.
    #[arg(long, env = "PAS_INSECURE_NO_AUTH", conflicts_with = "clients")]
    pub insecure_no_auth: bool,

    /// Address of the admin listener (`/metrics`, `/healthz`); keep it on loopback or a
    /// private network.
    #[arg(long, env = "PAS_ADMIN_ADDR", default_value = "127.0.0.1:9090")]
    pub admin_addr: SocketAddr,

    /// The key authorization numbers are derived with (instead of the one generated at first
    /// start and kept in the store). Prefer the environment variable: a flag is visible in the
    /// process list.
    #[arg(
        long,
        env = "PAS_NUMBER_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub number_key: Option<SecretArg>,

    #[command(flatten)]
    pub review_clock: ReviewClockArgs,

    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// review: delivery of Subscription notifications.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// Longest a subscriber may take to answer one notification, in seconds.
    #[arg(long, env = "PAS_NOTIFY_TIMEOUT", value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub notify_timeout: Duration,

    /// First retry delay after a failed notification, in seconds (doubled on each failure).
    #[arg(long, env = "PAS_NOTIFY_FIRST_RETRY", value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    pub notify_first_retry: Duration,

    /// Longest delay between two attempts, in seconds.
    #[arg(long, env = "PAS_NOTIFY_MAX_RETRY", value_name = "SECONDS", default_value = "900", value_parser = seconds)]
    pub notify_max_retry: Duration,

    /// How often the outbox is polled, in seconds.
    #[arg(long, env = "PAS_NOTIFY_POLL", value_name = "SECONDS", default_value = "1", value_parser = seconds)]
    pub notify_poll: Duration,

    /// Hours after an event its notification is abandoned if never acknowledged (at least 24).
    #[arg(long, env = "PAS_NOTIFY_GIVE_UP_HOURS", value_name = "HOURS", default_value = "72", value_parser = clap::value_parser!(u64).range(24..))]
    pub notify_give_up_hours: u64,
}

impl From<&NotifyArgs> for crate::notify::deliver::DeliveryOptions {
    fn from(args: &NotifyArgs) -> Self {
        Self {
            timeout: args.notify_timeout,
            poll: args.notify_poll,
            first_delay: args.notify_first_retry,
            max_delay: args.notify_max_retry,
            give_up_after: Duration::from_secs(args.notify_give_up_hours * 3600),
            ..Self::default()
        }
    }
}

/// A secret given on the command line or in the environment: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretArg(String);

impl SecretArg {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() < 16 {
            return Err("a secret needs at least 16 characters".to_owned());
        }
        Ok(Self(text.to_owned()))
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where requests and answers are stored. `--help` does not print the environment's value
/// and `Debug` shows the URL without its password.
#[derive(Clone, Args)]
pub struct DbArgs {
    /// The store: `sqlite://PATH` (created if missing) or `postgres://USER:PASS@HOST:PORT/DB`
    /// (several instances behind one load balancer).
    #[arg(long, env = "PAS_DB", default_value = crate::store::DEFAULT_URI, hide_env_values = true)]
    pub db: String,
}

impl std::fmt::Debug for DbArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbArgs")
            .field("db", &crate::store::redact(&self.db))
            .finish()
    }
}

#[derive(Debug, Clone, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Months an answer is kept after its authorized period ends (at least 6).
    #[arg(long, env = "PAS_KEEP_MONTHS", default_value_t = crate::store::MIN_RETENTION_MONTHS)]
    pub keep_months: u32,
}

/// A positive number of seconds, fractions allowed (`0.5`).
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
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

    /// Bearer token sent with every request to `--server` (from its `/auth/token`).
    #[arg(long, env = "PAS_TOKEN", requires = "server", hide_env_values = true)]
    pub token: Option<SecretArg>,

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

    #[test]
    fn seconds_take_fractions_and_refuse_zero_and_garbage() {
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("30"), Ok(Duration::from_secs(30)));
        assert!(seconds("0").is_err());
        assert!(seconds("-1").is_err());
        assert!(seconds("soon").is_err());
    }

    #[test]
    fn server_limits_default_as_documented() {
        let cli = Cli::try_parse_from(["pas-adapter", "serve", "--insecure-no-auth"]);
        let Ok(Cli {
            command: Command::Serve(args),
            service,
            log_format,
            ..
        }) = cli
        else {
            panic!("`serve` does not parse: {cli:?}");
        };
        assert_eq!(args.request_timeout, Duration::from_secs(30));
        assert_eq!(args.header_read_timeout, Duration::from_secs(10));
        assert_eq!(args.body_read_timeout, Duration::from_secs(10));
        assert_eq!(args.max_body_bytes_in_flight, 64 * 1024 * 1024);
        assert_eq!((args.max_in_flight, args.retry_after), (128, 1));
        assert_eq!(service.max_entries, 1000);
        assert_eq!(log_format, LogFormat::Human);
        assert_eq!(args.admin_addr.ip().to_string(), "127.0.0.1");
        let clock = crate::review::ReviewClock::from(&args.review_clock);
        assert_eq!(clock, crate::review::ReviewClock::default());
    }

    #[test]
    fn serve_needs_a_clients_file_or_the_insecure_flag() {
        assert!(Cli::try_parse_from(["pas-adapter", "serve"]).is_err());
        assert!(Cli::try_parse_from(["pas-adapter", "serve", "--clients", "c.toml"]).is_ok());
        assert!(
            Cli::try_parse_from([
                "pas-adapter",
                "serve",
                "--clients",
                "c.toml",
                "--insecure-no-auth"
            ])
            .is_err()
        );
    }

    #[test]
    fn debug_output_hides_the_database_password_and_secrets() {
        let cli = Cli::try_parse_from([
            "pas-adapter",
            "serve",
            "--insecure-no-auth",
            "--db",
            "postgres://pas:S3cretPassw0rd@db:5432/pas",
            "--number-key",
            "0123456789abcdef-number-key",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("S3cretPassw0rd"), "{shown}");
        assert!(!shown.contains("number-key\""), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("postgres://pas:***@db:5432/pas"), "{shown}");
    }

    #[test]
    fn review_clocks_are_configurable_in_hours() {
        let cli = Cli::try_parse_from([
            "pas-adapter",
            "serve",
            "--insecure-no-auth",
            "--review-expedited-hours",
            "24",
            "--review-standard-hours",
            "0.5",
        ]);
        let Ok(Cli {
            command: Command::Serve(args),
            ..
        }) = cli
        else {
            panic!("`serve` does not parse: {cli:?}");
        };
        assert_eq!(
            args.review_clock.review_expedited_hours,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(
            args.review_clock.review_standard_hours,
            Duration::from_secs(1800)
        );
        assert!(hours("0").is_err());
    }
}
