//! The HTTP floor for `scripts/load`: a bare axum server that does only what any `$submit`
//! must do, parse the request body as JSON and write a response, and nothing of ours (no
//! checks, no evidence, no policy, no store, no middleware).
//!
//! `cargo run --release --example floor_server -- ADDR RESPONSE_FILE` serves
//! `POST /Claim/$submit` on ADDR, answering every request that parses with the JSON of
//! RESPONSE_FILE written compactly (the same size as the adapter's compact response to the
//! same request), and 400 to one that does not.
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(response_file)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: floor_server ADDR RESPONSE_FILE");
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
        .with_state(Arc::new(response));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on `{addr}`"))?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn submit(State(response): State<Arc<Bytes>>, body: Bytes) -> Response {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(parsed) => {
            std::hint::black_box(parsed);
            (
                [(header::CONTENT_TYPE, "application/fhir+json; charset=utf-8")],
                Bytes::clone(&response),
            )
                .into_response()
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}
