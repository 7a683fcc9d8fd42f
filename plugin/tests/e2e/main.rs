//! End-to-end scenarios: the real `kubectl-bluegreen` binary (and the real `kubectl`)
//! against the in-process test API server of the `bluegreen-e2e` crate. They live in
//! the plugin crate so that Cargo builds the binary for them (`CARGO_BIN_EXE_*`).

mod support;

mod adoption;
mod concurrency;
mod connection;
mod faults;
mod gates;
mod identity;
mod kubectl;
mod refusals;
mod release;
mod signed;
mod verify;
mod watch;
