//! The backend under test.
