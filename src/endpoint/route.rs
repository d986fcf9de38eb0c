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
    AdminStats,
    AdminInvalidate,
    /// `POST /admin/clients/{id}/revoke-tokens`; the handler reads the id from the path.
    AdminRevokeTokens,
    /// `GET /admin/keys`: the loaded keys and which one signs.
    AdminKeys,
    /// `GET /admin/clients?limit=&after=`: a page of clients; `POST`: register one.
    AdminClients,
    /// `GET` or `DELETE /admin/clients/{id}`; the handler reads the id from the path.
    AdminClient,
    /// The path exists but not for this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
    NotFound,
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

/// The client id of `/admin/clients/{id}/revoke-tokens`.
pub fn revoke_tokens_client(path: &str) -> Option<&str> {
    let id = path
        .strip_prefix("/admin/clients/")?
        .strip_suffix("/revoke-tokens")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The client id of `/admin/clients/{id}`.
pub fn admin_client(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/admin/clients/")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
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
        "/admin/cache/stats" => (Route::AdminStats, "GET, HEAD"),
        "/admin/cache/invalidate" => (Route::AdminInvalidate, "POST"),
        "/admin/keys" => (Route::AdminKeys, "GET, HEAD"),
        "/admin/clients" => (Route::AdminClients, "GET, HEAD, POST"),
        _ if revoke_tokens_client(path).is_some() => (Route::AdminRevokeTokens, "POST"),
        _ if admin_client(path).is_some() => (Route::AdminClient, "GET, HEAD, DELETE"),
        _ => return Route::NotFound,
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
        ] {
            assert_eq!(
                route(method, path, Surface::All),
                expected,
                "{method:?} {path}"
            );
        }
    }
}
