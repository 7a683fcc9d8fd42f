//! The krew manifest installs this binary at this version.

#[test]
fn the_krew_manifest_matches_the_crate() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/krew/bluegreen.yaml");
    let manifest: serde_json::Value =
        policy::yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        manifest["metadata"]["name"], "bluegreen",
        "kubectl finds it as `kubectl bluegreen`"
    );
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["spec"]["version"].as_str(), Some(version.as_str()));
    let platforms = manifest["spec"]["platforms"].as_array().unwrap();
    assert!(!platforms.is_empty());
    // Only a platform these tests run on is shipped: one nobody compiles would ship unchecked.
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    for platform in platforms {
        let labels = &platform["selector"]["matchLabels"];
        assert_eq!(labels["os"].as_str(), Some(std::env::consts::OS));
        assert_eq!(labels["arch"].as_str(), Some(arch));
        assert_eq!(platform["bin"].as_str(), Some("kubectl-bluegreen"));
        let uri = platform["uri"].as_str().unwrap();
        assert!(uri.contains(&format!("/download/{version}/")), "{uri}");
        assert!(
            uri.contains(&format!("{}-unknown-linux-gnu", std::env::consts::ARCH)),
            "{uri}"
        );
    }
}
