//! Pairing and paired devices: the one-time pairing link and its short code, the session
//! tokens devices hold afterwards, and revoking them. Pure state with the clock passed in, so
//! the rules (lifetime, one use, a few attempts) are unit-tested without a server.
//!
//! Owns no HTTP and no store: the routes (`web/routes.rs`) turn its answers into pages and
//! cookies, and the serve console (the binary's `serve` command, through [`super::Control`])
//! prints codes and lists devices.
//! Secrets are compared through their SHA-256, never kept twice in the clear.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Wrong codes allowed for one pairing link; the next wrong one locks it.
pub const MAX_ATTEMPTS: u32 = 5;

/// Random bytes from the operating system, as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // the OS random source failing is not something a survey server can work around
    getrandom::fill(&mut buf).expect("invariant: the operating system provides random bytes");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A six-digit code, uniform over 000000..=999999.
fn random_code() -> String {
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).expect("invariant: the operating system provides random bytes");
        let n = u32::from_le_bytes(b);
        // reject the top of the range so that every code is equally likely
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// One pairing link: a secret token in its URL and a short code shown on the laptop.
#[derive(Debug, Clone)]
pub struct PairCode {
    /// The token in the one-time URL (`/pair/TOKEN`), 128 random bits as hex.
    pub token: String,
    /// The six-digit code typed on the device.
    pub code: String,
    /// When it stops working.
    pub expires: Instant,
    /// Wrong codes typed so far.
    pub attempts: u32,
}

/// What became of a code typed on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairOutcome {
    /// Paired: the new device's number and its session token (for the cookie).
    Paired {
        /// The device's number, as `devices` lists it.
        device: usize,
        /// The session token (256 random bits as hex).
        session: String,
    },
    /// A wrong code; this many attempts are left.
    WrongCode {
        /// Attempts left on this link.
        left: u32,
    },
    /// A wrong code, the last allowed: the link no longer works.
    Locked,
    /// The link is past its lifetime.
    Expired,
    /// No such link (never made, used already, replaced by a newer one, or locked).
    Unknown,
}

/// A paired device.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its number, from 1, in pairing order; never reused in one run.
    pub number: usize,
    /// What the browser said it is (its User-Agent), for the laptop's list.
    pub label: String,
    /// When it paired (local time, for people).
    pub paired_at: String,
    /// When it was last seen (local time).
    pub last_seen: String,
    /// Revoked from the laptop: its cookie no longer works.
    pub revoked: bool,
    session: [u8; 32],
}

/// The pairing link in force and the paired devices of one serve process.
#[derive(Debug)]
pub struct Pairing {
    ttl: Duration,
    current: Option<PairCode>,
    devices: Vec<Device>,
}

fn local_now() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

impl Pairing {
    /// No link and no devices yet; links live for `ttl`.
    pub fn new(ttl: Duration) -> Pairing {
        Pairing {
            ttl,
            current: None,
            devices: Vec::new(),
        }
    }

    /// A new pairing link, replacing any earlier one (which stops working).
    pub fn new_code(&mut self, now: Instant) -> PairCode {
        let code = PairCode {
            token: random_hex(16),
            code: random_code(),
            expires: now + self.ttl,
            attempts: 0,
        };
        self.current = Some(code.clone());
        code
    }

    /// How long links live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether `token` names the link in force and it has not expired (the pairing page shows
    /// its form only then).
    pub fn link_state(&self, token: &str, now: Instant) -> Option<PairOutcome> {
        match &self.current {
            Some(c) if digest(&c.token) == digest(token) => {
                if now >= c.expires {
                    Some(PairOutcome::Expired)
                } else {
                    None
                }
            }
            _ => Some(PairOutcome::Unknown),
        }
    }

    /// A device at the link `token` typed `code`. A right code pairs it and uses the link up;
    /// a wrong one counts, and the fifth locks the link.
    pub fn try_code(&mut self, token: &str, code: &str, label: &str, now: Instant) -> PairOutcome {
        if let Some(state) = self.link_state(token, now) {
            if state == PairOutcome::Expired {
                self.current = None;
            }
            return state;
        }
        let Some(c) = self.current.as_mut() else {
            return PairOutcome::Unknown;
        };
        if digest(code.trim()) != digest(&c.code) {
            c.attempts += 1;
            if c.attempts >= MAX_ATTEMPTS {
                self.current = None;
                return PairOutcome::Locked;
            }
            return PairOutcome::WrongCode {
                left: MAX_ATTEMPTS - c.attempts,
            };
        }
        self.current = None;
        let session = random_hex(32);
        let number = self.devices.len() + 1;
        let label: String = label.chars().filter(|c| !c.is_control()).take(120).collect();
        self.devices.push(Device {
            number,
            label: if label.is_empty() { "unknown browser".into() } else { label },
            paired_at: local_now(),
            last_seen: local_now(),
            revoked: false,
            session: digest(&session),
        });
        PairOutcome::Paired { device: number, session }
    }

    /// The device holding session token `session`, if it is paired and not revoked; marks it
    /// seen.
    pub fn device(&mut self, session: &str) -> Option<usize> {
        let d = digest(session);
        let dev = self.devices.iter_mut().find(|x| !x.revoked && x.session == d)?;
        dev.last_seen = local_now();
        Some(dev.number)
    }

    /// The paired devices, revoked ones included (marked).
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// Revokes device `number`; false when there is no such device or it was revoked already.
    pub fn revoke(&mut self, number: usize) -> bool {
        match self.devices.iter_mut().find(|d| d.number == number && !d.revoked) {
            Some(d) => {
                d.revoked = true;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paired(p: &mut Pairing, now: Instant) -> String {
        let c = p.new_code(now);
        match p.try_code(&c.token, &c.code, "test", now) {
            PairOutcome::Paired { session, .. } => session,
            o => panic!("not paired: {o:?}"),
        }
    }

    #[test]
    fn a_right_code_pairs_once_and_the_session_works_until_revoked() {
        let now = Instant::now();
        let mut p = Pairing::new(Duration::from_secs(600));
        let c = p.new_code(now);
        assert_eq!(c.code.len(), 6);
        assert_eq!(c.token.len(), 32);
        let PairOutcome::Paired { device, session } = p.try_code(&c.token, &c.code, "tablet", now) else {
            panic!("not paired")
        };
        assert_eq!(session.len(), 64);
        assert_eq!(p.device(&session), Some(device));
        // the link is used up
        assert_eq!(p.try_code(&c.token, &c.code, "other", now), PairOutcome::Unknown);
        assert!(p.revoke(device));
        assert_eq!(p.device(&session), None);
        assert!(!p.revoke(device));
    }

    #[test]
    fn five_wrong_codes_lock_the_link() {
        let now = Instant::now();
        let mut p = Pairing::new(Duration::from_secs(600));
        let c = p.new_code(now);
        let wrong = if c.code == "000000" { "111111" } else { "000000" };
        for left in (1..MAX_ATTEMPTS).rev() {
            assert_eq!(p.try_code(&c.token, wrong, "x", now), PairOutcome::WrongCode { left });
        }
        assert_eq!(p.try_code(&c.token, wrong, "x", now), PairOutcome::Locked);
        // even the right code is refused now
        assert_eq!(p.try_code(&c.token, &c.code, "x", now), PairOutcome::Unknown);
    }

    #[test]
    fn a_link_expires_and_a_new_one_replaces_the_old() {
        let now = Instant::now();
        let mut p = Pairing::new(Duration::from_secs(600));
        let c = p.new_code(now);
        let later = now + Duration::from_secs(601);
        assert_eq!(p.try_code(&c.token, &c.code, "x", later), PairOutcome::Expired);
        let c1 = p.new_code(now);
        let c2 = p.new_code(now);
        assert_eq!(p.try_code(&c1.token, &c1.code, "x", now), PairOutcome::Unknown);
        assert!(matches!(p.try_code(&c2.token, &c2.code, "x", now), PairOutcome::Paired { .. }));
    }

    #[test]
    fn sessions_are_distinct_and_unknown_tokens_are_refused() {
        let now = Instant::now();
        let mut p = Pairing::new(Duration::from_secs(600));
        let a = paired(&mut p, now);
        let b = paired(&mut p, now);
        assert_ne!(a, b);
        assert_eq!(p.device(&a), Some(1));
        assert_eq!(p.device(&b), Some(2));
        assert_eq!(p.device("00"), None);
        assert_eq!(p.devices().len(), 2);
    }
}
