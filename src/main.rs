//! The `pas-adapter` binary: parse the command line, start tracing, call the library, and map
//! the outcome to an exit code (0 ok, 1 a request or replay that did not pass, 2 an error).

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use pas_adapter::auth::Smart;
use pas_adapter::cli::{
    Cli, Command, EvaluateArgs, PolicyCommand, PurgeArgs, ReplayArgs, ReviewerAction, ReviewerArgs,
    SecretArg, ServeArgs,
};
use pas_adapter::http::Security;
use pas_adapter::pas::authz::NumberKey;
use pas_adapter::policy::PolicySet;
use pas_adapter::replay::{self, Row, Summary};
use pas_adapter::service::{Caller, Service, ServiceSettings};
use pas_adapter::store::Store;
use pas_adapter::{http, telemetry};

/// mimalloc: faster than glibc's malloc on the many small allocations of JSON trees, and it
/// gives a burst's memory back to the system (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Replays with more bundles than this show a progress bar (on a terminal).
const PROGRESS_THRESHOLD: usize = 20;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log_guard = telemetry::init_tracing(&cli.log, cli.log_format);
    let policies = match &cli.service.profiles {
        Some(dir) => match PolicySet::load_dir(dir) {
            Ok(set) => set,
            Err(error) => {
                telemetry::stderr_line(format_args!(
                    "error: cannot load the policies of `{}`: {error}",
                    dir.display()
                ));
                return ExitCode::from(2);
            }
        },
        None => PolicySet::embedded(),
    };
    let service = Service::new(policies, ServiceSettings::from(&cli.service));
    let result = match cli.command {
        Command::Serve(args) => serve(service, *args).await,
        Command::Evaluate(args) => evaluate(&service, args).await,
        Command::Replay(args) => replay_command(&service, args).await,
        Command::Purge(args) => purge(args).await,
        Command::Reviewer(args) => reviewer(args).await,
        Command::Policy(command) => policy_command(service, command).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            telemetry::stderr_line(format_args!("error: {error:#}"));
            ExitCode::from(2)
        }
    }
}

async fn serve(service: Service, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The store comes first: a server that cannot record what it answers must not start.
    let store = Store::connect(&args.db.db)
        .await
        .context("cannot open the request store")?;
    tracing::info!(backend = ?store.backend(), "request store ready");
    // Deliver Subscription notifications from the outbox (resumes where it stopped).
    pas_adapter::notify::deliver::spawn(store.clone(), (&args.notify).into());
    let mut service = service
        .with_store(store.clone())
        .with_review_clock((&args.review_clock).into());
    if let Some(key) = &args.number_key {
        service = service.with_number_key(NumberKey::new(key.expose().as_bytes()));
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on `{}`", args.addr))?;
    let addr = listener.local_addr()?;
    let security = match &args.clients {
        Some(path) if !args.insecure_no_auth => {
            let public_url = args
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}"));
            let smart = Smart::load(path.clone(), &public_url, store.clone())
                .await
                .context("cannot load the clients")?;
            let smart = Arc::new(smart);
            tracing::info!(
                clients = smart.clients().len(),
                token_endpoint = %smart.token_url(),
                "SMART Backend Services enabled"
            );
            reload_on_hangup(Arc::clone(&smart));
            Security::Smart(smart)
        }
        _ if args.insecure_no_auth => {
            tracing::warn!(
                "authentication is DISABLED (--insecure-no-auth): anyone who can reach this \
                 server can submit and read authorizations; for local trials only"
            );
            Security::Disabled
        }
        _ => anyhow::bail!(
            "`serve` needs a clients file (`--clients PATH` or PAS_CLIENTS), or \
             `--insecure-no-auth` for a local trial"
        ),
    };
    let admin = tokio::net::TcpListener::bind(args.admin_addr)
        .await
        .with_context(|| format!("cannot listen on the admin address `{}`", args.admin_addr))?;
    let admin_addr = admin.local_addr()?;
    let limits = http::ServerLimits::from(&args);
    let shutdown = shutdown_signal();
    let admin_limits = limits.clone();
    // Built (and the metrics recorder installed) before the public address serves anything,
    // so that no request is answered while its metrics would go nowhere.
    let admin_router = http::admin_router(Some(http::ReviewGauges {
        store: store.clone(),
        clock: (&args.review_clock).into(),
    }));
    let admin_server = tokio::spawn(async move {
        http::serve(admin, admin_router, &admin_limits, std::future::pending()).await
    });
    tracing::info!(%addr, %admin_addr, "serving PAS");
    // Plain lines for scripts and tests that start the server on port 0.
    telemetry::stderr_line(format_args!("admin listening on {admin_addr}"));
    telemetry::stderr_line(format_args!("listening on {addr}"));
    http::serve(
        listener,
        http::app(service, &limits, security),
        &limits,
        shutdown,
    )
    .await
    .context("server failed")?;
    admin_server.abort();
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Reads the clients file again on every SIGHUP; a file with an error leaves the clients in
/// force. The handler is installed before the server listens, so a SIGHUP never kills it.
fn reload_on_hangup(smart: Arc<Smart>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; the clients file is read at start only");
            return;
        };
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match smart.reload() {
                    Ok(clients) => tracing::info!(clients, "clients file reloaded"),
                    Err(error) => {
                        tracing::error!(%error, "clients file not reloaded; the previous clients stay")
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = smart;
}

/// review: reviewer accounts. The token of a new reviewer is printed once, alone on the last
/// line of standard output, so that scripts can take it with `tail -n 1`.
async fn reviewer(args: ReviewerArgs) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&args.db)
        .await
        .context("cannot open the request store")?;
    match args.action {
        ReviewerAction::Add { name } => {
            let (reviewer, token) = store
                .add_reviewer(&name)
                .await
                .context("cannot add the reviewer")?;
            println!(
                "reviewer `{}` added; its token (shown only now) follows:",
                reviewer.name
            );
            println!("{token}");
        }
        ReviewerAction::List => {
            for reviewer in store.reviewers().await? {
                println!(
                    "{}\t{}",
                    reviewer.name,
                    reviewer.created_at.format("%Y-%m-%dT%H:%M:%SZ")
                );
            }
        }
        ReviewerAction::Remove { name } => {
            if !store.remove_reviewer(&name).await? {
                eprintln!("error: no reviewer named `{name}`");
                return Ok(ExitCode::from(1));
            }
            println!("reviewer `{name}` removed");
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn policy_command(service: Service, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { files } => {
            let mut ok = true;
            for file in &files {
                match pas_adapter::policy::load::load_file(file) {
                    Ok(policy) => println!(
                        "{}: ok: policy {} revision {} ({})",
                        file.display(),
                        policy.id,
                        policy.revision,
                        policy.title
                    ),
                    Err(error) => {
                        ok = false;
                        println!("{error}");
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        PolicyCommand::Test { dir } => {
            let results = pas_adapter::policy_tests::run_dir(&service, &dir).await?;
            if results.is_empty() {
                anyhow::bail!("no case files (*.toml) in `{}`", dir.display());
            }
            let failed = results.iter().filter(|r| !r.passed()).count();
            for result in &results {
                let verdict = if result.passed() { "ok" } else { "FAILED" };
                println!(
                    "{verdict:6} {}: {}",
                    result.file.display(),
                    result.description
                );
                for failure in &result.failures {
                    println!("       {failure}");
                }
            }
            println!(
                "{} cases: {} passed, {failed} failed",
                results.len(),
                results.len() - failed
            );
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

async fn purge(args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&args.db.db)
        .await
        .context("cannot open the request store")?;
    let today = chrono::Utc::now().date_naive();
    let report = store
        .purge(today, args.keep_months)
        .await
        .context("purge failed")?;
    let audit = store
        .purge_audit(today, args.keep_months)
        .await
        .context("purge of the audit trail failed")?;
    store.close().await;
    println!(
        "purged {} authorizations ({} stored versions) past {} months of retention",
        report.chains, report.submissions, args.keep_months
    );
    println!("purged {audit} audit records past retention");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT). The handlers are installed when this is called,
/// not when the future is first polled: a signal that arrives once the server is listening
/// must start a drain, never kill the process by the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut terminate, mut interrupt) = signals;
            let terminate = async {
                match terminate.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = terminate => {},
                () = interrupt => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    }
}

async fn evaluate(service: &Service, args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let body = read_input(&args.input)?;
    let (json, code) = match service.submit_bytes(&Caller::Unauthenticated, &body).await {
        Ok(submission) => (submission.response, ExitCode::SUCCESS),
        Err(rejection) => (rejection.outcome(), ExitCode::from(1)),
    };
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(code)
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .context("cannot read standard input")?;
        Ok(body)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
    }
}

async fn replay_command(service: &Service, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let files = replay::collect(&args.paths)?;
    if let Some(rounds) = args.repeat {
        return replay_repeat(service, &files, rounds).await;
    }
    let client = reqwest::Client::new();
    let progress =
        (std::io::stderr().is_terminal() && files.len() > PROGRESS_THRESHOLD).then(|| {
            let bar = ProgressBar::new(files.len() as u64);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
                bar.set_style(style);
            }
            bar
        });
    let mut rows: Vec<Row> = Vec::new();
    for file in &files {
        let name = file.display().to_string();
        if let Some(bar) = &progress {
            bar.set_message(name.clone());
        }
        let expected = replay::expected_for(file)?;
        let body = std::fs::read(file).with_context(|| format!("cannot read `{name}`"))?;
        let outcome = match &args.server {
            None => replay::outcome(&service.submit_bytes(&Caller::Unauthenticated, &body).await),
            Some(server) => post(&client, server, args.token.as_ref(), body).await?,
        };
        rows.extend(replay::compare(&name, outcome, expected.as_ref()));
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let summary = Summary::of(files.len(), &rows);
    println!("{}", replay::render(&rows));
    println!("{summary}");
    Ok(if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `replay --repeat N`: the comparison table from the first round, the summary, and last the
/// timing line of all `N` rounds.
async fn replay_repeat(
    service: &Service,
    files: &[std::path::PathBuf],
    rounds: u32,
) -> anyhow::Result<ExitCode> {
    let mut bodies = Vec::with_capacity(files.len());
    let mut expectations = Vec::with_capacity(files.len());
    for file in files {
        bodies.push(
            std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?,
        );
        expectations.push(replay::expected_for(file)?);
    }
    let (timing, first) = replay::repeat(service, &bodies, rounds).await;
    let mut rows: Vec<Row> = Vec::new();
    for ((file, result), expected) in files.iter().zip(&first).zip(&expectations) {
        let name = file.display().to_string();
        rows.extend(replay::compare(
            &name,
            replay::outcome(result),
            expected.as_ref(),
        ));
    }
    let summary = Summary::of(files.len(), &rows);
    println!("{}", replay::render(&rows));
    println!("{summary}");
    println!("{timing}");
    Ok(if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// POSTs one bundle to `server`; an HTTP error answer is a rejection row, a transport error
/// stops the replay.
async fn post(
    client: &reqwest::Client,
    server: &str,
    token: Option<&SecretArg>,
    body: Vec<u8>,
) -> anyhow::Result<Result<Vec<replay::Answer>, String>> {
    let url = format!("{}/Claim/$submit", server.trim_end_matches('/'));
    let mut request = client
        .post(&url)
        .header("content-type", "application/fhir+json");
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    let response = request
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach `{url}`"))?;
    let status = response.status();
    let json: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("`{url}` did not answer JSON"))?;
    if status.is_success() {
        Ok(Ok(replay::answers(&json)))
    } else {
        let diagnostics = json["issue"][0]["diagnostics"].as_str().unwrap_or("");
        Ok(Err(format!("rejected {}: {diagnostics}", status.as_u16())))
    }
}
