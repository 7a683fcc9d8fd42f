//! The binaries scenarios run: kubectl and the workspace's own, and their output as text.

use std::path::{Path, PathBuf};
use std::process::Output;

/// The kubectl binary: the machine's, else the one `.ci/tools.sh` installs.
pub fn kubectl() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.exists())
    });
    on_path.unwrap_or_else(|| crate::chart::repo().join(".ci/cache/bin/kubectl"))
}

/// A binary of this workspace (`bluegreen-guard`, `kubectl-bluegreen`), built beside
/// the test binary by `cargo test --workspace` (or `cargo build --workspace --bins`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("current exe");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (the README's test command does)",
        path.display()
    );
    path
}

/// stderr of a command, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// stdout of a command, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
