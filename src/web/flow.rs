//! The interview's routes: the list, starting and resuming, a record's page of questions, the
//! roster, removing a member, the review and finishing, and the JSON endpoint the script
//! saves each answer through. Each route is one or a few engine calls, then a redirect (after
//! a POST) or a page.
//!
//! Owns which device holds which interview (one at a time) and how a record's questions are cut
//! into pages. Must not check an answer (the engine does, with the definition's messages) nor
//! write markup (the pages do).

// an Err here is the page to send back, made at most once per request: boxing it buys nothing
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::pages::interview::{self as ip, Field, Frame, RecordPage};
use super::routes::{page, DeviceNo};
use super::{lock, App, Shared};
use crate::capture::interview::{Given, Interview, Prompt, StartOptions, Step};
use crate::schema::QType;

/// Questions on one page at most: a long record's questions are cut into pages of this many
/// (askable ones; an automatic key shown with them does not count).
pub const PAGE: usize = 10;

/// An interview open in this process and the device holding it.
pub(crate) struct Held {
    device: usize,
    interview: Interview,
}

/// The interviews open in this process and the device holding each.
#[derive(Default)]
pub(crate) struct OpenInterviews {
    held: HashMap<String, Held>,
}

impl OpenInterviews {
    /// The interviews device `number` holds.
    pub(crate) fn held_by(&self, number: usize) -> Vec<String> {
        let mut v: Vec<String> = self.held.iter().filter(|(_, h)| h.device == number).map(|(i, _)| i.clone()).collect();
        v.sort();
        v
    }

    /// Lets go of every interview device `number` holds.
    pub(crate) fn release_device(&mut self, number: usize) {
        self.held.retain(|_, h| h.device != number);
    }

    /// Lets go of the interviews whose id starts with `prefix`; how many.
    pub(crate) fn release(&mut self, prefix: &str) -> usize {
        let before = self.held.len();
        self.held.retain(|id, _| !id.starts_with(prefix));
        before - self.held.len()
    }
}

/// A failure shown as a page.
type Page = Result<Response, Response>;

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        super::pages::notice(
            "Something went wrong",
            &format!("The answer was not saved: {e}."),
            Some(("/", "All interviews")),
        ),
    )
}

/// The interview `id` for device `device`: the one it holds, or resumed from the store and
/// held now; another device's gets a clear refusal (409).
pub(crate) fn hold<'a>(app: &'a mut App, id: &str, device: usize) -> Result<&'a mut Interview, Response> {
    let App { store, open, opts, .. } = app;
    if let Some(h) = open.held.get(id) {
        if h.device != device {
            return Err(page(
                StatusCode::CONFLICT,
                super::pages::notice(
                    "Open on another device",
                    &format!(
                        "This interview is open on device {}. Go on with it there, or leave it there (\"All interviews\"), \
                         or type `release` on the laptop, then try again.",
                        h.device
                    ),
                    Some(("/", "All interviews")),
                ),
            ));
        }
    } else {
        let interview = Interview::resume(store, id, opts.lang.as_deref()).map_err(|e| {
            page(
                StatusCode::NOT_FOUND,
                super::pages::notice("No such interview", &e.to_string(), Some(("/", "All interviews"))),
            )
        })?;
        open.held.insert(id.to_string(), Held { device, interview });
    }
    match open.held.get_mut(id) {
        Some(h) => Ok(&mut h.interview),
        None => Err(internal("the interview was not kept open")),
    }
}

/// The interview `id` held by `device` (see [`hold`]) and the store, to save through it.
pub(crate) fn held<'a>(app: &'a mut App, id: &str, device: usize) -> Result<(&'a mut Interview, &'a mut crate::store::Store), Response> {
    hold(app, id, device)?;
    let App { store, open, .. } = app;
    match open.held.get_mut(id) {
        Some(h) => Ok((&mut h.interview, store)),
        None => Err(internal("the interview was not kept open")),
    }
}

pub(crate) fn frame<'a>(iv: &'a Interview, alerts: &'a [crate::capture::interview::Alert]) -> Frame<'a> {
    Frame {
        id: iv.id(),
        lang: iv.lang(),
        dir: iv.direction(),
        progress: iv.progress(),
        alerts,
    }
}

pub(crate) fn see(to: String) -> Response {
    Redirect::to(&to).into_response()
}

/// GET `/`: the unfinished interviews of the wave and "Start a new interview".
pub(crate) async fn home(State(app): State<Shared>, Extension(DeviceNo(device)): Extension<DeviceNo>) -> Response {
    let app = lock(&app);
    match Interview::unfinished(&app.store, Some(app.opts.wave)) {
        Ok(list) => {
            let elsewhere = app
                .open
                .held
                .iter()
                .filter(|(_, h)| h.device != device)
                .map(|(id, h)| (id.clone(), h.device))
                .collect();
            page(StatusCode::OK, ip::home(app.opts.wave, &list, &elsewhere, None))
        }
        Err(e) => internal(e),
    }
}

/// POST `/new`: a new interview, held by this device.
pub(crate) async fn start(State(app): State<Shared>, Extension(DeviceNo(device)): Extension<DeviceNo>) -> Response {
    let mut app = lock(&app);
    let App { store, open, opts, .. } = &mut *app;
    let start = StartOptions {
        wave: opts.wave,
        interviewer: opts.interviewer.clone(),
        lang: opts.lang.clone(),
    };
    match Interview::start(store, &start) {
        Ok(iv) => {
            let id = iv.id().to_string();
            open.held.insert(id.clone(), Held { device, interview: iv });
            see(format!("/i/{id}"))
        }
        Err(e) => internal(e),
    }
}

/// The askable prompts of a record cut into pages; `(page, prompts)` of the page holding
/// `question`, or of page `n`.
fn pages_of(prompts: &[Prompt]) -> Vec<Vec<&Prompt>> {
    let mut pages: Vec<Vec<&Prompt>> = vec![Vec::new()];
    for p in prompts {
        let asked = pages.last().map_or(0, |v| v.iter().filter(|x| !x.read_only).count());
        if asked == PAGE && !p.read_only {
            pages.push(Vec::new());
        }
        if let Some(last) = pages.last_mut() {
            last.push(p);
        }
    }
    pages
}

fn page_of(prompts: &[Prompt], question: &str) -> usize {
    pages_of(prompts)
        .iter()
        .position(|pg| pg.iter().any(|p| p.question == question))
        .map_or(1, |i| i + 1)
}

/// Where the interview goes on: the page of the question the engine asks next, the roster,
/// the review, or the list once finished.
pub(crate) fn next_url(iv: &Interview) -> String {
    let id = iv.id();
    match iv.step() {
        Step::Question(p) => {
            let n = page_of(&iv.record_prompts(&p.record), &p.question);
            format!("/i/{id}/r/{}?page={n}#q-{}", p.record, p.question)
        }
        Step::Roster(_) => format!("/i/{id}/roster"),
        Step::Review(_) => format!("/i/{id}/review"),
        Step::Finished => "/".to_string(),
    }
}

/// GET `/i/{id}`: resume (hold) the interview and go to where it stands.
pub(crate) async fn resume(State(app): State<Shared>, Extension(DeviceNo(device)): Extension<DeviceNo>, Path(id): Path<String>) -> Response {
    let mut app = lock(&app);
    match hold(&mut app, &id, device) {
        Ok(iv) => see(next_url(iv)),
        Err(r) => r,
    }
}

/// POST `/i/{id}/leave`: let go of the interview (another device may take it).
pub(crate) async fn leave(State(app): State<Shared>, Extension(DeviceNo(device)): Extension<DeviceNo>, Path(id): Path<String>) -> Response {
    let mut app = lock(&app);
    if app.open.held.get(&id).is_some_and(|h| h.device == device) {
        app.open.held.remove(&id);
    }
    see("/".into())
}

/// `?page=N`.
#[derive(serde::Deserialize)]
pub(crate) struct PageNo {
    page: Option<usize>,
}

/// Where "Previous" goes from page `n` of `record`: the page before, the last page of the
/// member before, or the roster (from the first member).
fn previous(iv: &Interview, record: &str, n: usize) -> Option<String> {
    let id = iv.id();
    if n > 1 {
        return Some(format!("/i/{id}/r/{record}?page={}", n - 1));
    }
    let records = iv.records();
    let at = records.iter().position(|r| r.record == record)?;
    match at {
        0 => None,
        1 => Some(format!("/i/{id}/roster")),
        _ => {
            let before = &records[at - 1].record;
            let last = pages_of(&iv.record_prompts(before)).len();
            Some(format!("/i/{id}/r/{before}?page={last}"))
        }
    }
}

fn record_page(iv: &Interview, record: &str, n: usize, typed: &HashMap<String, (String, String)>) -> Page {
    let prompts = iv.record_prompts(record);
    if prompts.is_empty() {
        return Err(page(
            StatusCode::NOT_FOUND,
            super::pages::notice(
                "No such record",
                "This interview has no such record (was the person removed?).",
                Some(("/", "All interviews")),
            ),
        ));
    }
    let pages = pages_of(&prompts);
    let n = n.clamp(1, pages.len());
    let alerts = iv.alerts();
    let fields = pages[n - 1]
        .iter()
        .map(|p| {
            let t = typed.get(&p.question);
            Field {
                prompt: p,
                typed: t.map(|(v, _)| v.as_str()),
                error: t.map(|(_, e)| e.as_str()).or(p.problem.as_deref().filter(|_| p.relevant)),
                alert: alerts
                    .iter()
                    .find(|a| a.record == record && a.question == p.question)
                    .map(|a| a.message.as_str()),
            }
        })
        .collect();
    let title = iv.records().into_iter().find(|r| r.record == record).map(|r| r.name).unwrap_or_default();
    let body = ip::record_page(
        &frame(iv, &alerts),
        &RecordPage {
            record,
            title: &title,
            page: (n, pages.len()),
            fields,
            seq: iv.seq(),
            previous: previous(iv, record, n),
        },
    );
    let status = if typed.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(page(status, body))
}

/// GET `/i/{id}/r/{record}?page=N`: one page of a record's questions.
pub(crate) async fn record_get(
    State(app): State<Shared>,
    Extension(DeviceNo(device)): Extension<DeviceNo>,
    Path((id, record)): Path<(String, String)>,
    Query(q): Query<PageNo>,
) -> Response {
    let mut app = lock(&app);
    let iv = match hold(&mut app, &id, device) {
        Ok(iv) => iv,
        Err(r) => return r,
    };
    record_page(iv, &record, q.page.unwrap_or(1), &HashMap::new()).unwrap_or_else(|r| r)
}

/// What a page's form sent for one question: the values of `a-ID` (several for check
/// boxes), joined as the engine reads a select-multiple answer.
fn sent(form: &[(String, String)], question: &str) -> Option<String> {
    let name = format!("a-{question}");
    let values: Vec<&str> = form
        .iter()
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .collect();
    let any = form.iter().any(|(k, _)| *k == name);
    any.then(|| values.join(" "))
}

/// Applies one page's form to the engine: each relevant question whose answer changed, in
/// order (an answer can change what follows), then the Refused / Don't know button pressed.
/// Returns the answers refused: question -> (as typed, why).
fn apply(
    iv: &mut Interview,
    store: &mut crate::store::Store,
    record: &str,
    n: usize,
    form: &[(String, String)],
) -> Result<HashMap<String, (String, String)>, Response> {
    let pressed = form
        .iter()
        .find(|(k, _)| k == "given")
        .and_then(|(_, v)| v.split_once(':'))
        .map(|(q, k)| (q.to_string(), k.to_string()));
    let questions: Vec<String> = pages_of(&iv.record_prompts(record))
        .get(n.saturating_sub(1))
        .map(|pg| pg.iter().filter(|p| !p.read_only).map(|p| p.question.clone()).collect())
        .unwrap_or_default();
    let shown: Vec<&str> = form.iter().filter(|(k, _)| k == "shown").flat_map(|(_, v)| v.split_whitespace()).collect();
    let mut refused = HashMap::new();
    for q in &questions {
        if pressed.as_ref().is_some_and(|(pq, _)| pq == q) {
            continue;
        }
        let Some(p) = iv.record_prompts(record).into_iter().find(|p| &p.question == q) else {
            continue;
        };
        if !p.relevant {
            continue;
        }
        let raw = sent(form, q).unwrap_or_default();
        let current = p.current.as_deref();
        let is_missing = current.is_some_and(|c| p.missing.iter().any(|m| m.value == c));
        let given = match (raw.is_empty(), current) {
            // a refusal or "no answer" shown as an empty field stays as it is
            (true, Some(_)) if is_missing || current == Some("") => continue,
            // a question not reached yet, while a Refused / Don't know button is pressed
            (true, None) if pressed.is_some() => continue,
            // a question that was not on view (it became relevant with this page's answers)
            (true, None) if !shown.contains(&q.as_str()) => continue,
            (true, _) => Given::NoAnswer,
            (false, Some(c)) if c == raw || (p.qtype == QType::Boolean && same_bool(c, &raw)) => continue,
            (false, _) => Given::Value(raw.clone()),
        };
        let saved = iv.answer(store, record, q, given, None).map_err(internal)?;
        if !saved.accepted {
            refused.insert(q.clone(), (raw, saved.problem.unwrap_or_else(|| "The answer was not saved.".into())));
        }
    }
    if let Some((q, kind)) = pressed {
        let given = if kind == "refused" { Given::Refused } else { Given::DontKnow };
        match iv.answer(store, record, &q, given, None) {
            Ok(s) if !s.accepted => {
                refused.insert(q, (String::new(), s.problem.unwrap_or_default()));
            }
            Ok(_) => {}
            Err(e) => return Err(internal(e)),
        }
    }
    Ok(refused)
}

fn same_bool(a: &str, b: &str) -> bool {
    let v = |s: &str| match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    };
    v(a).is_some() && v(a) == v(b)
}

/// POST `/i/{id}/r/{record}?page=N`: saves the page's answers; refused ones show again with
/// the error summary (422); a Refused / Don't know button comes back to its question; Next
/// goes on to the next page, or where the engine stands.
pub(crate) async fn record_post(
    State(app): State<Shared>,
    Extension(DeviceNo(device)): Extension<DeviceNo>,
    Path((id, record)): Path<(String, String)>,
    Query(q): Query<PageNo>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let mut guard = lock(&app);
    let n = q.page.unwrap_or(1);
    let (iv, store) = match held(&mut guard, &id, device) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refused = match apply(iv, store, &record, n, &form) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if !refused.is_empty() {
        return record_page(iv, &record, n, &refused).unwrap_or_else(|r| r);
    }
    if let Some((q, _)) = form.iter().find(|(k, _)| k == "given").and_then(|(_, v)| v.split_once(':')) {
        return see(format!("/i/{id}/r/{record}?page={n}#q-{q}"));
    }
    let prompts = iv.record_prompts(&record);
    let pages = pages_of(&prompts);
    // a later page of this record with a question asked as things stand
    if let Some(later) = (n..pages.len()).find(|&i| pages[i].iter().any(|p| p.relevant && !p.read_only)) {
        return see(format!("/i/{id}/r/{record}?page={}", later + 1));
    }
    see(next_url(iv))
}
