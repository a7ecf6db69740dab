//! The interview's pages: the list of unfinished interviews, one group of a record's
//! questions, the roster, removing a member, the review, and the notices around them. Markup
//! only, from the engine's views and what the routes pass in; nothing here saves or checks.
//!
//! Every question is a labelled field (`for`/`id`), its hint and error tied to it with
//! `aria-describedby`; an error summary at the top links to each field (`#q-ID`). "Refused"
//! and "Don't know" are submit buttons (`given=ID:refused`), so they work without the script.

use std::collections::HashMap;

use maud::{html, Markup};

use crate::capture::interview::{Alert, Progress, Prompt, RecordView, Review, Summary};
use crate::schema::QType;

/// What every interview page shows around its form.
pub struct Frame<'a> {
    /// The interview id.
    pub id: &'a str,
    /// The definition's language and its direction.
    pub lang: &'a str,
    /// `ltr` or `rtl`.
    pub dir: &'a str,
    /// Progress so far.
    pub progress: Progress,
    /// Alerts raised so far.
    pub alerts: &'a [Alert],
}

fn shell(frame: &Frame<'_>, title: &str, body: Markup) -> Markup {
    super::shell(
        title,
        frame.lang,
        frame.dir,
        html! {
            div.topbar {
                a href="/" { "All interviews" }
                form.leave method="post" action={ "/i/" (frame.id) "/leave" } {
                    button.link type="submit" { "Leave" span.visually-hidden { " this interview, for another device to take" } }
                }
                (progress(frame.progress))
            }
            div #alerts aria-live="assertive" {
                @for a in frame.alerts {
                    div.alert role="alert" { strong { (a.record_name) ": " } (a.message) }
                }
            }
            (body)
        },
    )
}

fn progress(p: Progress) -> Markup {
    html! {
        div.progress #progress {
            label for="progress-bar" { span #progress-text { (p.answered) " of " (p.total) " answered" } }
            progress #progress-bar value=(p.answered) max=(p.total.max(1)) {}
        }
    }
}

/// The front page: unfinished interviews of the wave (those held by another device say so)
/// and a button to start one.
pub fn home(wave: i64, list: &[Summary], elsewhere: &HashMap<String, usize>, message: Option<&str>) -> Markup {
    super::plain(
        "Interviews",
        html! {
            h1 { "Interviews, wave " (wave) }
            @if let Some(m) = message { div.notice role="status" { p { (m) } } }
            form method="post" action="/new" {
                button.primary type="submit" { "Start a new interview" }
            }
            h2 { "Unfinished interviews" }
            @if list.is_empty() {
                p { "None." }
            } @else {
                ul.cards {
                    @for s in list {
                        li {
                            a href={ "/i/" (s.id) } {
                                strong { "Household " (s.household.as_deref().unwrap_or("(no number yet)")) }
                            }
                            span.meta {
                                (s.members) " member(s); " (s.progress.answered) " of " (s.progress.total)
                                " answered; last saved " (s.updated_at)
                            }
                            @if let Some(d) = elsewhere.get(&s.id) {
                                span.meta.held { "Open on device " (d) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// One field's state as the page shows it.
pub struct Field<'a> {
    /// The engine's prompt.
    pub prompt: &'a Prompt,
    /// What was typed, when it was not saved (a failed check).
    pub typed: Option<&'a str>,
    /// Why it was not saved.
    pub error: Option<&'a str>,
    /// The alert its answer raised, shown with it too (the top of the page may be out of view).
    pub alert: Option<&'a str>,
}

/// One page of a record's questions.
pub struct RecordPage<'a> {
    /// The record.
    pub record: &'a str,
    /// Its name ("Household H12", "Person 2 (Ann, 34)").
    pub title: &'a str,
    /// The page's number (from 1) and how many the record has.
    pub page: (usize, usize),
    /// The fields, in order, relevant or not (skipped ones are hidden).
    pub fields: Vec<Field<'a>>,
    /// The interview's last sequence number (the script counts on from it).
    pub seq: u64,
    /// Where "Previous" goes, if anywhere.
    pub previous: Option<String>,
}

/// A page of questions: the error summary, the fields, Previous and Next.
pub fn record_page(frame: &Frame<'_>, p: &RecordPage<'_>) -> Markup {
    let errors: Vec<(&str, &str)> = p.fields.iter().filter_map(|f| f.error.map(|e| (f.prompt.question.as_str(), e))).collect();
    let title = if p.page.1 > 1 {
        format!("{} ({} of {})", p.title, p.page.0, p.page.1)
    } else {
        p.title.to_string()
    };
    let action = format!("/i/{}/r/{}?page={}", frame.id, p.record, p.page.0);
    shell(
        frame,
        &title,
        html! {
            h1 { (title) }
            (error_summary(&errors))
            form.questions method="post" action=(action) novalidate
                data-interview=(frame.id) data-record=(p.record) data-seq=(p.seq) {
                @for f in &p.fields { (field(f)) }
                // the questions on view, so that one the form did not show is not taken as
                // left blank (the script keeps it up to date as questions show and hide)
                input #shown type="hidden" name="shown"
                    value=(p.fields.iter().filter(|f| f.prompt.relevant).map(|f| f.prompt.question.as_str()).collect::<Vec<_>>().join(" "));
                div.nav {
                    @if let Some(prev) = &p.previous { a.button.secondary href=(prev) { "Previous" } }
                    button.primary #next type="submit" name="go" value="next" { "Next" }
                }
                p #next-blocked .error-message hidden { "An answer above is not saved: correct it (or wait for the connection) before going on." }
            }
        },
    )
}

/// The error summary: a heading and a link to each field with a problem.
pub fn error_summary(errors: &[(&str, &str)]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.error-summary #error-summary role="alert" tabindex="-1" aria-labelledby="error-summary-title" {
                h2 #error-summary-title { "There is a problem" }
                ul {
                    @for (q, e) in errors {
                        li { a href={ "#q-" (q) } { (e) } }
                    }
                }
            }
        }
    }
}

/// The answer a field shows: what was typed if it was refused, else the saved answer unless
/// that is a missing code (shown as the pressed button instead).
fn shown_value<'a>(f: &'a Field<'a>) -> &'a str {
    if let Some(t) = f.typed {
        return t;
    }
    let current = f.prompt.current.as_deref().unwrap_or("");
    if f.prompt.missing.iter().any(|m| m.value == current) {
        ""
    } else {
        current
    }
}

fn field(f: &Field<'_>) -> Markup {
    let p = f.prompt;
    let q = &p.question;
    let mut described = Vec::new();
    if p.hint.is_some() {
        described.push(format!("hint-{q}"));
    }
    if f.error.is_some() {
        described.push(format!("err-{q}"));
    }
    let described = (!described.is_empty()).then(|| described.join(" "));
    let missing_now = p
        .current
        .as_deref()
        .and_then(|c| p.missing.iter().find(|m| m.value == c))
        .filter(|_| f.typed.is_none());
    let kept = !p.relevant && p.current.as_deref().is_some_and(|c| !c.is_empty());
    let grouped = matches!(p.qtype, QType::SelectOne | QType::SelectMultiple | QType::Boolean);
    let inner = html! {
        @if let Some(h) = &p.hint { p.hint #{ "hint-" (q) } { (h) } }
        @if let Some(e) = f.error { p.error-message #{ "err-" (q) } { span.visually-hidden { "Error: " } (e) } }
        @if kept { p.kept { "Skipped now: the answer given before is kept until the interview is finished, then dropped." } }
        (input(f, described.as_deref()))
        @if !p.missing.is_empty() {
            div.missing {
                @for m in &p.missing {
                    @let kind = if m.label == "Refused" { "refused" } else if m.label == "Don't know" { "dont_know" } else { "" };
                    @if !kind.is_empty() {
                        button.secondary type="submit" name="given" value={ (q) ":" (kind) } formnovalidate
                            aria-pressed=(if missing_now.is_some_and(|x| x.value == m.value) { "true" } else { "false" }) { (m.label) }
                    }
                }
            }
        }
        @if let Some(a) = f.alert { div.alert.inline { (a) } }
        span.status #{ "st-" (q) } role="status" aria-live="polite" {
            @if let Some(m) = missing_now { "Answer: " (m.label) }
        }
    };
    let label = html! {
        (p.label)
        @if !p.required { span.optional { " (optional)" } }
    };
    html! {
        div.q .has-error[f.error.is_some()] data-q=(q) data-type=(type_name(p.qtype)) hidden[!p.relevant] {
            @for n in &p.notes { p.note { (n) } }
            @if grouped {
                fieldset aria-describedby=[described.as_deref()] {
                    legend { (label) }
                    (inner)
                }
            } @else {
                label for={ "q-" (q) } { (label) }
                (inner)
            }
        }
    }
}

fn type_name(t: QType) -> &'static str {
    match t {
        QType::SelectOne | QType::Boolean => "radio",
        QType::SelectMultiple => "checkbox",
        _ => "text",
    }
}

fn input(f: &Field<'_>, described: Option<&str>) -> Markup {
    let p = f.prompt;
    let q = &p.question;
    let value = shown_value(f);
    let name = format!("a-{q}");
    let invalid = f.error.map(|_| "true");
    let required = p.required.then_some("true");
    let options: Vec<(String, String)> = match p.qtype {
        QType::Boolean => vec![("1".into(), "Yes".into()), ("0".into(), "No".into())],
        _ => p.choices.iter().map(|c| (c.value.clone(), c.label.clone())).collect(),
    };
    let checked = |v: &str| -> bool {
        match p.qtype {
            QType::Boolean => matches!(
                (v, value.to_ascii_lowercase().as_str()),
                ("1", "1" | "true" | "yes") | ("0", "0" | "false" | "no")
            ),
            QType::SelectMultiple => value.split_whitespace().any(|x| x == v),
            _ => value == v,
        }
    };
    let kind = if p.qtype == QType::SelectMultiple { "checkbox" } else { "radio" };
    match p.qtype {
        QType::SelectOne | QType::SelectMultiple | QType::Boolean => html! {
            div.choices {
                @for (i, (v, l)) in options.iter().enumerate() {
                    @let id = if i == 0 { format!("q-{q}") } else { format!("q-{q}-{i}") };
                    div.choice {
                        input type=(kind) id=(id) name=(name) value=(v) checked[checked(v)]
                            aria-invalid=[invalid] aria-required=[required.filter(|_| i == 0)];
                        label for=(id) { (l) }
                    }
                }
            }
        },
        _ => {
            let (ty, mode) = match p.qtype {
                QType::Integer => ("text", Some("numeric")),
                QType::Decimal => ("text", Some("decimal")),
                QType::Date => ("date", None),
                _ => ("text", None),
            };
            html! {
                input type=(ty) id={ "q-" (q) } name=(name) value=(value) inputmode=[mode]
                    aria-describedby=[described] aria-invalid=[invalid] aria-required=[required]
                    readonly[p.read_only] autocomplete="off" spellcheck="false";
            }
        }
    }
}

/// The roster: the members named by their answers, "Add person" (with the first name field
/// when the roster has one), removing, and "Everyone is listed".
pub fn roster(frame: &Frame<'_>, label: &str, members: &[RecordView], name_field: Option<&str>, error: Option<&str>) -> Markup {
    let lower = label.to_lowercase();
    let errors: Vec<(&str, &str)> = error.map(|e| ("name", e)).into_iter().collect();
    shell(
        frame,
        "Who lives here",
        html! {
            h1 { "Who lives here" }
            (error_summary(&errors))
            @if members.is_empty() {
                p { "No " (lower) " is listed yet." }
            } @else {
                ol.cards.roster {
                    @for m in members {
                        li {
                            a href={ "/i/" (frame.id) "/r/" (m.record) } { (m.name) }
                            a.remove href={ "/i/" (frame.id) "/remove/" (m.record) } { "Remove" span.visually-hidden { " " (m.name) } }
                        }
                    }
                }
            }
            form method="post" action={ "/i/" (frame.id) "/roster/add" } {
                @if let Some(l) = name_field {
                    div.field {
                        label for="q-name" { (l) span.optional { " (optional)" } }
                        input #q-name type="text" name="name" autocomplete="off" spellcheck="false";
                    }
                }
                button.secondary type="submit" { "Add " (lower) }
            }
            form method="post" action={ "/i/" (frame.id) "/roster/done" } {
                button.primary type="submit" { "Everyone is listed: continue" }
            }
        },
    )
}

/// Removing a member: a confirmation with a required reason.
pub fn remove(frame: &Frame<'_>, member: &RecordView, error: Option<&str>) -> Markup {
    let errors: Vec<(&str, &str)> = error.map(|e| ("reason", e)).into_iter().collect();
    shell(
        frame,
        "Remove a person",
        html! {
            h1 { "Remove " (member.name) "?" }
            (error_summary(&errors))
            p { "Their answers are kept in the audit trail, not in the finished interview." }
            form method="post" action={ "/i/" (frame.id) "/remove/" (member.record) } {
                div.field {
                    label for="q-reason" { "Why are they removed?" }
                    p.hint #hint-reason { "For example: does not live here, listed twice." }
                    @if let Some(e) = error { p.error-message #err-reason { span.visually-hidden { "Error: " } (e) } }
                    input #q-reason type="text" name="reason" aria-describedby={ "hint-reason" @if error.is_some() { " err-reason" } }
                        aria-invalid=[error.map(|_| "true")];
                }
                div.nav {
                    a.button.secondary href={ "/i/" (frame.id) "/roster" } { "Keep them" }
                    button.danger type="submit" { "Remove" }
                }
            }
        },
    )
}

/// The review: every answer by record (skipped answers flagged), what stops finishing, Finish.
pub fn review(frame: &Frame<'_>, r: &Review, error: Option<&str>) -> Markup {
    shell(
        frame,
        "Check the answers",
        html! {
            h1 { "Check the answers" }
            @if !r.problems.is_empty() || error.is_some() {
                div.error-summary role="alert" tabindex="-1" {
                    h2 { "The interview cannot be finished yet" }
                    ul {
                        @if let Some(e) = error { li { (e) } }
                        @for p in &r.problems { li { (p) } }
                    }
                }
            }
            @for s in &r.sections {
                section.review {
                    h2 { (s.title) " " a.change href={ "/i/" (frame.id) "/r/" (s.record) } { "Change" span.visually-hidden { " " (s.title) } } }
                    dl {
                        @for l in &s.lines {
                            div.line .irrelevant[l.irrelevant] {
                                dt { (l.label) }
                                dd {
                                    (l.answer)
                                    @if l.irrelevant { span.flag { " (skipped now: kept until finished, then dropped)" } }
                                }
                            }
                        }
                    }
                }
            }
            div.nav {
                a.button.secondary href={ "/i/" (frame.id) "/roster" } { "Change who lives here" }
                form method="post" action={ "/i/" (frame.id) "/finish" } {
                    button.primary type="submit" disabled[!r.can_finish] { "Finish the interview" }
                }
            }
        },
    )
}
