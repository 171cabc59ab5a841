//! Who may call the adapter (security.md): the clients file, SMART Backend Services (client
//! credentials with a signed JWT assertion, [`Smart::exchange`]), the access tokens the
//! adapter issues and checks ([`Smart::verify`]), and what each route needs ([`routes`]).
//!
//! The HTTP shell (`http::auth`) asks [`routes::requirement`] what a route needs, checks the
//! bearer token here, and hands the handler the authenticated [`Caller`]; the service files a
//! request under [`Caller::submitter`], never under what the request says about itself.

pub mod clients;
pub mod routes;
pub mod scopes;
mod smart;

pub use clients::{Client, Clients, ClientsError, Keys};
pub use smart::{ACCESS_TOKEN_LIFETIME, OAuthError, Smart, TokenForm, TokenGrant, TokenRejection};

/// An authenticated caller, as its access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A calling system from the clients file, with the scopes its token grants.
    Client { id: String, scopes: Vec<String> },
    /// A plan reviewer (the worklist issue issues these tokens, through [`Smart::issue_reviewer`]).
    Reviewer { id: String },
}

/// The store's submitter key of client `id`.
fn client_key(id: &str) -> String {
    format!("client {id}")
}

impl Caller {
    /// The store's submitter key for a client's requests. The prefix (with a space, which no
    /// URI has) keeps it apart from the `Bundle.identifier.system` keys of unauthenticated
    /// servers (`--insecure-no-auth`).
    pub fn submitter(&self) -> Option<String> {
        match self {
            Self::Client { id, .. } => Some(client_key(id)),
            Self::Reviewer { .. } => None,
        }
    }

    /// Who the service files and filters requests under: a client under its store key; a
    /// reviewer (whom the route table never lets reach a PAS operation) under a key no
    /// request is filed under, so it could see nothing.
    pub fn service_caller(&self) -> crate::service::Caller {
        match self {
            Self::Client { id, .. } => crate::service::Caller::Client(client_key(id)),
            Self::Reviewer { id } => crate::service::Caller::Client(format!("reviewer {id}")),
        }
    }

    /// The id recorded in the audit trail.
    pub fn id(&self) -> &str {
        match self {
            Self::Client { id, .. } | Self::Reviewer { id } => id,
        }
    }
}
