//! The HTML pages: report.html of a load run (with its regression
//! section) and the history's trend page. Self-contained (inline CSS and
//! SVG, no script, no font or CDN) because people open them from CI
//! artifacts on runners with no internet.

pub mod load;
pub mod regress;
pub mod trend;
