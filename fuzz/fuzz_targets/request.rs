//! Any bytes through the whole `Claim/$submit` path: the request reader and checks, evidence
//! gathering, the policy decisions and the response builder ([`Service::submit_bytes`]).
//! A rejection is a fine answer; a panic, or a rejection that is not a 4xx, is a crash.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Caller, Service, ServiceSettings};

struct Harness {
    runtime: tokio::runtime::Runtime,
    service: Service,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| Harness {
        runtime: tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("no runtime: {e}")),
        service: Service::new(PolicySet::embedded(), ServiceSettings::default()),
    })
}

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    if let Err(rejection) = harness
        .runtime
        .block_on(harness.service.submit_bytes(&Caller::Unauthenticated, data))
    {
        assert!(
            (400..500).contains(&rejection.status),
            "answered {} to a request: {rejection}",
            rejection.status
        );
    }
});
