//! `hearth serve` in a real Chromium, driven through chromedriver (WebDriver, by fantoccini):
//! a whole household from pairing to finish, with a failed check answered again, refusals, a
//! reload mid-roster, the server killed and restarted and the interview resumed; then the
//! stored records (an export) and the audit log. Screenshots at tablet (768x1024) and phone
//! (375x667) sizes go to `target/tmp/serve-*.png`.
//!
//! Skipped, with a notice, only where Chromium or chromedriver is not installed (`.ci/run`
//! installs both). `HEARTH_CHROMIUM` and `HEARTH_CHROMEDRIVER` name other binaries.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use super::Serve;
use crate::common::*;

fn on_path(names: &[&str], env: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    names.iter().find_map(|name| {
        let out = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().ok()?;
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(bin: &Path) -> Driver {
        let port = free_port();
        let mut child = Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // wait until it listens (it is up in well under a second; a minute means it is broken)
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Driver { child, port };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not listen on port {port}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium.to_str().unwrap(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--hide-scrollbars", "--window-size=768,1024"]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session in Chromium")
}

/// The page's text ("" while a page is loading and the old one's elements are gone).
async fn text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(b) => b.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits (up to a minute) until the page's text contains `needle`.
async fn wait_text(c: &Client, needle: &str) {
    for _ in 0..600 {
        if text(c).await.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("'{needle}' never appeared; the page says:\n{}", text(c).await);
}

/// Waits until question `q`'s status line says `needle` ("Saved", "Not saved").
async fn wait_status(c: &Client, q: &str, needle: &str) {
    for _ in 0..600 {
        let s = match c.find(Locator::Id(&format!("st-{q}"))).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if s.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{q}: the status never said '{needle}':\n{}", text(c).await);
}

/// Types over a text field's answer (select all, type) and leaves it with Tab: one change
/// event, which saves it. (Clearing the field first would save "no answer" on its own.)
async fn type_in(c: &Client, q: &str, value: &str) {
    let e = c.find(Locator::Id(&format!("q-{q}"))).await.unwrap();
    e.send_keys(&format!("\u{e009}a\u{e000}{value}\u{e004}")).await.unwrap();
}

/// Picks a radio option of `q` by its label.
async fn choose(c: &Client, q: &str, label: &str) {
    let xpath = format!("//div[@data-q='{q}']//label[normalize-space()='{label}']");
    c.find(Locator::XPath(&xpath)).await.unwrap().click().await.unwrap();
}

async fn click_button(c: &Client, label: &str) {
    let xpath = format!("//button[normalize-space()='{label}']");
    c.find(Locator::XPath(&xpath)).await.unwrap().click().await.unwrap();
}

async fn given(c: &Client, q: &str, kind: &str) {
    c.find(Locator::Css(&format!("button[value='{q}:{kind}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Screenshots at tablet and phone sizes, scrolled to the element `at` (centred) or the top.
async fn shot(c: &Client, name: &str, at: Option<&str>) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let scroll = "var e = arguments[0] && document.getElementById(arguments[0]); \
                  if (e) { e.scrollIntoView({block: 'center'}); } else { window.scrollTo(0, 0); }";
    for (w, h, size) in [(768u32, 1024u32, "tablet"), (375, 667, "phone")] {
        c.set_window_size(w, h).await.unwrap();
        c.execute(scroll, vec![serde_json::json!(at)]).await.unwrap();
        let png = c.screenshot().await.unwrap();
        assert!(png.len() > 1000, "a blank screenshot");
        std::fs::write(dir.join(format!("serve-{name}-{size}.png")), png).unwrap();
    }
    c.set_window_size(768, 1024).await.unwrap();
}

async fn pair(c: &Client, s: &Serve) {
    c.goto(&format!("http://{}{}", s.addr, s.link.0)).await.unwrap();
    let code = c.find(Locator::Id("code")).await.unwrap();
    code.send_keys(&s.link.1).await.unwrap();
    click_button(c, "Pair").await;
    wait_text(c, "Interviews, wave 1").await;
}

/// A member's page: the answers that every member gets.
async fn member(c: &Client, age: &str, sex: &str, smoker: &str) {
    type_in(c, "age", age).await;
    wait_status(c, "age", "Saved").await;
    choose(c, "sex", sex).await;
    wait_status(c, "sex", "Saved").await;
    choose(c, "smoker", smoker).await;
    wait_status(c, "smoker", "Saved").await;
}

fn rows(csv: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| header.iter().cloned().zip(rec.unwrap().iter().map(str::to_string)).collect())
        .collect()
}

#[test]
fn serve_a_household_in_chromium_paired_killed_resumed_and_finished() {
    let (Some(chromium), Some(chromedriver)) = (
        on_path(&["chromium", "chromium-browser", "google-chrome"], "HEARTH_CHROMIUM"),
        on_path(&["chromedriver"], "HEARTH_CHROMEDRIVER"),
    ) else {
        eprintln!(
            "NOTICE: serve's browser test skipped: chromium and chromedriver are needed \
             (`apt-get install -y chromium chromium-driver`; .ci/run installs them)"
        );
        return;
    };
    let d = tempdir();
    let store = super::fixture_store(d.path());
    let port = free_port().to_string();
    let driver = Driver::start(&chromedriver);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = browser(&driver, &chromium).await;
        let mut s = Serve::start(d.path(), store, &["--port", &port, "--interviewer", "amy"]);

        // an unpaired browser sees the pairing notice only
        c.goto(&format!("http://{}/", s.addr)).await.unwrap();
        wait_text(&c, "This device is not paired").await;
        pair(&c, &s).await;
        click_button(&c, "Start a new interview").await;

        // the household: a failed check (more children than people), answered again
        wait_text(&c, "Household serial number").await;
        type_in(&c, "household_id", "H9").await;
        wait_status(&c, "household_id", "Saved").await;
        type_in(&c, "household_size", "3").await;
        wait_status(&c, "household_size", "Saved").await;
        type_in(&c, "children", "4").await;
        wait_status(&c, "children", "Not saved").await;
        wait_text(&c, "At least one person must be aged 16 or over").await;
        // Next is blocked while a save failed
        assert!(!c.find(Locator::Id("next")).await.unwrap().is_enabled().await.unwrap());
        shot(&c, "household-error", Some("q-children")).await;
        type_in(&c, "children", "1").await;
        wait_status(&c, "children", "Saved").await;
        assert!(c.find(Locator::Id("next")).await.unwrap().is_enabled().await.unwrap());
        // a refusal, mapped to the question's code
        given(&c, "tenure", "refused").await;
        wait_status(&c, "tenure", "Saved: Refused").await;
        // the skip: garden_size appears once garden is yes
        assert!(!c.find(Locator::Id("q-garden_size")).await.unwrap().is_displayed().await.unwrap());
        choose(&c, "garden", "Yes").await;
        wait_status(&c, "garden", "Saved").await;
        for _ in 0..600 {
            if c.find(Locator::Id("q-garden_size")).await.unwrap().is_displayed().await.unwrap() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        choose(&c, "garden_size", "Large").await;
        wait_status(&c, "garden_size", "Saved").await;
        click_button(&c, "Next").await;

        // the roster: three members by first name, a reload in the middle
        wait_text(&c, "Who lives here").await;
        for name in ["Ann", "Bob"] {
            c.find(Locator::Id("q-name")).await.unwrap().send_keys(name).await.unwrap();
            click_button(&c, "Add person").await;
            wait_text(&c, &format!("({name}")).await;
        }
        c.refresh().await.unwrap();
        wait_text(&c, "Person 2 (Bob").await;
        c.find(Locator::Id("q-name")).await.unwrap().send_keys("Cy").await.unwrap();
        click_button(&c, "Add person").await;
        wait_text(&c, "Person 3 (Cy").await;
        shot(&c, "roster", None).await;
        click_button(&c, "Everyone is listed: continue").await;

        // person 1
        wait_text(&c, "Person 1 (Ann").await;
        member(&c, "70", "Female", "No").await;
        choose(&c, "low_mood", "Most days").await;
        wait_status(&c, "low_mood", "Saved").await;
        wait_text(&c, "Distress protocol").await;
        shot(&c, "member-alert", Some("st-low_mood")).await;
        click_button(&c, "Next").await;
        wait_text(&c, "Person 2 (Bob").await;
        type_in(&c, "age", "44").await;
        wait_status(&c, "age", "Saved").await;

        // the server dies (a power cut) and starts again on the same port
        s.kill();
        let mut s = Serve::start(d.path(), store, &["--port", &port, "--interviewer", "amy"]);
        c.refresh().await.unwrap();
        wait_text(&c, "This device is not paired").await;
        pair(&c, &s).await;
        // the interview is listed; it resumes at the first question still needing an answer
        wait_text(&c, "Household H9").await;
        c.find(Locator::XPath("//a[contains(., 'Household H9')]")).await.unwrap().click().await.unwrap();
        wait_text(&c, "Person 2 (Bob, 44").await;
        assert_eq!(c.find(Locator::Id("q-age")).await.unwrap().prop("value").await.unwrap().as_deref(), Some("44"));
        choose(&c, "sex", "Male").await;
        wait_status(&c, "sex", "Saved").await;
        choose(&c, "smoker", "Yes").await;
        wait_status(&c, "smoker", "Saved").await;
        type_in(&c, "cigarettes", "5").await;
        wait_status(&c, "cigarettes", "Saved").await;
        given(&c, "low_mood", "refused").await;
        wait_status(&c, "low_mood", "Saved: Refused").await;
        click_button(&c, "Next").await;

        // person 3
        wait_text(&c, "Person 3 (Cy").await;
        member(&c, "30", "Female", "No").await;
        given(&c, "low_mood", "refused").await;
        wait_status(&c, "low_mood", "Saved: Refused").await;
        shot(&c, "member", None).await;
        click_button(&c, "Next").await;

        // the review; back to the household to say there is no garden after all: the garden's
        // size is kept and flagged until the interview is finished, then dropped
        wait_text(&c, "Check the answers").await;
        c.find(Locator::Css("a.change")).await.unwrap().click().await.unwrap();
        wait_text(&c, "Does the home have a garden?").await;
        choose(&c, "garden", "No").await;
        wait_status(&c, "garden", "Saved").await;
        assert!(!c.find(Locator::Id("q-garden_size")).await.unwrap().is_displayed().await.unwrap());
        click_button(&c, "Next").await;
        wait_text(&c, "Check the answers").await;
        wait_text(&c, "skipped now: kept until finished, then dropped").await;
        shot(&c, "review", None).await;
        click_button(&c, "Finish the interview").await;
        wait_text(&c, "Interview finished: household H9 with 3 member(s) saved").await;
        s.command("devices");
        let _ = s.line();
        c.close().await.unwrap();
    });

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
                p["children"].as_str(),
                p["garden"].as_str(),
                p["garden_size"].as_str()
            ),
            ("H9", "-9", "1", "0", ""),
            "{csv}"
        );
    }
    assert_eq!(
        (by("1")["first_name"].as_str(), by("1")["age"].as_str(), by("1")["low_mood"].as_str()),
        ("Ann", "70", "2")
    );
    assert_eq!(
        (by("2")["sex"].as_str(), by("2")["cigarettes"].as_str(), by("2")["low_mood"].as_str()),
        ("2", "5", "-9")
    );
    assert_eq!((by("3")["first_name"].as_str(), by("3")["cigarettes"].as_str()), ("Cy", ""));

    let audit = ok(d.path(), &["audit", "s.db", "--json"]);
    let log: Vec<serde_json::Value> = serde_json::from_str(&audit).unwrap();
    let of = |q: &str| -> Vec<String> {
        log.iter()
            .filter(|e| e["action"] == "answer" && e["question"] == q)
            .map(|e| e["new_value"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(of("children"), ["1"], "a rejected answer is not saved");
    assert_eq!(of("age").len(), 3, "each answer once, the kill and the reload notwithstanding");
    assert_eq!(of("tenure"), ["-9"]);
    assert!(!audit.contains("Ann") && !audit.contains("Bob"), "identifiers never reach the audit log");
    assert_eq!(log.iter().filter(|e| e["action"] == "add member").count(), 3);
    assert!(log.iter().filter(|e| e["action"] == "answer").all(|e| e["by"] == "amy"));
    assert!(log
        .iter()
        .any(|e| e["action"] == "interview" && e["reason"].as_str().unwrap_or("").starts_with("finished interview")));
}
