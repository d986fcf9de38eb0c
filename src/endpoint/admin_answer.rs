//! The admin API's answers that are not a success: one error shape,
//! `{"error": <stable code>, "error_description": ..}`, and the one mapping from a store
//! error to its status and code.

use serde::de::DeserializeOwned;

use crate::endpoint::route;
use crate::http::request::Request;
use crate::http::response;
use crate::store::clients::{self, AdminError};

pub fn error(out: &mut Vec<u8>, keep_alive: bool, status: u16, code: &str, description: &str) {
    let body = serde_json::json!({ "error": code, "error_description": description }).to_string();
    let retry: &[(&str, &str)] = if status == 503 {
        &[("Retry-After", "1")]
    } else {
        &[]
    };
    response::write_json(out, status, body.as_bytes(), keep_alive, retry);
}

/// 405 with the methods the path takes.
pub fn method_not_allowed(out: &mut Vec<u8>, keep_alive: bool, allow: &str) {
    let body = serde_json::json!({
        "error": "method_not_allowed",
        "error_description": format!("this path takes {allow}"),
    })
    .to_string();
    response::write_json(out, 405, body.as_bytes(), keep_alive, &[("Allow", allow)]);
}

pub fn bad_request(out: &mut Vec<u8>, keep_alive: bool, description: &str) {
    error(out, keep_alive, 400, "invalid_request", description);
}

/// 503: the database did not answer, so nothing was changed.
pub fn unavailable(out: &mut Vec<u8>, keep_alive: bool) {
    let description = "the database is unreachable; nothing was changed";
    error(out, keep_alive, 503, "temporarily_unavailable", description);
}

/// A store error's answer: 400 for what fails validation, 404 for an unknown client, 409
/// for a taken id, 503 when the database did not answer.
pub fn refused(e: &AdminError, out: &mut Vec<u8>, keep_alive: bool) {
    match e {
        AdminError::Invalid(why) => bad_request(out, keep_alive, why),
        AdminError::NotFound(_) => error(out, keep_alive, 404, "not_found", "no such client"),
        AdminError::Exists(_) => error(
            out,
            keep_alive,
            409,
            "already_exists",
            "a client with this id exists",
        ),
        AdminError::Db(_) => unavailable(out, keep_alive),
    }
}

/// The JSON body of `req` as a `T`, or `None` with 415 (not `application/json`) or 400 (not
/// a `T`: a wrong type, an unknown field, a missing one) written. An empty body is `{}`
/// when `empty_is_object`.
pub fn json_body<T: DeserializeOwned>(
    req: &Request<'_>,
    out: &mut Vec<u8>,
    keep_alive: bool,
    empty_is_object: bool,
) -> Option<T> {
    let empty_object = empty_is_object && req.body.is_empty();
    let body = if empty_object { b"{}" } else { req.body };
    let is_json = req.content_type.is_some_and(|ct| {
        ct.split(|&b| b == b';')
            .next()
            .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"application/json"))
    });
    if !(is_json || empty_object) {
        let description = "the body must be application/json";
        error(out, keep_alive, 415, "unsupported_media_type", description);
        return None;
    }
    match serde_json::from_slice(body) {
        Ok(value) => Some(value),
        Err(e) => {
            bad_request(out, keep_alive, &e.to_string());
            None
        }
    }
}

/// The client id of an `/admin/clients/{id}[/...]` path, or `None` with a 400 written.
pub fn client_in_path<'r>(
    req: &Request<'r>,
    out: &mut Vec<u8>,
    keep_alive: bool,
) -> Option<&'r str> {
    let id = route::admin_client(req.path)
        .map(|(id, _)| id)
        .filter(|id| clients::validate_client_id(id).is_ok());
    if id.is_none() {
        bad_request(out, keep_alive, "client_id is malformed");
    }
    id
}
