//! Helpers shared by the store test suites.

pub mod db;
