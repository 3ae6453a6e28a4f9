//! Where a load run's reports go: `--out DIR`, or by default a fresh
//! `reports/<UTC timestamp>/` with `reports/latest` pointing at it, so CI can
//! archive `reports/latest` without knowing the timestamp.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// `reports/20261128T011500Z` for a run started at `now`.
pub fn default_dir(now: chrono::DateTime<chrono::Utc>) -> PathBuf {
    Path::new("reports").join(now.format("%Y%m%dT%H%M%SZ").to_string())
}

/// Points `<parent of dir>/latest` at `dir` (a relative symlink, replaced if
/// it exists; elsewhere than Unix a text file holding the directory name).
pub fn link_latest(dir: &Path) -> anyhow::Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .context("the report directory has no name")?;
    let latest = parent.join("latest");
    if latest.symlink_metadata().is_ok() {
        std::fs::remove_file(&latest).with_context(|| format!("replacing {}", latest.display()))?;
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(name, &latest)
        .with_context(|| format!("linking {}", latest.display()))?;
    #[cfg(not(unix))]
    std::fs::write(&latest, name.to_string_lossy().as_bytes())
        .with_context(|| format!("writing {}", latest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_points_at_the_newest_run() {
        let root = tempfile::tempdir().unwrap();
        for n in ["a", "b"] {
            let d = root.path().join(n);
            std::fs::create_dir_all(&d).unwrap();
            link_latest(&d).unwrap();
        }
        let target = std::fs::read_link(root.path().join("latest")).unwrap();
        assert_eq!(target, PathBuf::from("b"));
    }
}
