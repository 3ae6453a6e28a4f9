//! Reporters: they read a finished report (or events) and write output.
//! Nothing here decides a verdict.
//!
//! Organised by format, because a format is what has rules to keep (an
//! escaper, a schema, a reader's habits) and one owner per format keeps
//! them in one place: `console` (the terminal), `github` (job-summary
//! Markdown and annotations), `junit/`, `html/` (report.html and its
//! regression section; the trend page), `summary` (summary.json), `hgrm`
//! (HdrHistogram percentile text), `regress` (the regression verdict's text
//! faces and the words every format shares), `schedule` (the open model's
//! schedule line and table). `write` puts a load run's files into its
//! directory; `escape` holds every escaper.

pub mod console;
pub mod escape;
pub mod github;
pub mod hgrm;
pub mod html;
pub mod junit;
pub mod regress;
pub mod schedule;
pub mod summary;
pub mod write;

use std::path::Path;

use anyhow::Context as _;

/// Writes a file, creating its directory (reports must never be lost to a
/// missing `reports/` folder), with the run's secrets masked in its name
/// and its contents.
pub fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    write_redacted(path, &crate::secrets::global().redact_bytes(contents))
}

/// For documents already redacted field by field (summary.json, whose
/// base64 histograms a byte-level mask could corrupt; the interval log).
pub fn write_redacted(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let path = match path.file_name().map(|n| n.to_string_lossy()) {
        Some(name) => match crate::secrets::redact(&name) {
            std::borrow::Cow::Owned(r) => path.with_file_name(r.replace('/', "_")),
            std::borrow::Cow::Borrowed(_) => path.to_path_buf(),
        },
        None => path.to_path_buf(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
}

/// Makes sure a report file can be written before the run it reports on
/// starts: its directory is created and a probe file written and removed.
pub fn check_writable(file: &Path) -> anyhow::Result<()> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    check_dir_writable(dir)
}

/// Creates `dir` if needed and proves it takes a file.
pub fn check_dir_writable(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = dir.join(format!(".postdeploy-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("{} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
