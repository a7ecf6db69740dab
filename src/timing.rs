//! Phase timings on stderr for benchmarks: set `HEARTH_TIMING=1` and each named phase of an
//! import, export or analysis prints how long it took. Off by default; costs nothing then.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("HEARTH_TIMING").is_some_and(|v| !v.is_empty() && v != "0"))
}

/// A phase: prints its name and duration when dropped (with `HEARTH_TIMING` set).
pub struct Phase {
    name: &'static str,
    start: Option<Instant>,
}

/// Starts timing a phase.
pub fn phase(name: &'static str) -> Phase {
    Phase {
        name,
        start: enabled().then(Instant::now),
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(s) = self.start {
            // never panics when stderr is closed or full, unlike eprintln!
            let _ = writeln!(std::io::stderr(), "[timing] {}: {:.1} ms", self.name, s.elapsed().as_secs_f64() * 1e3);
        }
    }
}
