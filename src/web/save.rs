//! The endpoint the page's script saves each answer through, as it is given: JSON in (the
//! interview, record and question by id, never by position; the value or a refusal; a sequence
//! number), the engine's verdict out (saved or why not, questions whose relevance changed,
//! progress, alerts). The sequence number makes a retried request idempotent (the engine's).
//!
//! Owns the JSON shapes only; the engine checks and saves.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::flow::held;
use super::routes::DeviceNo;
use super::{lock, Shared};
use crate::capture::interview::Given;

/// One answer from the script.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct AnswerIn {
    record: String,
    question: String,
    /// The answer as typed (a choice's value code); absent or empty with `given: "value"` is
    /// "no answer".
    #[serde(default)]
    value: String,
    /// `value` (the default), `refused`, `dont_know` or `none`.
    #[serde(default)]
    given: String,
    /// The script's sequence number for this interview.
    seq: Option<u64>,
}

/// The engine's verdict, for the script.
#[derive(Debug, serde::Serialize)]
pub(crate) struct AnswerOut {
    accepted: bool,
    problem: Option<String>,
    duplicate: bool,
    /// A refusal or "don't know" as shown ("Refused").
    shown: Option<String>,
    relevance: Vec<Relevance>,
    progress: Progress,
    alerts: Vec<AlertOut>,
}

#[derive(Debug, serde::Serialize)]
struct Relevance {
    record: String,
    question: String,
    relevant: bool,
}

#[derive(Debug, serde::Serialize)]
struct Progress {
    answered: usize,
    total: usize,
}

#[derive(Debug, serde::Serialize)]
struct AlertOut {
    record: String,
    record_name: String,
    question: String,
    message: String,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "accepted": false, "problem": message }))).into_response()
}

/// POST `/i/{id}/answer`.
pub(crate) async fn answer(
    State(app): State<Shared>,
    Extension(DeviceNo(device)): Extension<DeviceNo>,
    Path(id): Path<String>,
    Json(a): Json<AnswerIn>,
) -> Response {
    let mut app = lock(&app);
    let (iv, store) = match held(&mut app, &id, device) {
        Ok(x) => x,
        Err(_) => return error(StatusCode::CONFLICT, "this interview is not open on this device".into()),
    };
    let given = match a.given.as_str() {
        "refused" => Given::Refused,
        "dont_know" => Given::DontKnow,
        "none" => Given::NoAnswer,
        _ if a.value.trim().is_empty() => Given::NoAnswer,
        _ => Given::Value(a.value),
    };
    // the label the page shows for a refusal; asking the engine for the prompt would evaluate
    // the record once per question, for nothing the script needs
    let label = match given {
        Given::Refused => Some("Refused".to_string()),
        Given::DontKnow => Some("Don't know".to_string()),
        _ => None,
    };
    let saved = match iv.answer(store, &a.record, &a.question, given, a.seq) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    let shown = if saved.accepted { label } else { None };
    let out = AnswerOut {
        accepted: saved.accepted,
        problem: saved.problem,
        duplicate: saved.duplicate,
        shown,
        relevance: saved
            .relevance
            .into_iter()
            .map(|r| Relevance {
                record: r.record,
                question: r.question,
                relevant: r.relevant,
            })
            .collect(),
        progress: Progress {
            answered: saved.progress.answered,
            total: saved.progress.total,
        },
        alerts: saved
            .alerts
            .into_iter()
            .map(|a| AlertOut {
                record: a.record,
                record_name: a.record_name,
                question: a.question,
                message: a.message,
            })
            .collect(),
    };
    Json(out).into_response()
}
