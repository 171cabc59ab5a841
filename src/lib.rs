//! # pas-adapter
//!
//! Answers Da Vinci Prior Authorization Support (PAS 2.2.1) `Claim/$submit` requests by
//! deciding each Claim item against the plan's drug policies, kept as data in `profiles/`.
//!
//! Data flows one way: [`pas`] parses and checks the request Bundle, [`evidence`] gathers the
//! clinical facts, [`policy`] decides each item, [`pas`] builds the response Bundle, and
//! [`store`] keeps request and answer. [`service`] strings these together without any HTTP
//! types; [`http`] and the CLI are thin shells over it.

pub mod auth;
pub mod cli;
pub mod config;
pub mod evidence;
pub mod fhir;
pub mod http;
pub mod notify;
pub mod pas;
pub mod policy;
pub mod policy_tests;
pub mod replay;
pub mod review;
pub mod service;
pub mod store;
pub mod telemetry;
