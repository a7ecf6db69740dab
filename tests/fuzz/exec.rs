//! Running one case of the real binary under watch: wall clock, peak memory, exit code or
//! signal, stdout and stderr kept in files.
//!
//! Peak memory is the child's `VmHWM` from `/proc/PID/status`, read every millisecond or two
//! while it runs (the high-water mark only grows, so a late read still sees an earlier peak).
//! `ru_maxrss` from `wait4` cannot serve: exec records the high-water mark of the image it
//! replaces, which is the forked copy of this test process, far bigger than `hearth`.
//! A child above the kill limit is killed before it can take the machine down.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall clock after which the child is killed.
    pub time: Duration,
    /// Resident memory (bytes) above which the child is killed.
    pub kill_rss: u64,
}

/// Why the watcher killed the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Killed {
    /// It ran past the time limit.
    Time,
    /// Its resident memory passed the kill limit.
    Memory,
}

/// What one run did.
#[derive(Debug)]
pub struct Run {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Whether the watcher killed it.
    pub killed: Option<Killed>,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error (empty when it went to /dev/full).
    pub stderr: Vec<u8>,
    /// Wall clock.
    pub wall: Duration,
    /// Peak resident memory in bytes (as last seen).
    pub max_rss: u64,
}

/// Runs `hearth ARGS` in `dir`; stderr goes to /dev/full when `stderr_full`.
pub fn run(dir: &Path, args: &[OsString], stderr_full: bool, limits: Limits) -> Run {
    let out_path = dir.join(".fuzz-stdout");
    let err_path = dir.join(".fuzz-stderr");
    let stdout = File::create(&out_path).expect("create stdout file");
    let stderr = if stderr_full {
        std::fs::OpenOptions::new().write(true).open("/dev/full").expect("open /dev/full")
    } else {
        File::create(&err_path).expect("create stderr file")
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth"));
    cmd.args(args)
        .current_dir(dir)
        .env("HEARTH_USER", "fuzz")
        .env_remove("HEARTH_TIMING")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // SAFETY: the hook only calls setrlimit, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            // an abort must not leave a core file behind in the case directory
            let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        });
    }
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn hearth");
    let pid = child.id() as libc::pid_t;
    let mut killed = None;
    let mut status: libc::c_int = 0;
    let mut nap = Duration::from_micros(200);
    let mut peak = 0;
    loop {
        // SAFETY: pid is our own child, not yet reaped; status is a valid pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        assert!(r == 0, "waitpid failed: {}", std::io::Error::last_os_error());
        let (rss, hwm) = memory(pid).unwrap_or((0, 0));
        peak = peak.max(hwm);
        if killed.is_none() {
            if start.elapsed() > limits.time {
                killed = Some(Killed::Time);
            } else if rss > limits.kill_rss {
                killed = Some(Killed::Memory);
            }
            if killed.is_some() {
                // SAFETY: signalling our own unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(2));
    }
    let wall = start.elapsed();
    // the child is reaped: std's handle must not wait for it again
    drop(child);
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Run {
        code,
        signal,
        killed,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: if stderr_full {
            Vec::new()
        } else {
            std::fs::read(&err_path).unwrap_or_default()
        },
        wall,
        max_rss: peak,
    }
}

/// The resident memory of a live process and its high-water mark, from /proc.
fn memory(pid: libc::pid_t) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        let line = s.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((kb("VmRSS:")? * 1024, kb("VmHWM:")? * 1024))
}
