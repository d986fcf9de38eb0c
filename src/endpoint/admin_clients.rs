//! `/admin/clients` and `/admin/clients/{id}[/...]`: the client life cycle through the
//! same `store::clients` functions as `edgeauth client ...`. Each change is one statement
//! that announces itself, so every shard of every instance drops its cached copy when it
//! commits; each is an audit event, `"via": "api"`.

use serde::Deserialize;

use crate::audit;
use crate::config;
use crate::endpoint::admin_answer::{self, bad_request, client_in_path, json_body, refused};
use crate::endpoint::admin_client_json::{self, ClientPatchJson, NewClientJson};
use crate::endpoint::context::Context;
use crate::form;
use crate::http::request::Request;
use crate::http::response;
use crate::limits;
use crate::pg;
use crate::store::clients;

/// The database connection for a change, or `None` with 503 written.
fn database(ctx: &Context, out: &mut Vec<u8>, keep_alive: bool) -> Option<pg::Client> {
    let pg = ctx.pg.client().ok();
    if pg.is_none() {
        admin_answer::unavailable(out, keep_alive);
    }
    pg
}

/// `GET /admin/clients?limit=&after=`: up to `limit` clients (default and most
/// `ADMIN_PAGE_CLIENTS_MAX`) in id order after `after`, and `next`, the `after` of the next
/// page (`null` on the last).
pub async fn list(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let (limit, after) = match page_query(req.query.unwrap_or("")) {
        Ok(page) => page,
        Err(description) => return bad_request(out, keep_alive, description),
    };
    let Some(pg) = database(ctx, out, keep_alive) else {
        return;
    };
    let page = match clients::list_page(&pg, &after, limit).await {
        Ok(page) => page,
        Err(e) => return refused(&e, out, keep_alive),
    };
    let next = (page.len() == limit).then(|| page.last().map(|c| c.client_id.clone()));
    let listed: Vec<serde_json::Value> = page.iter().map(clients::to_json).collect();
    let body = serde_json::json!({ "clients": listed, "next": next.flatten() }).to_string();
    response::write_json(out, 200, body.as_bytes(), keep_alive, &[]);
}

/// `limit` and `after` from a query string; nothing else is accepted.
fn page_query(query: &str) -> Result<(usize, String), &'static str> {
    let mut limit = limits::ADMIN_PAGE_CLIENTS_MAX;
    let mut after = String::new();
    for (name, value) in form::pairs(query.as_bytes()) {
        let value = form::decode(value.unwrap_or_default()).map_err(|_| "a malformed query")?;
        match name {
            b"limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=limits::ADMIN_PAGE_CLIENTS_MAX).contains(n))
                    .ok_or("limit is a number from 1 to 1000")?;
            }
            // Empty: from the first client.
            b"after" if value.is_empty() => {}
            b"after" => {
                clients::validate_client_id(&value).map_err(|_| "after is not a client id")?;
                after = value.into_owned();
            }
            _ => return Err("the query takes limit and after only"),
        }
    }
    Ok((limit, after))
}

/// `GET /admin/clients/{id}`: the client as `client show` prints it (never a secret or its
/// hash).
pub async fn show(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(id) = client_in_path(req, out, keep_alive) else {
        return;
    };
    let Some(pg) = database(ctx, out, keep_alive) else {
        return;
    };
    match clients::show(&pg, id).await {
        Ok(client) => write_client(&client, out, keep_alive),
        Err(e) => refused(&e, out, keep_alive),
    }
}

fn write_client(client: &clients::ClientRecord, out: &mut Vec<u8>, keep_alive: bool) {
    let body = clients::to_json(client).to_string();
    response::write_json(out, 200, body.as_bytes(), keep_alive, &[]);
}

/// `POST /admin/clients`: 201 `{"client_id", "client_secret"}` (the secret for secret
/// clients only); 400 for a body that does not describe a valid client, 409 for a taken
/// id, 415 for a body that is not JSON.
pub async fn create(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(body) = json_body::<NewClientJson>(req, out, keep_alive, false) else {
        return;
    };
    let Some(pg) = database(ctx, out, keep_alive) else {
        return;
    };
    match admin_client_json::register(&pg, &body).await {
        Ok((method, secret)) => {
            audit::record(
                "client.added",
                &[
                    ("client_id", &body.client_id),
                    ("auth_method", &method),
                    ("via", &"api"),
                ],
            );
            let mut answer = serde_json::json!({ "client_id": body.client_id });
            if let Some(secret) = secret {
                answer["client_secret"] = secret.into();
            }
            response::write_json(out, 201, answer.to_string().as_bytes(), keep_alive, &[]);
        }
        Err(e) => refused(&e, out, keep_alive),
    }
}

/// `PATCH /admin/clients/{id}`: 200 and the client as it is now.
pub async fn patch(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(id) = client_in_path(req, out, keep_alive) else {
        return;
    };
    let Some(body) = json_body::<ClientPatchJson>(req, out, keep_alive, false) else {
        return;
    };
    let Some(pg) = database(ctx, out, keep_alive) else {
        return;
    };
    match admin_client_json::apply(&pg, id, &body).await {
        Ok((client, changed)) => {
            let changed = changed.join(",");
            audit::record(
                "client.updated",
                &[("client_id", &id), ("changed", &changed), ("via", &"api")],
            );
            write_client(&client, out, keep_alive);
        }
        Err(e) => refused(&e, out, keep_alive),
    }
}

/// `DELETE /admin/clients/{id}`: 204; its tokens introspect as inactive from then on.
pub async fn delete(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(id) = client_in_path(req, out, keep_alive) else {
        return;
    };
    let Some(pg) = database(ctx, out, keep_alive) else {
        return;
    };
    match clients::delete(&pg, id).await {
        Ok(()) => {
            audit::record("client.deleted", &[("client_id", &id), ("via", &"api")]);
            response::write_no_content(out, keep_alive)
        }
        Err(e) => refused(&e, out, keep_alive),
    }
}

/// The body of `rotate-secret`, which may be empty.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateJson {
    /// How long the replaced secret stays accepted, e.g. `"10m"`; none: not at all.
    grace: Option<String>,
}

/// `POST /admin/clients/{id}/rotate-secret`: 200 `{"client_id", "client_secret"}`, the new
/// secret; the old one is accepted beside it for `grace`, then by nobody.
pub async fn rotate_secret(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(id) = client_in_path(req, out, keep_alive) else {
        return;
    };
    let Some(body) = json_body::<RotateJson>(req, out, keep_alive, true) else {
        return;
    };
    let grace = match body.grace.as_deref().map(config::duration).transpose() {
        Ok(grace) => grace.unwrap_or_default(),
        Err(e) => return bad_request(out, keep_alive, &format!("grace: {e}")),
    };
    let Some(pg) = database(ctx, out, keep_alive) else {
        return;
    };
    match clients::rotate_secret(&pg, id, grace).await {
        Ok(secret) => {
            let grace_s = grace.as_secs();
            audit::record(
                "client.secret_rotated",
                &[("client_id", &id), ("grace_s", &grace_s), ("via", &"api")],
            );
            let answer = serde_json::json!({ "client_id": id, "client_secret": secret });
            response::write_json(out, 200, answer.to_string().as_bytes(), keep_alive, &[]);
        }
        Err(e) => refused(&e, out, keep_alive),
    }
}

/// `POST /admin/clients/{id}/revoke-tokens`: the kill switch, as `edgeauth client
/// revoke-tokens` does it (the same store function): 204, or 404 for an unknown client.
pub async fn revoke_tokens(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(id) = client_in_path(req, out, keep_alive) else {
        return;
    };
    let Some(pg) = database(ctx, out, keep_alive) else {
        return;
    };
    match clients::revoke_tokens(&pg, id).await {
        Ok(()) => {
            audit::record(
                "client.tokens_revoked",
                &[("client_id", &id), ("via", &"api")],
            );
            response::write_no_content(out, keep_alive)
        }
        Err(e) => refused(&e, out, keep_alive),
    }
}
