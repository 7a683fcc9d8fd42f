//! Wall time and API requests of the plugin's commands against the test API server on
//! loopback, measured in the same run as the baseline: `kubectl patch` of the same
//! router. Prints a Markdown table for bench/README.md.
//!
//! Run: `cargo bench -p kubectl-bluegreen --bench workflow` (release build of the plugin).

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)] // the bench uses part of the scenarios' harness
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bluegreen_e2e::e2e::Who;
use support::{Env, PLUGIN};
use tokio::process::Command;

/// Timed runs per measurement (each command is also run once, untimed, to warm caches).
const RUNS: usize = 30;

/// One command line to measure.
struct Measured {
    label: String,
    program: String,
    args: Vec<String>,
}

impl Measured {
    fn plugin(label: &str, kubeconfig: &Path, args: &[&str]) -> Self {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--kubeconfig".to_string(), kubeconfig.display().to_string()]);
        Measured {
            label: label.to_string(),
            program: PLUGIN.to_string(),
            args: all,
        }
    }

    fn kubectl(label: &str, kubeconfig: &Path, cache: &Path, args: &[&str]) -> Self {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--kubeconfig".to_string(),
            kubeconfig.display().to_string(),
            "--cache-dir".to_string(),
            cache.display().to_string(),
        ]);
        Measured {
            label: label.to_string(),
            program: "/usr/bin/kubectl".to_string(),
            args: all,
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG");
        command
    }

    /// Runs once; panics with the output when the command fails.
    async fn run(&self) -> Duration {
        let start = Instant::now();
        let output = self.command().stdin(Stdio::null()).output().await.unwrap();
        let elapsed = start.elapsed();
        assert!(
            output.status.success(),
            "{} failed: {}",
            self.label,
            String::from_utf8_lossy(&output.stderr)
        );
        elapsed
    }

    /// The API requests of one run: kubectl logs each at -v=6, the plugin's kube
    /// client at debug level ("requesting").
    async fn requests(&self) -> usize {
        let mut command = self.command();
        if self.program == PLUGIN {
            command.env("RUST_LOG", "kube_client::client::builder=debug");
        } else {
            command.arg("-v=6");
        }
        let output = command.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        stderr
            .lines()
            .filter(|line| {
                if self.program == PLUGIN {
                    line.contains("requesting")
                } else {
                    line.contains("round_trippers") && line.contains(" in ")
                }
            })
            .count()
    }
}

struct Stats {
    median: Duration,
    mean: Duration,
    min: Duration,
}

fn stats(mut times: Vec<Duration>) -> Stats {
    times.sort();
    let total: Duration = times.iter().sum();
    Stats {
        median: times[times.len() / 2],
        mean: total / times.len() as u32,
        min: times[0],
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Times `pair` alternately (e.g. promote, then rollback) so that each run starts from
/// the state the other leaves.
async fn alternate(pair: [&Measured; 2]) -> [Vec<Duration>; 2] {
    for measured in pair {
        measured.run().await;
    }
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for (i, measured) in pair.iter().enumerate() {
            times[i].push(measured.run().await);
        }
    }
    times
}

fn row(label: &str, times: Vec<Duration>, requests: usize) -> String {
    let stats = stats(times);
    format!(
        "| {label} | {} | {} | {} | {requests} |",
        ms(stats.median),
        ms(stats.mean),
        ms(stats.min)
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = Env::start().await;
    env.roll_out("web", "app-green").await;
    let cache = env.dir.path().join("kube-cache");
    let shop = env.kubeconfig(Who::Ci, "shop");
    let web = env.kubeconfig(Who::Ci, "web");
    let selector = |color: &str| format!(r#"{{"spec":{{"selector":{{"color":"{color}"}}}}}}"#);
    let rules = |blue: u32, green: u32| {
        format!(
            r#"{{"spec":{{"rules":[{{"matches":[{{"path":{{"type":"PathPrefix","value":"/"}}}}],"backendRefs":[{{"name":"app-blue","port":80,"weight":{blue}}},{{"name":"app-green","port":80,"weight":{green}}}]}}]}}}}"#
        )
    };
    let (to_green, to_blue) = (selector("green"), selector("blue"));
    let (route_green, route_blue) = (rules(0, 100), rules(100, 0));

    let mut rows = Vec::new();
    for (router, kind, kubeconfig, name, patches) in [
        ("svc/api", "svc", &shop, "api", [&to_green, &to_blue]),
        (
            "httproute/myapp",
            "httproute",
            &web,
            "myapp",
            [&route_green, &route_blue],
        ),
    ] {
        let status = Measured::plugin(
            &format!("`status {router}`"),
            kubeconfig,
            &["status", router],
        );
        let promote = Measured::plugin(
            &format!("`promote {router}`"),
            kubeconfig,
            &["promote", router],
        );
        let rollback = Measured::plugin(
            &format!("`rollback {router}`"),
            kubeconfig,
            &["rollback", router],
        );
        let patch = |label: &str, body: &str| {
            Measured::kubectl(
                label,
                kubeconfig,
                &cache,
                &["patch", kind, name, "--type", "merge", "-p", body],
            )
        };
        let patch_forth = patch(
            &format!("baseline: `kubectl patch {kind} {name}` (merge)"),
            patches[0],
        );
        let patch_back = patch("baseline, back", patches[1]);

        let requests_status = status.requests().await;
        status.run().await;
        let status_times = {
            let mut times = Vec::new();
            for _ in 0..RUNS {
                times.push(status.run().await);
            }
            times
        };
        let requests_promote = promote.requests().await;
        let requests_rollback = rollback.requests().await;
        let [promote_times, rollback_times] = alternate([&promote, &rollback]).await;
        // Warm kubectl's discovery cache first, as on any workstation.
        patch_forth.run().await;
        patch_back.run().await;
        let requests_patch = patch_forth.requests().await;
        patch_back.run().await;
        let [patch_times, _] = alternate([&patch_forth, &patch_back]).await;

        rows.push(row(&status.label, status_times, requests_status));
        rows.push(row(&promote.label, promote_times, requests_promote));
        rows.push(row(&rollback.label, rollback_times, requests_rollback));
        rows.push(row(&patch_forth.label, patch_times, requests_patch));
    }
    let mut version_times = Vec::new();
    for _ in 0..RUNS * 3 {
        let start = Instant::now();
        let output = Command::new(PLUGIN).arg("version").output().await.unwrap();
        assert!(output.status.success());
        version_times.push(start.elapsed());
    }
    rows.push(row("`version` (start-up)", version_times, 0));

    println!("| command | median | mean | min | API requests |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
