//! Routing: one match from (method, path) to the endpoint that answers.

use crate::http::request::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Token,
    Introspect,
    Revoke,
    Metadata,
    Jwks,
    Healthz,
    Readyz,
    Metrics,
    /// `/admin/*` (on the management listener when there is one).
    Admin(Admin),
    /// The path exists but not for this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
    NotFound,
}

/// The admin API's calls; those under `/admin/clients/{id}` read the id from the path
/// (`admin_client`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admin {
    /// `GET /admin/cache/stats`.
    Stats,
    /// `POST /admin/cache/invalidate`.
    Invalidate,
    /// `GET /admin/keys`: the loaded keys and which one signs.
    Keys,
    /// `GET /admin/clients?limit=&after=`: a page of clients; `POST`: register one.
    Clients,
    /// `GET`, `PATCH` or `DELETE /admin/clients/{id}`.
    Client,
    /// `POST /admin/clients/{id}/rotate-secret`.
    RotateSecret,
    /// `POST /admin/clients/{id}/revoke-tokens`.
    RevokeTokens,
    /// `POST /admin/revocations`: revoke one token by its `jti`.
    Revocations,
    /// `GET /admin/openapi.json`.
    OpenApi,
}

/// The listener a request came in on, which decides what it may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// The one listener of a server without `admin_listen`: every route.
    All,
    /// `listen` when `admin_listen` is set: everything but `/metrics` and `/admin/*`.
    Public,
    /// `admin_listen`: `/metrics`, `/admin/*` and the health checks only.
    Management,
}

/// The route of a request on `surface`; a path served only on another listener is
/// `NotFound` here, whatever the method, exactly like a path that does not exist.
pub fn route(method: Method, path: &str, surface: Surface) -> Route {
    let management = path == "/metrics" || path.starts_with("/admin/");
    let health = path == "/healthz" || path == "/readyz";
    let served_here = match surface {
        Surface::All => true,
        Surface::Public => !management,
        Surface::Management => management || health,
    };
    if served_here {
        route_of(method, path)
    } else {
        Route::NotFound
    }
}

/// `/admin/clients/{id}` and `/admin/clients/{id}/{action}`: the id, and the action (empty
/// for the client itself).
pub fn admin_client(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/admin/clients/")?;
    let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
    (!id.is_empty() && !action.contains('/')).then_some((id, action))
}

/// The token endpoint's path; with the issuer, the URL assertions and DPoP proofs name.
pub const TOKEN_PATH: &str = "/oauth/token";

fn route_of(method: Method, path: &str) -> Route {
    let (route, allow) = match path {
        TOKEN_PATH => (Route::Token, "POST"),
        "/oauth/introspect" => (Route::Introspect, "POST"),
        "/oauth/revoke" => (Route::Revoke, "POST"),
        "/.well-known/oauth-authorization-server" => (Route::Metadata, "GET, HEAD"),
        "/.well-known/jwks.json" => (Route::Jwks, "GET, HEAD"),
        "/healthz" => (Route::Healthz, "GET, HEAD"),
        "/readyz" => (Route::Readyz, "GET, HEAD"),
        "/metrics" => (Route::Metrics, "GET, HEAD"),
        "/admin/cache/stats" => (Route::Admin(Admin::Stats), "GET, HEAD"),
        "/admin/cache/invalidate" => (Route::Admin(Admin::Invalidate), "POST"),
        "/admin/keys" => (Route::Admin(Admin::Keys), "GET, HEAD"),
        "/admin/clients" => (Route::Admin(Admin::Clients), "GET, HEAD, POST"),
        "/admin/revocations" => (Route::Admin(Admin::Revocations), "POST"),
        "/admin/openapi.json" => (Route::Admin(Admin::OpenApi), "GET, HEAD"),
        _ => match admin_client(path) {
            Some((_, "")) => (Route::Admin(Admin::Client), "GET, HEAD, PATCH, DELETE"),
            Some((_, "rotate-secret")) => (Route::Admin(Admin::RotateSecret), "POST"),
            Some((_, "revoke-tokens")) => (Route::Admin(Admin::RevokeTokens), "POST"),
            _ => return Route::NotFound,
        },
    };
    let allowed = allow.split(", ").any(|m| m == method.as_str());
    if allowed {
        route
    } else {
        Route::MethodNotAllowed(allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_routes_live_on_one_listener_when_there_are_two() {
        let on = |path, surface| route(Method::Get, path, surface);
        assert_eq!(on("/metrics", Surface::All), Route::Metrics);
        assert_eq!(on("/metrics", Surface::Public), Route::NotFound);
        assert_eq!(on("/metrics", Surface::Management), Route::Metrics);
        assert_eq!(on("/admin/cache/stats", Surface::Public), Route::NotFound);
        assert_eq!(on("/admin/openapi.json", Surface::Public), Route::NotFound);
        assert_eq!(
            on("/.well-known/jwks.json", Surface::Management),
            Route::NotFound
        );
        assert_eq!(on("/healthz", Surface::Management), Route::Healthz);
        assert_eq!(on("/healthz", Surface::Public), Route::Healthz);
        assert_eq!(
            route(Method::Post, "/oauth/token", Surface::Management),
            Route::NotFound
        );
        assert_eq!(
            route(Method::Post, "/metrics", Surface::Public),
            Route::NotFound,
            "no 405 hint"
        );
    }

    #[test]
    fn routes() {
        use Method::{Get, Head, Post};
        for (method, path, expected) in [
            (Post, "/oauth/token", Route::Token),
            (Get, "/oauth/token", Route::MethodNotAllowed("POST")),
            (Post, "/oauth/introspect", Route::Introspect),
            (Post, "/oauth/revoke", Route::Revoke),
            (Get, "/oauth/revoke", Route::MethodNotAllowed("POST")),
            (Head, "/healthz", Route::Healthz),
            (Post, "/healthz", Route::MethodNotAllowed("GET, HEAD")),
            (Get, "/nope", Route::NotFound),
            (Get, "/.well-known/jwks.json", Route::Jwks),
            (Get, "/admin/clients/a", Route::Admin(Admin::Client)),
            (
                Post,
                "/admin/clients/a",
                Route::MethodNotAllowed("GET, HEAD, PATCH, DELETE"),
            ),
            (
                Post,
                "/admin/clients/a/rotate-secret",
                Route::Admin(Admin::RotateSecret),
            ),
            (
                Post,
                "/admin/clients/a/revoke-tokens",
                Route::Admin(Admin::RevokeTokens),
            ),
            (Post, "/admin/clients/a/b/revoke-tokens", Route::NotFound),
            (Post, "/admin/clients//rotate-secret", Route::NotFound),
            (Post, "/admin/clients/a/nope", Route::NotFound),
        ] {
            assert_eq!(
                route(method, path, Surface::All),
                expected,
                "{method:?} {path}"
            );
        }
    }
}
