//! Two promotes at once: exactly one switch, whatever the interleaving.

use bluegreen_e2e::e2e::Who;
use serde_json::json;

use crate::support::{Env, history};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_promotes_switch_exactly_once() {
    let env = Env::start().await;
    let args = ["promote", "svc/api", "--to", "green"];
    let (first, second) = tokio::join!(env.plugin("shop", &args), env.plugin("shop", &args));
    let runs = [&first, &second];
    let switched: Vec<_> = runs
        .iter()
        .filter(|r| r.stdout.contains("switched from blue to green"))
        .collect();
    assert_eq!(switched.len(), 1, "{first:?}\n{second:?}");
    let other = runs
        .iter()
        .find(|r| !r.stdout.contains("switched"))
        .unwrap();
    // The loser either read after the switch (nothing to do) or lost the race (409).
    let lost_race = other.code == 1
        && other.stderr.contains(
            "someone else changed svc/api since it was read; nothing was switched: re-run",
        );
    let already_live = other.code == 0
        && other
            .stdout
            .contains("green is already live; nothing to do");
    assert!(lost_race || already_live, "{other:?}");
    let service = env.service("shop", "api").await;
    assert_eq!(service["spec"]["selector"]["color"], json!("green"));
    assert_eq!(
        history(&service).len(),
        2,
        "one switch recorded besides the fixture's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_is_a_conflict_not_a_second_switch() {
    use bluegreen_plugin::switch::SwitchPlan;
    use policy::manifest::parse;
    use policy::{Snapshot, discover_router};

    let env = Env::start().await;
    // Read the app, then let someone else write the router before our switch lands.
    let shop = env.ns("shop");
    let mut objects: Vec<policy::Object> = Vec::new();
    for which in ["Service/api", "Deployment/api-blue", "Deployment/api-green"] {
        let (kind, name) = which.split_once('/').unwrap();
        let api_version = if kind == "Service" { "v1" } else { "apps/v1" };
        let value = env.get(api_version, kind, "shop", name).await;
        let mut parsed = parse(&serde_json::to_string(&value).unwrap(), which).unwrap();
        objects.push(parsed.objects.remove(0));
    }
    let mut snapshot = Snapshot::new(&shop);
    objects.iter().for_each(|o| snapshot.add(o));
    let app = discover_router(&snapshot, &"svc/api".parse().unwrap()).unwrap();
    let plan = SwitchPlan::new(&app, jiff::Timestamp::now(), None, None).unwrap();
    env.cluster
        .modify("v1", "Service", "shop", "api", |service| {
            service["metadata"]["labels"]["touched"] = json!("yes");
        })
        .await;

    let cluster = bluegreen_plugin::cluster::Cluster {
        client: env.cluster.client(Who::Admin).await,
        namespace: shop.clone(),
    };
    let err = plan
        .apply(&cluster, false, false)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "someone else changed svc/api since it was read; nothing was switched: re-run `kubectl bluegreen promote svc/api -n {shop}` to check the new state"
        )
    );
    assert_eq!(
        env.service("shop", "api").await["spec"]["selector"]["color"],
        json!("blue")
    );
}
