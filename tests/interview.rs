//! `hearth interview`: a whole household driven through a pseudo-terminal (a roster of three,
//! skipped questions, a failed check answered again, refusals, an earlier answer changed, the
//! process killed mid-interview and resumed), then the stored records and the audit log; and
//! the same front end with answers piped in.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use crate::common::{fixture, ok, piped, tempdir};

/// A `hearth` process on a pseudo-terminal, and what it has written.
struct Pty {
    master: File,
    child: Child,
    out: Receiver<Vec<u8>>,
    seen: String,
    /// How much of `seen` earlier expectations consumed.
    at: usize,
}

impl Pty {
    fn spawn(dir: &Path, args: &[&str]) -> Pty {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors it opened; null termios and winsize are allowed.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened by openpty and are owned here alone.
        let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
        let child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(args)
            .current_dir(dir)
            .env("HEARTH_USER", "test")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("run hearth");
        let mut reader = master.try_clone().unwrap();
        let (tx, out) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // ends with EIO once the process (the last holder of the terminal) is gone
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            master,
            child,
            out,
            seen: String::new(),
            at: 0,
        }
    }

    /// Waits until the output after the last expectation holds `needle`; consumes up to it.
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(i) = self.seen[self.at..].find(needle) {
                self.at += i + needle.len();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("waited for {needle:?}; the terminal shows after the last match:\n{}", &self.seen[self.at..]),
            }
        }
    }

    /// Types a line (as a terminal would send it).
    fn send(&mut self, line: &str) {
        self.master.write_all(format!("{line}\r").as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits for the prompt of question `label`, then answers it.
    fn answer(&mut self, label: &str, line: &str) {
        self.expect(label);
        self.expect("> ");
        self.send(line);
    }

    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        while let Ok(bytes) = self.out.recv_timeout(Duration::from_secs(2)) {
            self.seen.push_str(&String::from_utf8_lossy(&bytes));
        }
        (status, self.seen)
    }
}

/// A CSV export's rows as maps of column to value.
fn rows(csv: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| header.iter().cloned().zip(rec.unwrap().iter().map(str::to_string)).collect())
        .collect()
}

fn new_store(dir: &Path) {
    let def = fixture("interview/household.yaml");
    ok(dir, &["init", "s.db", "--definition", def.to_str().unwrap()]);
}

#[test]
fn r20_a_household_through_a_terminal_killed_and_resumed() {
    let d = tempdir();
    new_store(d.path());
    let mut t = Pty::spawn(d.path(), &["interview", "s.db", "--wave", "1", "--interviewer", "amy"]);
    t.expect("started (wave 1, interviewer amy)");
    t.answer("Household serial number", "H7");
    t.answer("How many people live here?", "3");
    // a failed check, with the definition's message, then answered again
    t.answer("How many of them are under 16?", "3");
    t.expect("! At least one person must be aged 16 or over");
    t.answer("How many of them are under 16?", "0");
    t.answer("Do you own or rent this home?", "/r");
    // no garden: its size is skipped
    t.answer("Does the home have a garden?", "no");
    for n in 0..3 {
        t.expect(&format!("Roster (person): {n} so far"));
        t.expect("roster is complete [d]: ");
        t.send("a");
    }
    t.expect("roster is complete [d]: ");
    t.send("d");
    t.answer("First name", "Ann");
    t.answer("Age last birthday", "70");
    t.answer("Sex", "1");
    t.answer("Do you smoke?", "no");
    t.answer("How often have you felt low", "2");
    t.expect("*** ALERT (Person 1 (Ann, 70)): Distress protocol");
    t.answer("First name", "Bob");
    t.answer("Age last birthday", "44");
    t.expect("Person 2 (Bob, 44) · question 3 of 6");
    t.expect("> ");
    // the laptop dies mid-interview
    t.child.kill().unwrap();
    let (status, _) = t.wait();
    assert!(!status.success());
    let audit = ok(d.path(), &["audit", "s.db", "--json"]);
    assert!(audit.contains("\"new_value\": \"44\""), "the last answer before the kill is saved:\n{audit}");
    ok(d.path(), &["export", "s.db", "--format", "csv", "--out", "drafts.csv"]);
    let csv = std::fs::read_to_string(d.path().join("drafts.csv")).unwrap();
    assert_eq!(rows(&csv).len(), 0, "a draft never reaches an export:\n{csv}");

    let mut t = Pty::spawn(d.path(), &["interview", "s.db", "--wave", "1", "--resume"]);
    t.expect("Resuming interview");
    t.expect("Person 2 (Bob, 44) · question 3 of 6");
    t.answer("Sex", "2");
    t.answer("Do you smoke?", "yes");
    t.answer("Cigarettes a day", "5");
    t.answer("How often have you felt low", "0");
    t.answer("First name", "");
    t.answer("Age last birthday", "17");
    t.answer("Sex", "/r");
    t.answer("Do you smoke?", "no");
    t.answer("How often have you felt low", "/r");
    t.expect("== Review ==");
    t.expect("Cigarettes a day: 5");
    t.expect("stop here [/q]: ");
    // an earlier answer changed: there is a garden after all, so its size is asked
    t.send("/goto 0 garden");
    t.expect("now: No (Enter keeps it)");
    t.expect("> ");
    t.send("yes");
    t.answer("How big is the garden?", "1");
    t.expect("== Review ==");
    t.expect("stop here [/q]: ");
    t.send("f");
    t.expect("Finished: household H7 with 3 member(s) saved");
    let (status, screen) = t.wait();
    assert!(status.success(), "{screen}");

    ok(d.path(), &["export", "s.db", "--format", "csv", "--out", "people.csv", "--include-identifiers"]);
    let csv = std::fs::read_to_string(d.path().join("people.csv")).unwrap();
    let people = rows(&csv);
    assert_eq!(people.len(), 3, "{csv}");
    let by = |n: &str| people.iter().find(|r| r["person_id"] == n).unwrap_or_else(|| panic!("person {n} in\n{csv}"));
    for p in &people {
        assert_eq!(
            (
                p["household_id"].as_str(),
                p["tenure"].as_str(),
                p["garden"].as_str(),
                p["garden_size"].as_str(),
                p["children"].as_str()
            ),
            ("H7", "-9", "1", "1", "0"),
            "{csv}"
        );
    }
    assert_eq!(
        (by("1")["first_name"].as_str(), by("1")["age"].as_str(), by("1")["low_mood"].as_str()),
        ("Ann", "70", "2")
    );
    assert_eq!(
        (by("2")["sex"].as_str(), by("2")["cigarettes"].as_str(), by("2")["older"].as_str()),
        ("2", "5", "0")
    );
    assert_eq!(
        (by("3")["first_name"].as_str(), by("3")["sex"].as_str(), by("3")["cigarettes"].as_str()),
        ("", "-9", "")
    );

    let audit = ok(d.path(), &["audit", "s.db", "--json"]);
    let log: Vec<serde_json::Value> = serde_json::from_str(&audit).unwrap();
    let of = |q: &str| -> Vec<(String, String)> {
        log.iter()
            .filter(|e| e["action"] == "answer" && e["question"] == q)
            .map(|e| {
                (
                    e["old_value"].as_str().unwrap_or("").to_string(),
                    e["new_value"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(of("garden"), [("".into(), "no".into()), ("no".into(), "yes".into())]);
    assert_eq!(of("children"), [("".to_string(), "0".to_string())], "a rejected answer is not saved");
    assert_eq!(of("age").len(), 3, "each answer once, the kill and resume notwithstanding");
    assert!(
        of("first_name").iter().all(|(_, new)| new == "(identifier)" || new.is_empty()),
        "{:?}",
        of("first_name")
    );
    assert!(!audit.contains("Ann") && !audit.contains("Bob"), "identifiers never reach the audit log");
    assert_eq!(log.iter().filter(|e| e["action"] == "add member").count(), 3);
    assert!(
        log.iter().filter(|e| e["action"] == "answer").all(|e| e["by"] == "amy"),
        "the interviewer, after the resume too"
    );
    assert!(log
        .iter()
        .any(|e| e["action"] == "interview" && e["reason"].as_str().unwrap_or("").starts_with("finished interview")));
    ok(d.path(), &["analyze", "s.db", "--outcome", "age", "--format", "csv"]);
}

#[test]
fn r20_piped_answers_stop_at_the_end_of_input_and_resume() {
    let d = tempdir();
    new_store(d.path());
    let run = |args: &[&str], input: &str| piped(d.path(), "test", args, input);
    let (out, _) = run(&["interview", "s.db", "--wave", "2"], "H1\n2\n1\n2\n");
    assert!(out.contains("> H1\n"), "piped answers are shown in the transcript:\n{out}");
    let id = out
        .split("--resume ")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .unwrap_or_else(|| panic!("Stopped... resume with: {out}"))
        .to_string();
    // a new interview is told about the unfinished one; left at once, it is not kept
    let (out, err) = run(&["interview", "s.db", "--wave", "2"], "/q\n");
    assert!(
        err.contains("note: unfinished interview") && err.contains("household H1, 4 of 5 answered"),
        "{err}"
    );
    assert!(out.contains("Stopped before any answer: the interview is not kept."), "{out}");
    let (_, err) = run(&["interview", "s.db", "--wave", "2"], "");
    assert_eq!(err.matches("note: unfinished interview").count(), 1, "{err}");
    let (out, _) = run(&["interview", "s.db", "--wave", "2", "--resume", &id], "/b\n\nno\nx\na\nd\n\n30\n1\nno\n0\nf\n");
    assert!(out.contains("Resuming interview"), "{out}");
    assert!(out.contains("now: Rented (Enter keeps it)"), "/b goes back to the last answer:\n{out}");
    assert!(out.contains("! which one?"), "{out}");
    assert!(out.contains("Finished: household H1 with 1 member(s) saved"), "{out}");
}

#[test]
fn r20_interviews_on_two_laptops_merge_into_the_office_store() {
    let d = tempdir();
    for s in ["office.db", "laptop-a.db", "laptop-b.db"] {
        let def = fixture("interview/household.yaml");
        ok(d.path(), &["init", s, "--definition", def.to_str().unwrap()]);
    }
    let interview = |store: &str, input: &str| piped(d.path(), store, &["interview", store, "--wave", "1"], input).0;
    let household = |id: &str| format!("{id}\n1\n0\n1\nno\na\nd\n\n30\n1\nno\n0\nf\n");
    assert!(interview("laptop-a.db", &household("H1")).contains("Finished: household H1"));
    assert!(interview("laptop-b.db", &household("H2")).contains("Finished: household H2"));
    // an interview left unfinished on laptop b stays there
    interview("laptop-b.db", "H3\n2\n");
    ok(d.path(), &["merge", "office.db", "laptop-a.db", "laptop-b.db"]);
    ok(d.path(), &["export", "office.db", "--format", "csv", "--out", "office.csv"]);
    let people = rows(&std::fs::read_to_string(d.path().join("office.csv")).unwrap());
    let mut households: Vec<&str> = people.iter().map(|r| r["household_id"].as_str()).collect();
    households.sort_unstable();
    assert_eq!(households, ["H1", "H2"]);
    let err = crate::common::fails(d.path(), &["interview", "office.db", "--wave", "1", "--resume"], 2);
    assert!(err.contains("no unfinished interview in wave 1"), "drafts are not merged: {err}");
    let audit = ok(d.path(), &["audit", "office.db"]);
    assert!(
        audit.contains("new=H2") && !audit.contains("new=H3"),
        "nor the answers of an unfinished interview:\n{audit}"
    );
}
