//! `hearth serve`: the real binary on a free port, spoken to in plain HTTP over a TcpStream
//! (the guards: unpaired requests, foreign Host, cross-origin POST, pairing codes that are
//! wrong, expired or used twice, the security headers), and driven in a real Chromium through
//! chromedriver (the whole household, see `browser`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;

mod browser;

/// A running `hearth serve`, its console lines read on a thread; killed when dropped.
pub struct Serve {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The first pairing link: (token path `/pair/...`, code).
    pub link: (String, String),
}

impl Serve {
    /// Starts `hearth serve STORE --wave 1 --port 0` with `extra` arguments in `dir`.
    pub fn start(dir: &Path, store: &str, extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["serve", store, "--wave", "1"])
            .args(if extra.contains(&"--port") { &[][..] } else { &["--port", "0"][..] })
            .args(extra)
            .current_dir(dir)
            .env("HEARTH_USER", "test")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hearth serve");
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut s = Serve {
            child,
            stdin,
            lines,
            addr: String::new(),
            link: Default::default(),
        };
        let first = s.line();
        let url = first.split_whitespace().find(|w| w.starts_with("http://")).expect("a URL on the first line");
        s.addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        s.link = s.next_link();
        s
    }

    /// The next console line (fails after a minute: the server is stuck or dead).
    pub fn line(&mut self) -> String {
        self.lines.recv_timeout(Duration::from_secs(60)).expect("a line from hearth serve")
    }

    /// Reads lines up to the next pairing link; returns (path, code).
    pub fn next_link(&mut self) -> (String, String) {
        loop {
            let l = self.line();
            if l.starts_with("pair a device") {
                let words: Vec<&str> = l.split_whitespace().collect();
                let url = words.iter().find(|w| w.starts_with("http://")).unwrap();
                let at = words.iter().position(|w| *w == "code").unwrap();
                let path = url[url.find("/pair/").unwrap()..].to_string();
                return (path, words[at + 1].to_string());
            }
        }
    }

    /// Types a console command.
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Pairs over plain HTTP with the current link; returns the session cookie (`name=value`).
    pub fn pair(&mut self) -> String {
        let (path, code) = self.link.clone();
        let r = self.request("POST", &path, &[("Origin", &format!("http://{}", self.addr))], Some(&format!("code={code}")));
        assert_eq!(r.status, 303, "pairing failed: {}", r.body);
        let cookie = r.header("set-cookie").expect("a session cookie");
        cookie.split(';').next().unwrap().to_string()
    }

    /// One HTTP/1.1 request with the right Host; `extra` headers; a form body.
    pub fn request(&self, method: &str, path: &str, extra: &[(&str, &str)], body: Option<&str>) -> Reply {
        let mut headers: Vec<(&str, &str)> = vec![("Host", &self.addr)];
        headers.extend_from_slice(extra);
        http(&self.addr, method, path, &headers, body)
    }

    /// Kills the server (as a power cut would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// A header's value (the first), by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`), the headers exactly as given.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A fresh store of the interview fixture in `dir`, named `s.db`.
pub fn fixture_store(dir: &Path) -> &'static str {
    ok(dir, &["init", "s.db", "--definition", fixture("interview/household.yaml").to_str().unwrap()]);
    "s.db"
}

fn wrong_code(code: &str) -> String {
    if code == "000000" {
        "111111".into()
    } else {
        "000000".into()
    }
}

#[test]
fn serve_an_unpaired_request_gets_the_pairing_notice_and_401() {
    let d = tempdir();
    let store = fixture_store(d.path());
    let s = Serve::start(d.path(), store, &[]);
    let r = s.request("GET", "/", &[], None);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.body.contains("This device is not paired"), "{}", r.body);
    // a forged cookie is no better
    let r = s.request("GET", "/", &[("Cookie", "hearth_session=00112233445566778899aabbccddeeff")], None);
    assert_eq!(r.status, 401);
    // posting without a session changes nothing
    let origin = format!("http://{}", s.addr);
    let r = s.request("POST", "/new", &[("Origin", &origin)], Some(""));
    assert_eq!(r.status, 401);
}

#[test]
fn serve_refuses_a_foreign_host_and_a_cross_origin_post() {
    let d = tempdir();
    let store = fixture_store(d.path());
    let mut s = Serve::start(d.path(), store, &[]);
    let cookie = s.pair();
    let port = s.addr.rsplit(':').next().unwrap().to_string();
    // DNS rebinding: a name that resolves here, a wrong port, no Host at all
    for host in [format!("evil.example:{port}"), "127.0.0.1:1".to_string()] {
        let r = http(&s.addr, "GET", "/", &[("Host", &host), ("Cookie", &cookie)], None);
        assert_eq!(r.status, 421, "Host {host}: {r:?}");
    }
    let r = http(&s.addr, "GET", "/", &[("Cookie", &cookie)], None);
    assert!(r.status == 400 || r.status == 421, "{r:?}");
    // localhost is our name on loopback
    let r = http(&s.addr, "GET", "/", &[("Host", &format!("localhost:{port}")), ("Cookie", &cookie)], None);
    assert_eq!(r.status, 200, "{r:?}");
    // cross-origin POSTs: a foreign Origin, `Origin: null`, a foreign Referer, neither
    let ours = format!("http://{}", s.addr);
    let foreign: [&[(&str, &str)]; 4] = [
        &[("Origin", "http://evil.example")],
        &[("Origin", "null")],
        &[("Referer", "http://evil.example/page")],
        &[],
    ];
    for extra in foreign {
        let mut h = vec![("Cookie", cookie.as_str())];
        h.extend_from_slice(extra);
        let r = s.request("POST", "/new", &h, Some(""));
        assert_eq!(r.status, 403, "{extra:?}: {r:?}");
    }
    // the same POST from our own page is accepted (a new interview: a redirect to it)
    let r = s.request("POST", "/new", &[("Cookie", &cookie), ("Origin", &ours)], Some(""));
    assert_eq!(r.status, 303, "{r:?}");
}

#[test]
fn serve_wrong_codes_lock_the_link_and_a_used_code_fails_twice() {
    let d = tempdir();
    let store = fixture_store(d.path());
    let mut s = Serve::start(d.path(), store, &[]);
    let origin = format!("http://{}", s.addr);
    let (path, code) = s.link.clone();
    let wrong = format!("code={}", wrong_code(&code));
    for left in (1..=4).rev() {
        let r = s.request("POST", &path, &[("Origin", &origin)], Some(&wrong));
        assert_eq!(r.status, 401, "{r:?}");
        assert!(r.body.contains(&format!("{left} attempt(s) left")), "{}", r.body);
    }
    let r = s.request("POST", &path, &[("Origin", &origin)], Some(&wrong));
    assert_eq!(r.status, 403, "the fifth wrong code locks: {r:?}");
    // locked: even the right code fails now
    let r = s.request("POST", &path, &[("Origin", &origin)], Some(&format!("code={code}")));
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.header("set-cookie").is_none());
    // a new link from the console works once
    s.command("pair");
    s.link = s.next_link();
    let cookie = s.pair();
    let r = s.request("GET", "/", &[("Cookie", &cookie)], None);
    assert_eq!(r.status, 200);
    let (path, code) = s.link.clone();
    let r = s.request("POST", &path, &[("Origin", &origin)], Some(&format!("code={code}")));
    assert_eq!(r.status, 404, "a used code: {r:?}");
    assert!(r.header("set-cookie").is_none());
    // the cookie is HttpOnly, SameSite=Strict, for the whole site; 256 random bits
    s.command("pair");
    s.link = s.next_link();
    let (path, code) = s.link.clone();
    let r = s.request("POST", &path, &[("Origin", &origin)], Some(&format!("code={code}")));
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
    let value = set.split(';').next().unwrap().split_once('=').unwrap().1;
    assert_eq!(value.len(), 64);
    // revoked from the console: the cookie stops working
    s.command("devices");
    assert!(s.line().starts_with("1  paired"));
    assert!(s.line().starts_with("2  paired"));
    s.command("revoke 1");
    assert_eq!(s.line(), "device 1 revoked");
    let r = s.request("GET", "/", &[("Cookie", &cookie)], None);
    assert_eq!(r.status, 401);
}

#[test]
fn serve_a_pairing_code_expires() {
    let d = tempdir();
    let store = fixture_store(d.path());
    let mut s = Serve::start(d.path(), store, &["--pair-ttl", "1"]);
    let (path, code) = s.link.clone();
    // no timing is asserted: the link is only tried once it is surely past its second
    std::thread::sleep(Duration::from_millis(1500));
    let r = s.request("GET", &path, &[], None);
    assert_eq!(r.status, 410, "{r:?}");
    let r = s.request("POST", &path, &[("Origin", &format!("http://{}", s.addr))], Some(&format!("code={code}")));
    assert!(r.status == 410 || r.status == 404, "{r:?}");
    assert!(r.header("set-cookie").is_none());
    s.command("pair");
    s.link = s.next_link();
    let _ = s.pair();
}

#[test]
fn serve_every_response_carries_the_security_headers() {
    let d = tempdir();
    let store = fixture_store(d.path());
    let mut s = Serve::start(d.path(), store, &[]);
    let cookie = s.pair();
    let (path, _) = s.link.clone();
    for (p, c) in [
        ("/", cookie.as_str()),
        ("/", ""),
        (path.as_str(), ""),
        ("/static/app.js", ""),
        ("/nowhere", cookie.as_str()),
    ] {
        let r = s.request("GET", p, &[("Cookie", c)], None);
        let csp = r.header("content-security-policy").unwrap_or_else(|| panic!("{p}: no CSP"));
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{p}: {csp}");
        }
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{p}");
        assert!(r.header("referrer-policy").is_some(), "{p}");
        if !p.starts_with("/static") {
            assert_eq!(r.header("cache-control"), Some("no-store"), "{p}");
        }
    }
    let r = http(&s.addr, "GET", "/", &[("Host", "evil.example")], None);
    assert!(r.header("content-security-policy").is_some());
}

#[test]
fn serve_pages_work_as_plain_forms_without_the_script() {
    let d = tempdir();
    let store = fixture_store(d.path());
    let mut s = Serve::start(d.path(), store, &[]);
    let cookie = s.pair();
    let origin = format!("http://{}", s.addr);
    let get = |s: &Serve, path: &str| s.request("GET", path, &[("Cookie", &cookie)], None);
    let post = |s: &Serve, path: &str, body: &str| s.request("POST", path, &[("Cookie", &cookie), ("Origin", &origin)], Some(body));
    let location = |r: &Reply| r.header("location").unwrap_or_else(|| panic!("no redirect: {r:?}")).to_string();

    let r = post(&s, "/new", "");
    assert_eq!(r.status, 303);
    let interview = location(&r);
    let r = get(&s, &interview);
    assert_eq!(r.status, 303);
    let household = location(&r);
    let page = household.split('#').next().unwrap().to_string();
    assert!(page.contains("/r/") && page.ends_with("?page=1"), "{household}");
    let r = get(&s, &page);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for needle in [
        r#"<html lang="en" dir="ltr">"#,
        r#"<label for="q-household_id">"#,
        r#"id="q-household_id" name="a-household_id""#,
        r#"name="given" value="tenure:refused""#,
        r#"name="given" value="tenure:dont_know""#,
        r#"<script src="/static/app.js" defer>"#,
    ] {
        assert!(r.body.contains(needle), "{needle} not in\n{}", r.body);
    }

    // a failed check: the page again (422), the error summary linking to the field, the typed value kept
    let r = post(&s, &page, "a-household_id=H1&a-household_size=3&a-children=5&a-garden=0&go=next");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains(r##"<a href="#q-children">At least one person must be aged 16 or over"##),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"aria-describedby="err-children""#), "{}", r.body);
    assert!(r.body.contains(r#"name="a-children" value="5""#), "{}", r.body);
    // answered again; "Refused" is a button that posts the page and comes back to the question
    let r = post(&s, &page, "a-household_id=H1&a-household_size=3&a-children=1&a-garden=0&given=tenure%3Arefused");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(location(&r).ends_with("#q-tenure"));
    let r = get(&s, &page);
    assert!(r.body.contains(r#"aria-pressed="true">Refused"#), "{}", r.body);
    // garden: yes makes garden_size relevant: not taken as left blank, the page comes back to it
    let shown = "shown=household_id+household_size+children+tenure+garden";
    let r = post(
        &s,
        &page,
        &format!("a-household_id=H1&a-household_size=3&a-children=1&a-garden=1&{shown}&go=next"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(location(&r).ends_with("#q-garden_size"), "{}", location(&r));
    let r = get(&s, &page);
    assert!(
        r.body
            .contains(r#"name="shown" value="household_id household_size children tenure garden garden_size""#),
        "{}",
        r.body
    );
    let r = post(
        &s,
        &page,
        &format!("a-household_id=H1&a-household_size=3&a-children=1&a-garden=1&a-garden_size=2&{shown}+garden_size&go=next"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let roster = location(&r);
    assert!(roster.ends_with("/roster"), "{roster}");

    // the roster names members by their answers
    assert_eq!(post(&s, &format!("{roster}/done"), "").status, 422, "a roster needs someone");
    assert_eq!(post(&s, &format!("{roster}/add"), "name=Ann").status, 303);
    assert_eq!(post(&s, &format!("{roster}/add"), "name=Bob").status, 303);
    let r = get(&s, &roster);
    assert!(r.body.contains("Person 1 (Ann)") && r.body.contains("Person 2 (Bob)"), "{}", r.body);
    // removing needs a reason
    let removes: Vec<String> = r
        .body
        .split("href=\"")
        .filter_map(|x| x.split('"').next())
        .filter(|h| h.contains("/remove/"))
        .map(String::from)
        .collect();
    assert_eq!(removes.len(), 2, "{}", r.body);
    let remove = removes[1].clone();
    assert_eq!(get(&s, &remove).status, 200);
    assert_eq!(post(&s, &remove, "reason=").status, 422);
    assert_eq!(post(&s, &remove, "reason=listed+twice").status, 303);
    let r = get(&s, &roster);
    assert!(!r.body.contains("(Bob)"), "{}", r.body);
    let r = post(&s, &format!("{roster}/done"), "");
    assert_eq!(r.status, 303);
    let ann = location(&r);
    assert!(ann.contains("/r/"), "{ann}");

    // the script's endpoint: saved once; the same sequence number again is a retry
    let member = ann.split("/r/").nth(1).unwrap().split('?').next().unwrap().to_string();
    let answer = format!("{interview}/answer");
    let json = |seq: u64, value: &str| format!(r#"{{"record":"{member}","question":"age","value":"{value}","seq":{seq}}}"#);
    let send = |body: &str| {
        s.request(
            "POST",
            &answer,
            &[("Cookie", &cookie), ("Origin", &origin), ("Content-Type", "application/json")],
            Some(body),
        )
    };
    let r = send(&json(1000, "15"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""accepted":false"#), "{}", r.body);
    let r = send(&json(1001, "34"));
    assert!(r.body.contains(r#""accepted":true"#) && r.body.contains(r#""duplicate":false"#), "{}", r.body);
    let r = send(&json(1001, "34"));
    assert!(r.body.contains(r#""duplicate":true"#), "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // one device at a time: a second device is told where the interview is open
    s.command("pair");
    s.link = s.next_link();
    let other = s.pair();
    let r = s.request("GET", &interview, &[("Cookie", &other)], None);
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.body.contains("open on device 1"), "{}", r.body);
    // let go from the laptop, the second device takes it
    s.command("release");
    assert_eq!(s.line(), "1 interview(s) let go");
    let r = s.request("GET", &interview, &[("Cookie", &other)], None);
    assert_eq!(r.status, 303, "{r:?}");
    // the second device leaves it; the first takes it back
    assert_eq!(
        s.request("POST", &format!("{interview}/leave"), &[("Cookie", &other), ("Origin", &origin)], Some(""))
            .status,
        303
    );
    assert_eq!(get(&s, &interview).status, 303);
    let audit = ok(d.path(), &["audit", store, "--json"]);
    assert!(audit.contains("listed twice"), "the removal's reason is audited:\n{audit}");
}
