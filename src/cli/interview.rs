//! `hearth interview STORE.db --wave N [--interviewer ID] [--lang CODE] [--resume [ID]]`: the
//! terminal front end of the interview engine (`hearth::capture::interview`). Line by line, so
//! it works in a plain terminal and with answers piped in; every answer is saved as it is
//! given, so a closed terminal or a killed process loses nothing.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use hearth::capture::interview::{Given, Interview, Prompt, Review, RosterPrompt, StartOptions, Step};
use hearth::schema::QType;
use hearth::store::Store;
use hearth::text::escape;

/// Interview a household in the terminal: the household's questions, the roster, each
/// member's questions, a review, then the records are written. Every answer is saved as it
/// is given; an unfinished interview resumes with --resume. Type /help during the interview.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// The wave.
    #[arg(long)]
    pub wave: i64,
    /// Who conducts the interview (default $HEARTH_USER or $USER).
    #[arg(long)]
    pub interviewer: Option<String>,
    /// The language of the questions (one of the definition's languages).
    #[arg(long)]
    pub lang: Option<String>,
    /// Resume an unfinished interview: the one with this id, or the most recent of the wave.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub resume: Option<String>,
}

const HELP: &str = "Commands: an answer, then Enter (Enter alone: no answer, or keep the answer shown)
  /r  refused          /d  don't know
  /b  back to the previous question
  /goto [N] QUESTION   go to a question (N: the member's number, 0 the household; none: this record, or the household at the review)
  /q  stop here: every answer is saved; resume with --resume";

/// Runs `interview`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let mut store = Store::open(&a.store).map_err(hearth::Error::from)?;
    let mut iv = match &a.resume {
        Some(id) => {
            let id = if id.is_empty() {
                let open = Interview::unfinished(&store, Some(a.wave)).map_err(hearth::Error::from)?;
                match open.first() {
                    Some(s) => s.id.clone(),
                    None => anyhow::bail!("{}: no unfinished interview in wave {} to resume", a.store.display(), a.wave),
                }
            } else {
                id.clone()
            };
            let iv = Interview::resume(&store, &id, a.lang.as_deref()).map_err(hearth::Error::from)?;
            say(&format!("Resuming interview {} (wave {}).", iv.id(), iv.wave()))?;
            iv
        }
        None => {
            for s in Interview::unfinished(&store, Some(a.wave)).map_err(hearth::Error::from)? {
                super::note(&format!(
                    "note: unfinished interview {} (household {}, {} of {} answered, last saved {}): resume it with --resume {}",
                    s.id,
                    s.household.as_deref().unwrap_or("not yet given"),
                    s.progress.answered,
                    s.progress.total,
                    s.updated_at,
                    s.id
                ));
            }
            let opts = StartOptions {
                wave: a.wave,
                interviewer: a.interviewer.clone().unwrap_or_else(hearth::store::default_user),
                lang: a.lang.clone(),
            };
            let iv = Interview::start(&mut store, &opts).map_err(hearth::Error::from)?;
            say(&format!(
                "Interview {} started (wave {}, interviewer {}). Every answer is saved as you give it; /help for commands.",
                iv.id(),
                iv.wave(),
                escape(&opts.interviewer)
            ))?;
            iv
        }
    };
    let mut session = Session {
        lines: std::io::stdin().lock(),
        alerts: iv.alerts().iter().map(|a| (a.record.clone(), a.question.clone())).collect(),
        store_name: a.store.display().to_string(),
        echo: std::io::IsTerminal::is_terminal(&std::io::stdin()),
    };
    session.drive(&mut store, &mut iv)
}

/// Prints a line to stdout.
fn say(text: &str) -> anyhow::Result<()> {
    super::emit(&format!("{text}\n"))
}

/// Prints a prompt (no newline) and flushes it.
fn ask(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

struct Session<R> {
    lines: R,
    /// Alerts shown already: (record, question).
    alerts: BTreeSet<(String, String)>,
    store_name: String,
    /// Whether input comes from a terminal (which echoes it).
    echo: bool,
}

/// What a line of input asks for, beside an answer.
enum Command {
    Answer(Given),
    Keep,
    Back,
    Goto(Option<u32>, String),
    Quit,
    Help,
}

fn command(line: &str, has_current: bool) -> Command {
    let t = line.trim();
    match t {
        "/r" | "/refused" => Command::Answer(Given::Refused),
        "/d" | "/dk" => Command::Answer(Given::DontKnow),
        "/b" | "/back" => Command::Back,
        "/q" | "/quit" => Command::Quit,
        "/h" | "/help" | "?" => Command::Help,
        "" if has_current => Command::Keep,
        "" => Command::Answer(Given::NoAnswer),
        _ if t.starts_with("/goto ") || t.starts_with("/g ") => {
            let mut parts = t.split_whitespace().skip(1);
            let first = parts.next().unwrap_or("");
            match (first.parse::<u32>(), parts.next()) {
                (Ok(n), Some(q)) => Command::Goto(Some(n), q.to_string()),
                _ => Command::Goto(None, first.to_string()),
            }
        }
        _ => Command::Answer(Given::Value(t.to_string())),
    }
}

impl<R: BufRead> Session<R> {
    /// One line of input; None at the end of input.
    fn read(&mut self) -> anyhow::Result<Option<String>> {
        let mut line = String::new();
        if self.lines.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\n', '\r']).to_string();
        if !self.echo {
            // a terminal echoes what is typed; piped answers are shown, so the transcript reads
            say(&escape(&line))?;
        }
        Ok(Some(line))
    }

    fn stopped(&self, store: &mut Store, iv: &mut Interview) -> anyhow::Result<()> {
        if iv.discard_if_empty(store).map_err(hearth::Error::from)? {
            return say("\nStopped before any answer: the interview is not kept.");
        }
        say(&format!(
            "\nStopped. Every answer is saved: resume with `hearth interview {} --wave {} --resume {}`",
            self.store_name,
            iv.wave(),
            iv.id()
        ))
    }

    fn drive(&mut self, store: &mut Store, iv: &mut Interview) -> anyhow::Result<()> {
        loop {
            let go_on = match iv.step() {
                Step::Question(p) => self.question(store, iv, &p)?,
                Step::Roster(r) => self.roster(store, iv, &r)?,
                Step::Review(r) => self.review(store, iv, &r)?,
                Step::Finished => return Ok(()),
            };
            if !go_on {
                return self.stopped(store, iv);
            }
        }
    }

    /// Asks one question; false when the interviewer stops.
    fn question(&mut self, store: &mut Store, iv: &mut Interview, p: &Prompt) -> anyhow::Result<bool> {
        let progress = iv.progress();
        say(&format!(
            "\n-- {} · question {} of {} · {} of {} answered --",
            p.record_name, p.position.0, p.position.1, progress.answered, progress.total
        ))?;
        for n in &p.notes {
            say(n)?;
        }
        say(&format!("{}{}", p.label, if p.required { " (required)" } else { "" }))?;
        if let Some(h) = &p.hint {
            say(&format!("  {h}"))?;
        }
        for c in &p.choices {
            say(&format!("  {:>3}  {}", c.value, c.label))?;
        }
        let mut extras: Vec<String> = p
            .missing
            .iter()
            .map(|m| {
                let key = if m.label == "Refused" {
                    " (/r)"
                } else if m.label == "Don't know" {
                    " (/d)"
                } else {
                    ""
                };
                format!("{} {}{key}", m.value, m.label)
            })
            .collect();
        match p.qtype {
            QType::Boolean => extras.insert(0, "yes / no".into()),
            QType::Date => extras.insert(0, "YYYY-MM-DD".into()),
            QType::SelectMultiple => extras.insert(0, "values separated by spaces".into()),
            _ => {}
        }
        if !extras.is_empty() {
            say(&format!("  [{}]", extras.join(", ")))?;
        }
        if let Some(problem) = &p.problem {
            say(&format!("  ! {problem}"))?;
        }
        if let Some(now) = &p.current_label {
            say(&format!("  now: {} (Enter keeps it)", if now.is_empty() { "no answer" } else { now }))?;
        }
        ask("> ")?;
        let Some(line) = self.read()? else { return Ok(false) };
        match command(&line, p.current.is_some() && p.problem.is_none()) {
            Command::Answer(given) => {
                let saved = iv.answer(store, &p.record, &p.question, given, None).map_err(hearth::Error::from)?;
                if let Some(problem) = saved.problem {
                    say(&format!("  ! {problem}"))?;
                }
                self.show_alerts(iv)?;
            }
            Command::Keep => iv.clear_focus(),
            Command::Back => {
                if !iv.back() {
                    say("  (this is the first question)")?;
                }
            }
            Command::Goto(n, q) => self.goto(iv, n, &q, Some(&p.record))?,
            Command::Quit => return Ok(false),
            Command::Help => say(HELP)?,
        }
        Ok(true)
    }

    fn goto(&mut self, iv: &mut Interview, member: Option<u32>, question: &str, current: Option<&str>) -> anyhow::Result<()> {
        let records = iv.records();
        let record = match member {
            Some(0) => records.first().map(|r| r.record.clone()),
            Some(n) => records.iter().find(|r| r.member == Some(n)).map(|r| r.record.clone()),
            None => current.map(str::to_string).or_else(|| records.first().map(|r| r.record.clone())),
        };
        let Some(record) = record else {
            return say(&format!("  ! no member {}", member.unwrap_or(0)));
        };
        if let Err(e) = iv.goto(&record, question) {
            say(&format!("  ! {}", escape(&e.to_string())))?;
        }
        Ok(())
    }

    fn show_alerts(&mut self, iv: &Interview) -> anyhow::Result<()> {
        for a in iv.alerts() {
            if self.alerts.insert((a.record.clone(), a.question.clone())) {
                say(&format!("\n  *** ALERT ({}): {}", a.record_name, a.message))?;
            }
        }
        Ok(())
    }

    /// The roster: add members one by one, remove one (with a reason), or say it is complete.
    fn roster(&mut self, store: &mut Store, iv: &mut Interview, r: &RosterPrompt) -> anyhow::Result<bool> {
        say(&format!("\n-- Roster ({}): {} so far --", r.label.to_lowercase(), r.members.len()))?;
        for m in &r.members {
            say(&format!("  {:>3}  {}", m.member.unwrap_or(0), m.name))?;
        }
        ask(&format!(
            "Add a {} [a], remove one [x N], or the roster is complete [d]: ",
            r.label.to_lowercase()
        ))?;
        let Some(line) = self.read()? else { return Ok(false) };
        let t = line.trim();
        match t {
            "a" | "add" => {
                iv.add_member(store).map_err(hearth::Error::from)?;
            }
            "d" | "done" => {
                if r.members.is_empty() {
                    say(&format!("  ! add at least one {} first", r.label.to_lowercase()))?;
                } else {
                    iv.roster_done(store, true).map_err(hearth::Error::from)?;
                }
            }
            "/q" | "/quit" => return Ok(false),
            "/b" | "/back" => {
                iv.back();
            }
            _ if t.starts_with('x') => {
                let n: Option<u32> = t[1..].trim().parse().ok();
                let Some(m) = r.members.iter().find(|m| m.member.is_some() && m.member == n) else {
                    say("  ! which one? x and the member's number, e.g. x 2")?;
                    return Ok(true);
                };
                ask(&format!("Why remove {}? ", m.name))?;
                let Some(reason) = self.read()? else { return Ok(false) };
                if let Err(e) = iv.remove_member(store, &m.record, &reason) {
                    say(&format!("  ! {}", escape(&e.to_string())))?;
                }
            }
            _ => say("  ! a, x N or d")?,
        }
        Ok(true)
    }

    /// The review: every answer, then finish or go back.
    fn review(&mut self, store: &mut Store, iv: &mut Interview, r: &Review) -> anyhow::Result<bool> {
        say("\n== Review ==")?;
        for s in &r.sections {
            say(&s.title)?;
            for l in &s.lines {
                let flag = if l.irrelevant { "   [skipped now: dropped when finished]" } else { "" };
                say(&format!("  {}: {}{flag}", l.label, escape(&l.answer)))?;
            }
        }
        for p in &r.problems {
            say(&format!("  ! {}", escape(p)))?;
        }
        ask("Finish and save the records [f], go back [/goto N QUESTION], or stop here [/q]: ")?;
        let Some(line) = self.read()? else { return Ok(false) };
        match command(&line, true) {
            Command::Answer(Given::Value(v)) if v == "f" || v == "finish" => match iv.finish(store) {
                Ok(done) => {
                    say(&format!(
                        "Finished: household {} with {} member(s) saved (record {}).",
                        escape(&done.key),
                        done.members,
                        done.household
                    ))?;
                }
                Err(e) => say(&format!("  ! {}", escape(&e.to_string())))?,
            },
            Command::Goto(n, q) => self.goto(iv, n, &q, None)?,
            Command::Back => {
                iv.back();
            }
            Command::Quit => return Ok(false),
            Command::Help => say(HELP)?,
            _ => say("  ! f to finish, /goto N QUESTION to change an answer, /q to stop")?,
        }
        Ok(true)
    }
}
