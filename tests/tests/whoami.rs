//! `SelfSubjectReview` (`kubectl auth whoami`): the caller's identity as the server saw it.

mod common;

use common::{Kubectl, capture_server, raw};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};
use serde_json::Value;

const PATH: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

#[tokio::test]
async fn kube_rs_reads_its_own_identity() {
    let server = capture_server().await;
    let client = server
        .client("system:serviceaccount:ci:deployer")
        .await
        .unwrap();
    let reviews: Api<SelfSubjectReview> = Api::all(client);
    let review = reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user = review.status.unwrap().user_info.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:ci:deployer")
    );
    assert_eq!(user.uid.as_deref(), Some("serviceaccount-ci-deployer-uid"));
    assert_eq!(
        user.groups.unwrap(),
        [
            "system:serviceaccounts",
            "system:serviceaccounts:ci",
            "system:authenticated"
        ]
    );
    let extra = user.extra.unwrap();
    assert_eq!(
        extra["authentication.kubernetes.io/credential-id"],
        ["JTI=ci-deployer-token"]
    );
}

#[tokio::test]
async fn the_review_is_created_not_stored() {
    let server = capture_server().await;
    let created = raw(
        &server,
        "alice",
        "POST",
        PATH,
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.body,
        r#"{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1","metadata":{},"status":{"userInfo":{"username":"alice","uid":"alice-uid","groups":["system:authenticated"]}}}"#
    );
    let listed = raw(&server, "alice", "GET", PATH, None, "").await;
    assert_eq!(listed.status, 405);

    let discovery = raw(
        &server,
        "alice",
        "GET",
        "/apis/authentication.k8s.io/v1",
        None,
        "",
    )
    .await;
    let resources = discovery.json()["resources"].clone();
    assert_eq!(resources[0]["name"], "selfsubjectreviews");
    assert_eq!(resources[0]["verbs"], serde_json::json!(["create"]));
    let groups = raw(&server, "alice", "GET", "/apis", None, "").await.json();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(names.contains(&"authentication.k8s.io"), "{names:?}");
}

#[tokio::test]
async fn kubectl_auth_whoami() {
    let server = capture_server().await;
    let kubectl = Kubectl::new(&server, "system:serviceaccount:ci:deployer");
    let json = kubectl.run(&["auth", "whoami", "-o", "json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let review: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(review["kind"], "SelfSubjectReview");
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], "system:serviceaccount:ci:deployer");
    assert_eq!(user["groups"][2], "system:authenticated");

    let table = kubectl.run(&["auth", "whoami"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<Vec<&str>> = table
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["ATTRIBUTE", "VALUE"], "{}", table.stdout);
    assert_eq!(
        lines[1],
        ["Username", "system:serviceaccount:ci:deployer"],
        "{}",
        table.stdout
    );
}
