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
    /// The path exists but not for this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
    NotFound,
}

pub fn route(method: Method, path: &str) -> Route {
    let get = matches!(method, Method::Get | Method::Head);
    let (route, allow) = match path {
        "/oauth/token" => (Route::Token, "POST"),
        "/oauth/introspect" => (Route::Introspect, "POST"),
        "/oauth/revoke" => (Route::Revoke, "POST"),
        "/.well-known/oauth-authorization-server" => (Route::Metadata, "GET, HEAD"),
        "/.well-known/jwks.json" => (Route::Jwks, "GET, HEAD"),
        "/healthz" => (Route::Healthz, "GET, HEAD"),
        "/readyz" => (Route::Readyz, "GET, HEAD"),
        "/metrics" => (Route::Metrics, "GET, HEAD"),
        "/admin/cache/stats" => (Route::AdminStats, "GET, HEAD"),
        "/admin/cache/invalidate" => (Route::AdminInvalidate, "POST"),
        _ => return Route::NotFound,
    };
    let allowed = if allow == "POST" {
        method == Method::Post
    } else {
        get
    };
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
    fn routes() {
        assert_eq!(route(Method::Post, "/oauth/token"), Route::Token);
        assert_eq!(
            route(Method::Get, "/oauth/token"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(route(Method::Post, "/oauth/introspect"), Route::Introspect);
        assert_eq!(route(Method::Post, "/oauth/revoke"), Route::Revoke);
        assert_eq!(
            route(Method::Get, "/oauth/revoke"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(route(Method::Head, "/healthz"), Route::Healthz);
        assert_eq!(
            route(Method::Post, "/healthz"),
            Route::MethodNotAllowed("GET, HEAD")
        );
        assert_eq!(route(Method::Get, "/nope"), Route::NotFound);
        assert_eq!(route(Method::Get, "/.well-known/jwks.json"), Route::Jwks);
    }
}
