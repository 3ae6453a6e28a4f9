//! Run history: every finished `load` and `verify` run is recorded, so a
//! deploy can be judged against the deploys before it
//! ([`crate::verdict::regress`]) and trends can be drawn across them.
//!
//! - [`record`]: a run as the history keeps it, whatever its source;
//! - [`fingerprint`]: which runs may be compared;
//! - [`store`]: SQLite or PostgreSQL, one schema;
//! - [`files`]: a run read back from its report directory.

pub mod files;

pub mod store;

pub use crate::record::Fingerprint;
pub use crate::record::{LoadRecord, RunKind, RunMeta, VerifyRecord};
pub use store::{HistoryError, Location, Store};

/// Where the history lives: `--history`, else `POSTDEPLOY_HISTORY`, else
/// [`store::DEFAULT_PATH`].
pub fn location(flag: Option<&str>) -> Location {
    Location::parse(flag.unwrap_or(store::DEFAULT_PATH))
}
