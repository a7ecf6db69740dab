//! The routes of `hearth serve`: the guards in front of every request, pairing, the static
//! script and style sheet, and the interview's pages and answer endpoint over the engine.
//!
//! Owns the mapping from requests to engine calls and pages, and which device holds which
//! interview. Must not check answers itself (the engine does) nor write markup (the pages do).

use std::time::Instant;

use axum::extract::{Form, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::guard::{self, Refusal};
use super::pages;
use super::pairing::PairOutcome;
use super::{flow, save, steps};
use super::{lock, Shared};

const APP_JS: &str = include_str!("static/app.js");
const APP_CSS: &str = include_str!("static/app.css");

/// The paired device a request comes from (put there by the session guard).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceNo(pub(crate) usize);

/// Every route, behind the guards.
pub(crate) fn router(app: Shared) -> Router {
    let paired = Router::new()
        .route("/", get(flow::home))
        .route("/new", post(flow::start))
        .route("/i/{id}", get(flow::resume))
        .route("/i/{id}/leave", post(flow::leave))
        .route("/i/{id}/r/{record}", get(flow::record_get).post(flow::record_post))
        .route("/i/{id}/answer", post(save::answer))
        .route("/i/{id}/roster", get(steps::roster))
        .route("/i/{id}/roster/add", post(steps::add))
        .route("/i/{id}/roster/done", post(steps::done))
        .route("/i/{id}/remove/{record}", get(steps::remove_get).post(steps::remove_post))
        .route("/i/{id}/review", get(steps::review))
        .route("/i/{id}/finish", post(steps::finish))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_device));
    Router::new()
        .route("/static/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/static/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/pair/{token}", get(pair_page).post(pair_submit))
        .merge(paired)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard_all))
        .with_state(app)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

pub(crate) fn page(status: StatusCode, markup: maud::Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// The outer guard: Host and origin checks, then the security headers on whatever comes back.
async fn guard_all(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let checked = {
        let app = lock(&app);
        guard::check(&app.hosts, req.method(), req.headers())
    };
    let mut resp = match checked {
        Ok(()) => next.run(req).await,
        Err(Refusal::ForeignHost) => page(
            StatusCode::MISDIRECTED_REQUEST,
            pages::notice("Wrong address", "This server answers only at the address hearth serve printed.", None),
        ),
        Err(Refusal::ForeignOrigin) => page(
            StatusCode::FORBIDDEN,
            pages::notice("Refused", "A form from another site cannot send answers here.", None),
        ),
    };
    guard::secure_headers(resp.headers_mut());
    resp
}

/// The inner guard of every interview route: a paired, unrevoked device, or the
/// not-paired page (401).
async fn require_device(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let device = guard::session_cookie(req.headers()).and_then(|s| lock(&app).pairing.device(&s));
    match device {
        Some(n) => {
            req.extensions_mut().insert(DeviceNo(n));
            next.run(req).await
        }
        None => page(StatusCode::UNAUTHORIZED, pages::not_paired()),
    }
}

async fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        pages::notice("Not found", "There is no such page.", Some(("/", "Interviews"))),
    )
}

fn dead_link(outcome: &PairOutcome) -> Response {
    let (status, msg) = match outcome {
        PairOutcome::Expired => (StatusCode::GONE, "This pairing link has expired. Type `pair` on the laptop for a new one."),
        PairOutcome::Locked => (
            StatusCode::FORBIDDEN,
            "Too many wrong codes: this pairing link no longer works. Type `pair` on the laptop for a new one.",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "This pairing link does not work (it was used already, or a newer one replaced it). Type `pair` on the laptop for a new one.",
        ),
    };
    page(status, pages::notice("Pairing link not valid", msg, None))
}

async fn pair_page(State(app): State<Shared>, Path(token): Path<String>) -> Response {
    match lock(&app).pairing.link_state(&token, Instant::now()) {
        None => page(StatusCode::OK, pages::pair(&token, None)),
        Some(o) => dead_link(&o),
    }
}

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
}

async fn pair_submit(State(app): State<Shared>, Path(token): Path<String>, headers: HeaderMap, Form(f): Form<CodeForm>) -> Response {
    let label = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let outcome = lock(&app).pairing.try_code(&token, &f.code, label, Instant::now());
    match outcome {
        PairOutcome::Paired { session, .. } => {
            let mut r = Redirect::to("/").into_response();
            let cookie = guard::session_set_cookie(&session);
            if let Ok(v) = header::HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        PairOutcome::WrongCode { left } => page(
            StatusCode::UNAUTHORIZED,
            pages::pair(&token, Some(&format!("That code is not right: {left} attempt(s) left."))),
        ),
        o => dead_link(&o),
    }
}
