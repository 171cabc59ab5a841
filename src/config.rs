//! Settings compiled from the command line and the environment into what the library uses.
//!
//! Parsing is two-stage: `cli` holds the raw flags; this module turns them into the typed
//! settings the service and the HTTP server take, so the library never sees clap.

use crate::cli::ServiceArgs;
use crate::pas::Limits;
use crate::service::ServiceSettings;

impl From<&ServiceArgs> for ServiceSettings {
    fn from(args: &ServiceArgs) -> Self {
        Self {
            limits: Limits {
                max_body_bytes: args.max_body_bytes,
                max_depth: args.max_depth,
            },
            identifier_system: args.identifier_system.clone(),
        }
    }
}
