//! PAS 2.2.1 request and response: the checks a `Claim/$submit` Bundle must pass
//! ([`check`]), the authorization numbers ([`authz`]), and the response Bundle ([`response`]).

pub mod authz;
pub mod check;
pub mod response;

pub use authz::RequestIdentity;
pub use check::{CheckedRequest, Limits, Rejection, check, check_bytes};
pub use response::{ItemAnswer, ResponseMeta};
