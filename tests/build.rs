//! Marks the end-to-end scenarios that need a stand-in only the test API server has as ignored,
//! with their reason, when they run against a real cluster: `cargo test` then counts them in its
//! summary instead of passing them silently. Shared with the plugin's scenarios
//! (`plugin/Cargo.toml` names this file as its build script too).
//! - `e2e_real_cluster`: `BLUEGREEN_E2E_KUBECONFIG` names a real cluster;
//! - `e2e_remote_guard`: and `BLUEGREEN_E2E_GUARD_URL` names a guard this machine does not run.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(e2e_real_cluster, e2e_remote_guard)");
    println!("cargo::rerun-if-env-changed=BLUEGREEN_E2E_KUBECONFIG");
    println!("cargo::rerun-if-env-changed=BLUEGREEN_E2E_GUARD_URL");
    let real = std::env::var_os("BLUEGREEN_E2E_KUBECONFIG").is_some();
    if real {
        println!("cargo::rustc-cfg=e2e_real_cluster");
    }
    if real && std::env::var_os("BLUEGREEN_E2E_GUARD_URL").is_some() {
        println!("cargo::rustc-cfg=e2e_remote_guard");
    }
}
