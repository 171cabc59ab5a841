//! Settings compiled from the command line and the environment into what the library uses.
//!
//! Parsing is two-stage: `cli` holds the raw flags; this module turns them into the typed
//! settings the service and the HTTP server take, so the library never sees clap.

use crate::cli::{ServeArgs, ServiceArgs};
use crate::http::ServerLimits;
use crate::pas::Limits;
use crate::service::ServiceSettings;

impl From<&ServiceArgs> for ServiceSettings {
    fn from(args: &ServiceArgs) -> Self {
        Self {
            limits: Limits {
                max_body_bytes: args.max_body_bytes,
                max_depth: args.max_depth,
                max_entries: args.max_entries,
            },
            identifier_system: args.identifier_system.clone(),
        }
    }
}

impl From<&ServeArgs> for ServerLimits {
    fn from(args: &ServeArgs) -> Self {
        Self {
            request_timeout: args.request_timeout,
            header_read_timeout: args.header_read_timeout,
            body_read_timeout: args.body_read_timeout,
            max_in_flight: usize::try_from(args.max_in_flight).unwrap_or(usize::MAX),
            max_body_bytes_in_flight: args.max_body_bytes_in_flight,
            retry_after: std::time::Duration::from_secs(args.retry_after),
        }
    }
}
