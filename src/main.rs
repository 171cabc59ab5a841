//! The `pas-adapter` binary: parse the command line, start tracing, call the library, and map
//! the outcome to an exit code (0 ok, 1 a request or replay that did not pass, 2 an error).

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use pas_adapter::cli::{
    Cli, Command, EvaluateArgs, PolicyCommand, PurgeArgs, ReplayArgs, ServeArgs,
};
use pas_adapter::policy::PolicySet;
use pas_adapter::replay::{self, Row, Summary};
use pas_adapter::service::{Service, ServiceSettings};
use pas_adapter::store::Store;
use pas_adapter::{http, telemetry};

/// Replays with more bundles than this show a progress bar (on a terminal).
const PROGRESS_THRESHOLD: usize = 20;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_tracing(&cli.log, cli.log_format);
    let policies = match &cli.service.profiles {
        Some(dir) => match PolicySet::load_dir(dir) {
            Ok(set) => set,
            Err(error) => {
                eprintln!(
                    "error: cannot load the policies of `{}`: {error}",
                    dir.display()
                );
                return ExitCode::from(2);
            }
        },
        None => PolicySet::embedded(),
    };
    let service = Service::new(policies, ServiceSettings::from(&cli.service));
    let result = match cli.command {
        Command::Serve(args) => serve(service, args).await,
        Command::Evaluate(args) => evaluate(&service, args).await,
        Command::Replay(args) => replay_command(&service, args).await,
        Command::Purge(args) => purge(args).await,
        Command::Policy(command) => policy_command(service, command).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
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
    let service = service.with_store(store.clone());
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on `{}`", args.addr))?;
    let addr = listener.local_addr()?;
    let limits = http::ServerLimits::from(&args);
    let shutdown = shutdown_signal();
    tracing::info!(%addr, "serving PAS");
    // One plain line for scripts and tests that start the server on port 0.
    eprintln!("listening on {addr}");
    http::serve(
        listener,
        http::router_with(service, &limits),
        &limits,
        shutdown,
    )
    .await
    .context("server failed")?;
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
    store.close().await;
    println!(
        "purged {} authorizations ({} stored versions) past {} months of retention",
        report.chains, report.submissions, args.keep_months
    );
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
    let (json, code) = match service.submit_bytes(&body).await {
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
            None => replay::outcome(&service.submit_bytes(&body).await),
            Some(server) => post(&client, server, body).await?,
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
    body: Vec<u8>,
) -> anyhow::Result<Result<Vec<replay::Answer>, String>> {
    let url = format!("{}/Claim/$submit", server.trim_end_matches('/'));
    let response = client
        .post(&url)
        .header("content-type", "application/fhir+json")
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
