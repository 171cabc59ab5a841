//! PAS 2.2.1 request and response: the checks a `Claim/$submit` Bundle must pass
//! ([`check`]) and the typed request they produce ([`request`]), the authorization numbers
//! ([`authz`]), and the response Bundle ([`response`]).

pub mod authz;
pub mod check;
mod claim_values;
pub mod request;
pub mod response;

pub use check::{Limits, Rejection, check, check_bytes};
pub use request::{CheckedRequest, Prior, RequestIdentity, RequestedItem};
pub use response::{ItemAnswer, ResponseMeta, Verdict};
