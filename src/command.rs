//! Running a local program for a command step: its own process group (so a
//! timeout or a signal kills everything it started, not just the leader),
//! stdout and stderr read concurrently and capped (a flood is read and
//! dropped, never held), and a deadline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Default for a step without `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for a step without `max_output`: per stream.
pub const DEFAULT_MAX_OUTPUT: u64 = 10 * 1024 * 1024;

/// A rendered command, ready to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The program and its arguments (`sh -c LINE` for a shell command).
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub timeout: Duration,
    pub max_output: u64,
}

/// What the program did.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes read past `max_output` and dropped.
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("program `{0}` not found")]
    NotFound(String),
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("timed out after {}: its process group was killed", crate::measure::fmt_duration(*.0))]
    Timeout(Duration, Box<Output>),
    #[error("cannot wait for the program: {0}")]
    Wait(std::io::Error),
}

/// Kills the process group when dropped: a step future dropped by a
/// signal (or a timeout) must not leave the program running.
struct Group(Option<i32>);

impl Group {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: killpg only sends a signal; an already gone group
            // is ESRCH, which is fine.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a stream to its end, keeping at most `cap` bytes.
async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: u64) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len() as u64) as usize;
                let take = room.min(n);
                kept.extend_from_slice(&buf[..take]);
                dropped += (n - take) as u64;
            }
        }
    }
    (kept, dropped)
}

/// Runs the program to its end or its deadline. Dropping the future kills
/// the process group.
pub async fn run(spec: &Spec) -> Result<Output, RunError> {
    let t0 = Instant::now();
    let program = spec.argv.first().cloned().unwrap_or_default();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&spec.argv[1.min(spec.argv.len())..])
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(d) = &spec.cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if spec.cwd.as_ref().is_none_or(|d| d.is_dir()) => {
            RunError::NotFound(program.clone())
        }
        _ => RunError::Spawn {
            program: program.clone(),
            source: e,
        },
    })?;
    let mut group = Group(child.id().and_then(|p| i32::try_from(p).ok()));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let cap = spec.max_output;
    let out_task = tokio::spawn(async move {
        match stdout {
            Some(s) => read_capped(s, cap).await,
            None => (Vec::new(), 0),
        }
    });
    let err_task = tokio::spawn(async move {
        match stderr {
            Some(s) => read_capped(s, cap).await,
            None => (Vec::new(), 0),
        }
    });
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let status = tokio::time::timeout_at(deadline, child.wait()).await;
    // The leader is gone (or late): what it left behind in its group goes
    // too, which also closes the pipes the readers wait on.
    group.kill();
    // A descendant that left the group may still hold a pipe open: what
    // was read by then is all there is.
    let settle = Duration::from_secs(2);
    let (stdout, stdout_dropped) = joined(out_task, settle).await;
    let (stderr, stderr_dropped) = joined(err_task, settle).await;
    let mut out = Output {
        exit_code: None,
        signal: None,
        stdout,
        stderr,
        stdout_dropped,
        stderr_dropped,
        duration: t0.elapsed(),
    };
    match status {
        Err(_) => {
            let _ = child.wait().await;
            Err(RunError::Timeout(spec.timeout, Box::new(out)))
        }
        Ok(Err(e)) => Err(RunError::Wait(e)),
        Ok(Ok(st)) => {
            use std::os::unix::process::ExitStatusExt as _;
            out.exit_code = st.code();
            out.signal = st.signal();
            Ok(out)
        }
    }
}

async fn joined(task: tokio::task::JoinHandle<(Vec<u8>, u64)>, within: Duration) -> (Vec<u8>, u64) {
    let abort = task.abort_handle();
    match tokio::time::timeout(within, task).await {
        Ok(r) => r.unwrap_or_default(),
        Err(_) => {
            abort.abort();
            (Vec::new(), 0)
        }
    }
}
