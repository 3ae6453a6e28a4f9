//! Reporters: they read a finished report (or events) and write output.
//! Nothing here decides a verdict.

pub mod console;
pub mod junit;
pub mod load;

use std::path::Path;

use anyhow::Context as _;

/// Writes a file, creating its directory; reports must never be lost to a
/// missing `reports/` folder.
pub fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

/// Removes characters XML 1.0 cannot carry (quick-junit strips C0 controls;
/// U+FFFE and U+FFFF slip through it and break strict parsers).
pub fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !matches!(c, '\u{FFFE}' | '\u{FFFF}')
                && (!c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        })
        .collect()
}
