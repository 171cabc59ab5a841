//! Delivers the outbox: a background task that claims due notifications and POSTs each to its
//! endpoint in a task of its own (with a timeout), so that a receiver that is down, slow or
//! failing delays only its own notifications, never other subscribers or `$submit`.
//! Failures are retried with exponential backoff until `give_up_after` has passed since the
//! event (at least 24 hours); the rows outlive a restart, and a lease hands a delivery that
//! was in flight when a process died to the next worker.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::{NotificationType, SubscriptionSpec, notification};
use crate::store::Store;
use crate::store::outbox::PendingNotification;

/// How notifications are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Longest a receiver may take to answer one POST.
    pub timeout: Duration,
    /// How often the outbox is polled when nothing is due.
    pub poll: Duration,
    /// The first retry delay; each failure doubles it, up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// After this long since the event a failing notification is abandoned (at least 24 h).
    pub give_up_after: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(15 * 60),
            give_up_after: Duration::from_secs(72 * 3600),
            concurrency: 16,
        }
    }
}

impl DeliveryOptions {
    /// The delay before attempt `attempts + 1`, after `attempts` failures (at least one).
    pub fn backoff(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first_delay
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max_delay)
    }
}

/// The HTTP client for subscribers: no redirects, a timeout per request.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

fn header_map(lines: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            )
        {
            headers.insert(name, value);
        }
    }
    headers
}

/// POSTs a Bundle; `Err` says why it was not acknowledged (no 2xx).
async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    headers: &[String],
    body: String,
) -> Result<(), String> {
    match client
        .post(endpoint)
        .headers(header_map(headers))
        .body(body)
        .send()
        .await
    {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the endpoint answered {}", response.status())),
        Err(error) if error.is_timeout() => Err("the endpoint did not answer in time".into()),
        Err(error) if error.is_connect() => Err("the endpoint could not be reached".into()),
        Err(_) => Err("the notification could not be sent".into()),
    }
}

/// The handshake of a new subscription: `Ok` when the endpoint acknowledged it.
pub async fn handshake(
    client: &reqwest::Client,
    id: &str,
    spec: &SubscriptionSpec,
) -> Result<(), String> {
    let bundle: Value = notification(id, NotificationType::Handshake, None, 0);
    post(client, &spec.endpoint, &spec.headers, bundle.to_string()).await
}

/// Starts the delivery task.
pub fn spawn(store: Store, options: DeliveryOptions) -> JoinHandle<()> {
    tokio::spawn(run(store, options))
}

async fn run(store: Store, options: DeliveryOptions) {
    let client = client(options.timeout);
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    // A lease outlasts the longest attempt (connect and answer), so a row is never sent twice
    // at once; a row leased by a process that died is taken again when it runs out.
    let lease = options.timeout * 2 + Duration::from_secs(5);
    loop {
        let free = slots.available_permits();
        if free == 0 {
            tokio::time::sleep(options.poll).await;
            continue;
        }
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let due = match store
            .claim_notifications(now, until, i64::try_from(free).unwrap_or(1))
            .await
        {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "cannot read the notification outbox");
                tokio::time::sleep(options.poll).await;
                continue;
            }
        };
        if due.is_empty() {
            tokio::time::sleep(options.poll).await;
            continue;
        }
        for pending in due {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let store = store.clone();
            let client = client.clone();
            tokio::spawn(async move {
                deliver(&store, &client, &options, pending).await;
                drop(permit);
            });
        }
    }
}

async fn deliver(
    store: &Store,
    client: &reqwest::Client,
    options: &DeliveryOptions,
    pending: PendingNotification,
) {
    let outcome = post(
        client,
        &pending.endpoint,
        &pending.headers,
        pending.payload.clone(),
    )
    .await;
    let now = Utc::now();
    let recorded = match outcome {
        Ok(()) => {
            metrics::counter!("pas_notifications_total", "outcome" => "delivered").increment(1);
            store.notification_delivered(&pending, now).await
        }
        Err(error) => {
            let next = now
                + chrono::Duration::from_std(options.backoff(pending.attempts + 1))
                    .unwrap_or(chrono::Duration::MAX);
            let deadline = pending.created_at
                + chrono::Duration::from_std(options.give_up_after)
                    .unwrap_or(chrono::Duration::MAX);
            let retry_at = (next <= deadline).then_some(next);
            let outcome = if retry_at.is_some() {
                "retry"
            } else {
                "abandoned"
            };
            metrics::counter!("pas_notifications_total", "outcome" => outcome).increment(1);
            tracing::info!(
                subscription = %pending.subscription_id,
                event = pending.event_number,
                attempts = pending.attempts + 1,
                %error,
                "notification not acknowledged"
            );
            store.notification_failed(&pending, &error, retry_at).await
        }
    };
    if let Err(error) = recorded {
        // The lease runs out and the notification is taken again.
        tracing::warn!(%error, "cannot record a delivery attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options = DeliveryOptions::default();
        assert_eq!(options.backoff(1), Duration::from_secs(5));
        assert_eq!(options.backoff(2), Duration::from_secs(10));
        assert_eq!(options.backoff(5), Duration::from_secs(80));
        assert_eq!(options.backoff(40), Duration::from_secs(900));
        // 24 hours of retries fit before the default give-up time.
        assert!(options.give_up_after >= Duration::from_secs(24 * 3600));
    }
}
