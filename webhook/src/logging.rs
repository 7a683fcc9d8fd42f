//! Log lines never hold up a review. They go through a bounded in-memory queue to a
//! writer thread (tracing-appender's non-blocking writer in lossy mode): when stderr is
//! slower than the reviews (a slow pipe, a stalled log collector), lines are dropped and
//! counted in `bluegreen_guard_log_lines_dropped_total`, not waited on.

use std::io::Write;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines held while the writer is behind: a denial storm's second of lines (about 500
/// bytes each), so a burst is kept whole and the queue stays within a couple of MiB.
pub const QUEUED_LINES: usize = 4096;

/// The process's count of dropped lines, once logging is set up.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// A writer for log lines that never blocks: lines beyond [`QUEUED_LINES`] waiting for
/// `writer` are dropped and counted in the returned writer's `error_counter()`. Lines are
/// written while the guard lives; dropping it flushes what is queued.
pub fn non_blocking<W: Write + Send + 'static>(writer: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("bluegreen-guard-log")
        .finish(writer)
}

/// Makes `/metrics` report the lines `writer` dropped. The first writer counts.
pub fn report_drops(writer: &NonBlocking) {
    let _ = DROPPED.set(writer.error_counter());
}

/// Log lines dropped so far because the log's reader was behind.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}
