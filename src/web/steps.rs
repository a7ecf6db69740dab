//! The interview's steps after the household's questions: the roster (adding members, each
//! named by its answers; removing one with a confirmation and a reason), the review with every
//! answer, and finishing. Each route is an engine call and a redirect, or a page.
//!
//! Owns nothing but the mapping of these forms to the engine; the engine audits every change.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use super::flow::{frame, held, hold, internal, next_url, see};
use super::pages::interview as ip;
use super::routes::{page, DeviceNo};
use super::{lock, Shared};
use crate::capture::interview::{Interview, Step};
use crate::schema::QType;

/// The roster unit's label ("Person") and its first-name question (an identifier text), if
/// it has one: the roster page asks it as each member is added.
fn roster_info(iv: &Interview) -> (String, Option<(String, String)>) {
    let def = iv.definition();
    let Some(unit) = def.units.iter().find(|u| u.parent.is_some()) else {
        return ("Person".into(), None);
    };
    let label = unit.label.as_ref().map(|l| l.get(iv.lang()).to_string()).unwrap_or_else(|| "Person".into());
    let name = unit
        .questions
        .iter()
        .find(|q| q.identifier && q.qtype == QType::Text)
        .map(|q| (q.id.clone(), q.label.get(iv.lang()).to_string()));
    (label, name)
}

fn roster_page(iv: &Interview, error: Option<&str>) -> Response {
    let (label, name) = roster_info(iv);
    let members: Vec<_> = iv.records().into_iter().skip(1).collect();
    let alerts = iv.alerts();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    page(
        status,
        ip::roster(&frame(iv, &alerts), &label, &members, name.as_ref().map(|(_, l)| l.as_str()), error),
    )
}

/// GET `/i/{id}/roster`.
pub(crate) async fn roster(State(app): State<Shared>, Extension(DeviceNo(device)): Extension<DeviceNo>, Path(id): Path<String>) -> Response {
    let mut app = lock(&app);
    match hold(&mut app, &id, device) {
        Ok(iv) => roster_page(iv, None),
        Err(r) => r,
    }
}

/// The add form: the new member's first name, when the roster asks one.
#[derive(serde::Deserialize)]
pub(crate) struct AddForm {
    #[serde(default)]
    name: String,
}

/// POST `/i/{id}/roster/add`: a new member (with its first name when given).
pub(crate) async fn add(
    State(app): State<Shared>,
    Extension(DeviceNo(device)): Extension<DeviceNo>,
    Path(id): Path<String>,
    Form(f): Form<AddForm>,
) -> Response {
    let mut app = lock(&app);
    let (iv, store) = match held(&mut app, &id, device) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let record = match iv.add_member(store) {
        Ok(r) => r,
        Err(e) => return roster_page(iv, Some(&e.to_string())),
    };
    if let (Some((q, _)), false) = (roster_info(iv).1, f.name.trim().is_empty()) {
        match iv.answer(store, &record, &q, crate::capture::interview::Given::Value(f.name), None) {
            Ok(s) if !s.accepted => return roster_page(iv, s.problem.as_deref()),
            Ok(_) => {}
            Err(e) => return internal(e),
        }
    }
    see(format!("/i/{id}/roster"))
}

/// POST `/i/{id}/roster/done`: everyone is listed; on to the members' questions.
pub(crate) async fn done(State(app): State<Shared>, Extension(DeviceNo(device)): Extension<DeviceNo>, Path(id): Path<String>) -> Response {
    let mut app = lock(&app);
    let (iv, store) = match held(&mut app, &id, device) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if iv.records().len() < 2 {
        let (label, _) = roster_info(iv);
        return roster_page(iv, Some(&format!("Add at least one {} first.", label.to_lowercase())));
    }
    if let Err(e) = iv.roster_done(store, true) {
        return internal(e);
    }
    see(next_url(iv))
}

fn member_page(iv: &Interview, record: &str, error: Option<&str>) -> Response {
    let Some(m) = iv.records().into_iter().skip(1).find(|r| r.record == record) else {
        return see(format!("/i/{}/roster", iv.id()));
    };
    let alerts = iv.alerts();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    page(status, ip::remove(&frame(iv, &alerts), &m, error))
}

/// GET `/i/{id}/remove/{record}`: the confirmation.
pub(crate) async fn remove_get(
    State(app): State<Shared>,
    Extension(DeviceNo(device)): Extension<DeviceNo>,
    Path((id, record)): Path<(String, String)>,
) -> Response {
    let mut app = lock(&app);
    match hold(&mut app, &id, device) {
        Ok(iv) => member_page(iv, &record, None),
        Err(r) => r,
    }
}

/// The removal form.
#[derive(serde::Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    reason: String,
}

/// POST `/i/{id}/remove/{record}`: removes the member with the reason given (required).
pub(crate) async fn remove_post(
    State(app): State<Shared>,
    Extension(DeviceNo(device)): Extension<DeviceNo>,
    Path((id, record)): Path<(String, String)>,
    Form(f): Form<RemoveForm>,
) -> Response {
    let mut app = lock(&app);
    let (iv, store) = match held(&mut app, &id, device) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.reason.trim().is_empty() {
        return member_page(iv, &record, Some("Say why they are removed."));
    }
    match iv.remove_member(store, &record, &f.reason) {
        Ok(()) => see(format!("/i/{id}/roster")),
        Err(e) => member_page(iv, &record, Some(&e.to_string())),
    }
}

/// GET `/i/{id}/review`.
pub(crate) async fn review(State(app): State<Shared>, Extension(DeviceNo(device)): Extension<DeviceNo>, Path(id): Path<String>) -> Response {
    let mut app = lock(&app);
    match hold(&mut app, &id, device) {
        Ok(iv) => {
            let alerts = iv.alerts();
            page(StatusCode::OK, ip::review(&frame(iv, &alerts), &iv.review(), None))
        }
        Err(r) => r,
    }
}

/// POST `/i/{id}/finish`: checks every record and writes them; the interview is let go.
pub(crate) async fn finish(State(app): State<Shared>, Extension(DeviceNo(device)): Extension<DeviceNo>, Path(id): Path<String>) -> Response {
    let mut guard = lock(&app);
    let (iv, store) = match held(&mut guard, &id, device) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match iv.finish(store) {
        Ok(f) => {
            guard.open.release(&id);
            let msg = format!("Interview finished: household {} with {} member(s) saved.", f.key, f.members);
            page(StatusCode::OK, super::pages::notice("Interview finished", &msg, Some(("/", "All interviews"))))
        }
        Err(e) => {
            let alerts = iv.alerts();
            let body = ip::review(&frame(iv, &alerts), &iv.review(), Some(&e.to_string()));
            if matches!(iv.step(), Step::Finished) {
                return see("/".into());
            }
            page(StatusCode::UNPROCESSABLE_ENTITY, body)
        }
    }
}
