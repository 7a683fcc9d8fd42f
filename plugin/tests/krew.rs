//! The krew manifest installs this binary at this version.

#[test]
fn the_krew_manifest_matches_the_crate() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/krew/bluegreen.yaml");
    let manifest: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        manifest["metadata"]["name"], "bluegreen",
        "kubectl finds it as `kubectl bluegreen`"
    );
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["spec"]["version"].as_str(), Some(version.as_str()));
    let platforms = manifest["spec"]["platforms"].as_sequence().unwrap();
    assert!(!platforms.is_empty());
    for platform in platforms {
        let bin = platform["bin"].as_str().unwrap();
        assert!(
            bin == "kubectl-bluegreen" || bin == "kubectl-bluegreen.exe",
            "{bin}"
        );
        let uri = platform["uri"].as_str().unwrap();
        assert!(uri.contains(&format!("/download/{version}/")), "{uri}");
    }
}
