//! The HTTP floor for `scripts/load`: a bare axum server that does only what any `$submit`
//! must do, parse the request body as JSON and write a response, and nothing of ours (no
//! checks, no evidence, no policy, no store, no middleware).
//!
//! `cargo run --release --example floor_server -- ADDR RESPONSE_FILE [SQLITE_FILE]` serves
//! `POST /Claim/$submit` on ADDR, answering every request that parses with the JSON of
//! RESPONSE_FILE written compactly (the same size as the adapter's compact response to the
//! same request), and 400 to one that does not.
//!
//! With SQLITE_FILE it is the *durable* floor: every parsed body is also committed to that
//! SQLite file before it is answered, with the adapter store's pragmas (WAL,
//! `synchronous=FULL`) and group commit (one writer task; whatever bodies are queued share one
//! transaction), the body stored as received beside the response. The gap between this floor
//! and the bare one is what durability costs; the gap between it and the adapter is our own.
#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

/// The same allocator as the `pas-adapter` binary, so that the floor is measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(response_file)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: floor_server ADDR RESPONSE_FILE [SQLITE_FILE]");
    };
    let durable = match args.next() {
        Some(path) => Some(Durable::open(&path).await?),
        None => None,
    };
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("`{addr}` is not an address"))?;
    let text =
        std::fs::read(&response_file).with_context(|| format!("cannot read `{response_file}`"))?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("`{response_file}` is not JSON"))?;
    let response = Bytes::from(serde_json::to_vec(&value)?);
    let app = Router::new()
        .route("/Claim/$submit", post(submit))
        .with_state(Arc::new(Floor { response, durable }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on `{addr}`"))?;
    axum::serve(listener, app).await?;
    Ok(())
}

struct Floor {
    response: Bytes,
    durable: Option<Durable>,
}

async fn submit(State(floor): State<Arc<Floor>>, body: Bytes) -> Response {
    let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    std::hint::black_box(parsed);
    if let Some(durable) = &floor.durable
        && durable
            .commit(body, Bytes::clone(&floor.response))
            .await
            .is_err()
    {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/fhir+json; charset=utf-8")],
        Bytes::clone(&floor.response),
    )
        .into_response()
}

/// The durable floor's store: one writer task, group commit, answered after COMMIT.
struct Durable {
    queue: mpsc::Sender<(Bytes, Bytes, oneshot::Sender<bool>)>,
}

impl Durable {
    /// The same batch bound as the adapter's store.
    const MAX_BATCH: usize = 256;

    async fn open(path: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .with_context(|| format!("cannot open `{path}`"))?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, request TEXT NOT NULL, \
             response TEXT NOT NULL)",
        )
        .execute(&mut conn)
        .await?;
        let (queue, mut jobs) = mpsc::channel::<(Bytes, Bytes, oneshot::Sender<bool>)>(1024);
        tokio::spawn(async move {
            while let Some(first) = jobs.recv().await {
                let mut batch = vec![first];
                while batch.len() < Self::MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let committed = Self::write(&mut conn, &batch).await.is_ok();
                for (_, _, reply) in batch {
                    let _ = reply.send(committed);
                }
            }
        });
        Ok(Self { queue })
    }

    async fn write(
        conn: &mut SqliteConnection,
        batch: &[(Bytes, Bytes, oneshot::Sender<bool>)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        for (request, response, _) in batch {
            sqlx::query("INSERT INTO bodies (request, response) VALUES ($1, $2)")
                .bind(String::from_utf8_lossy(request))
                .bind(String::from_utf8_lossy(response))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    async fn commit(&self, request: Bytes, response: Bytes) -> anyhow::Result<()> {
        let (reply, committed) = oneshot::channel();
        self.queue.send((request, response, reply)).await?;
        anyhow::ensure!(committed.await?, "not committed");
        Ok(())
    }
}
