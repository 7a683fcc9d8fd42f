//! Keeping the [`Cache`] current with kube-runtime watchers, one per kind, so that no
//! admission decision ever waits for the API server.

use futures::StreamExt;
use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use policy::BlueGreenPolicy;
use tokio::task::JoinSet;

use crate::cache::{Cache, CacheKind, Cached};
use crate::error::Result;

/// Starts one watcher per kind on `tasks`, and returns the cache they fill. HTTPRoutes
/// are watched only when the API server serves the Gateway API; without it they count
/// as synced and empty.
pub async fn start(client: Client, tasks: &mut JoinSet<()>) -> Result<Cache> {
    let cache = Cache::syncing(&CacheKind::ALL);
    spawn::<Deployment>(&client, &cache, tasks);
    spawn::<Service>(&client, &cache, tasks);
    spawn::<NetworkPolicy>(&client, &cache, tasks);
    spawn::<HorizontalPodAutoscaler>(&client, &cache, tasks);
    spawn::<Namespace>(&client, &cache, tasks);
    spawn::<BlueGreenPolicy>(&client, &cache, tasks);
    if serves_gateway_api(&client).await? {
        spawn::<HttpRoute>(&client, &cache, tasks);
    } else {
        tracing::info!(
            "the API server does not serve gateway.networking.k8s.io/v1; HTTPRoutes are not watched (restart the guard after installing the Gateway API CRDs)"
        );
        cache.mark_synced(CacheKind::HttpRoute);
    }
    Ok(cache)
}

async fn serves_gateway_api(client: &Client) -> Result<bool> {
    let api_version = HttpRoute::api_version(&());
    match client.list_api_group_resources(&api_version).await {
        Ok(resources) => Ok(resources.resources.iter().any(|r| r.name == "httproutes")),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(err) => Err(err.into()),
    }
}

fn spawn<K: Cached>(client: &Client, cache: &Cache, tasks: &mut JoinSet<()>) {
    tasks.spawn(feed::<K>(Api::all(client.clone()), cache.clone()));
}

/// Applies one kind's watch events to the cache until the stream ends. A relist is
/// buffered and swapped in whole, so a decision never sees half a list.
async fn feed<K: Cached>(api: Api<K>, cache: Cache) {
    let kind = K::KIND.plural();
    let events = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(events);
    let mut relist: Vec<K> = Vec::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => relist.clear(),
            Ok(watcher::Event::InitApply(object)) => {
                report_problems(&object);
                relist.push(object);
            }
            Ok(watcher::Event::InitDone) => {
                let objects = std::mem::take(&mut relist);
                let count = objects.len();
                cache.write().replace_all(objects);
                if !cache.syncing_kinds().is_empty() {
                    tracing::info!(kind, count, "cache synced");
                }
                cache.mark_synced(K::KIND);
            }
            Ok(watcher::Event::Apply(object)) => {
                report_problems(&object);
                cache.write().apply(object);
            }
            Ok(watcher::Event::Delete(object)) => cache.write().delete(&object),
            Err(err) => tracing::warn!(kind, error = %err, "watch failed; retrying with backoff"),
        }
    }
}

/// Logs an object the cache keeps but decisions skip (a BlueGreenPolicy that does not
/// parse): its author must hear about it when it is stored, not on every review.
fn report_problems<K: Cached>(object: &K) {
    if let Some(problem) = object.problem() {
        tracing::error!(kind = K::KIND.plural(), error = %problem, "object ignored by decisions");
    }
}
