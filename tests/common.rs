//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// The shipped household survey definition.
pub fn survey_definition() -> PathBuf {
    root().join("schemas/household-health-survey.yaml")
}

/// Runs the `hearth` binary with `args` in `dir`.
pub fn hearth(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .current_dir(dir)
        .env("HEARTH_USER", "test")
        .output()
        .expect("run hearth")
}

/// Runs hearth and asserts success; returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = hearth(dir, args);
    assert!(
        out.status.success(),
        "hearth {:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        args,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs hearth and asserts the exit code; returns stderr.
pub fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = hearth(dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "hearth {:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Runs hearth in `dir` as user `user` with `input` piped to its standard input; asserts that
/// it succeeds and returns its standard output and error.
pub fn piped(dir: &Path, user: &str, args: &[&str], input: &str) -> (String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .current_dir(dir)
        .env("HEARTH_USER", user)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
