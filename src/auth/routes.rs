//! What every route needs, in one place. A route that is not listed here needs a reviewer
//! token: a route added later (review pages, review API, reports) is closed to client tokens
//! until it is declared, never open by omission.

use axum::http::Method;

use super::scopes::{Action, Need};

/// The credential a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Anyone: discovery and health.
    Open,
    /// A client token granting this scope.
    Client(Need),
    /// A reviewer token (review API, reports, the audit trail): a reviewer account's token
    /// (`pas-adapter reviewer add`), as a bearer token.
    Reviewer,
    /// The reviewer web pages: their own sign-in page and session cookie, checked by the page
    /// handlers in every mode (a browser sends no bearer token).
    ReviewerSession,
}

pub const SUBMIT: Need = Need {
    resources: &["Claim"],
    action: Action::Create,
};
pub const INQUIRE: Need = Need {
    resources: &["Claim", "ClaimResponse"],
    action: Action::Read,
};
pub const QUESTIONNAIRE: Need = Need {
    resources: &["Questionnaire"],
    action: Action::Read,
};

/// `Subscription` interactions (the subscriptions issue adds the routes).
pub fn subscription(method: &Method) -> Need {
    let action = match *method {
        Method::POST => Action::Create,
        Method::PUT | Method::PATCH => Action::Update,
        Method::DELETE => Action::Delete,
        _ => Action::Read,
    };
    Need {
        resources: &["Subscription"],
        action,
    }
}

/// The credential the route pattern `route` (axum's matched path) needs for `method`.
pub fn requirement(route: &str, method: &Method) -> Credential {
    match route {
        "/metadata" | "/.well-known/smart-configuration" | "/auth/token" | "/healthz" => {
            Credential::Open
        }
        "/Claim/$submit" => Credential::Client(SUBMIT),
        "/Claim/$inquire" => Credential::Client(INQUIRE),
        "/Questionnaire/{id}" => Credential::Client(QUESTIONNAIRE),
        "/Subscription" | "/Subscription/{id}" | "/Subscription/{id}/$status" => {
            Credential::Client(subscription(method))
        }
        "/review"
        | "/review/sign-in"
        | "/review/sign-out"
        | "/review/case/{id}"
        | "/review/case/{id}/decide" => Credential::ReviewerSession,
        // `/AuditEvent`, and every review, worklist and report route.
        _ => Credential::Reviewer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_routes_need_their_scope_and_the_rest_is_reviewers_only() {
        assert_eq!(requirement("/healthz", &Method::GET), Credential::Open);
        assert_eq!(
            requirement("/Claim/$submit", &Method::POST),
            Credential::Client(SUBMIT)
        );
        assert_eq!(
            requirement("/Subscription/{id}", &Method::DELETE),
            Credential::Client(Need {
                resources: &["Subscription"],
                action: Action::Delete
            })
        );
        for closed in [
            "/AuditEvent",
            "/review/cases",
            "/reports/monthly",
            "/anything",
        ] {
            assert_eq!(
                requirement(closed, &Method::GET),
                Credential::Reviewer,
                "{closed}"
            );
        }
    }
}
