//! Logging never holds up a review: with the log's reader stalled, lines beyond the queue
//! are dropped and counted (and reported on `/metrics`), and writing returns at once.

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use bluegreen_guard::Cache;
use bluegreen_guard::logging::{self, QUEUED_LINES};
use bluegreen_guard::metrics::Metrics;

/// A log reader that takes nothing until `release` is sent, then keeps every line.
struct StalledReader {
    release: Arc<Mutex<mpsc::Receiver<()>>>,
    released: bool,
    lines: Arc<Mutex<usize>>,
}

impl Write for StalledReader {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.released {
            let _ = self.release.lock().unwrap().recv();
            self.released = true;
        }
        *self.lines.lock().unwrap() += buf.iter().filter(|&&b| b == b'\n').count();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stalled_reader_costs_lines_not_waiting() {
    let (release, on_release) = mpsc::channel();
    let lines = Arc::new(Mutex::new(0));
    let reader = StalledReader {
        release: Arc::new(Mutex::new(on_release)),
        released: false,
        lines: lines.clone(),
    };
    let (mut writer, flush_on_drop) = logging::non_blocking(reader);
    logging::report_drops(&writer);
    let sent = QUEUED_LINES + 100;
    // Were a write to wait for the stalled reader, this loop would never end.
    for i in 0..sent {
        writer
            .write_all(format!("{{\"msg\":\"denied\",\"n\":{i}}}\n").as_bytes())
            .unwrap();
    }
    let dropped = writer.error_counter().dropped_lines();
    // The queue holds QUEUED_LINES; the writer thread may hold one more, blocked.
    assert!((99..=100).contains(&dropped), "dropped {dropped}");
    assert_eq!(logging::dropped_lines(), dropped as u64);
    let metrics = Metrics::default().render(&Cache::default());
    assert!(
        metrics.contains(&format!(
            "# TYPE bluegreen_guard_log_lines_dropped counter\nbluegreen_guard_log_lines_dropped_total {dropped}\n"
        )),
        "{metrics}"
    );

    release.send(()).unwrap();
    drop(flush_on_drop);
    // Every line was either written once the reader caught up, or counted as dropped.
    assert_eq!(*lines.lock().unwrap() + dropped, sent);
}
