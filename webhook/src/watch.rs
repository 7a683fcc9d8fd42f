//! Keeping the [`Cache`] current with kube-runtime watchers, one per kind, so that no
//! admission decision ever waits for the API server.

use std::time::Duration;

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

/// How often the guard asks whether the API server serves the Gateway API, until it
/// does: CRDs installed after the guard started are picked up without a restart.
pub const GATEWAY_API_RECHECK: Duration = Duration::from_secs(30);

/// Starts one watcher per kind on `tasks`, and returns the cache they fill. Nothing
/// here waits for the API server: an unreachable one leaves the cache syncing (each
/// watcher retries with backoff) while the guard already serves probes and answers
/// reviews per `--unsynced`.
///
/// HTTPRoutes are watched once discovery shows the API server serves the Gateway API;
/// until then they count as synced and empty, and discovery is asked again every
/// [`GATEWAY_API_RECHECK`].
pub fn start(client: Client, tasks: &mut JoinSet<()>) -> Cache {
    let cache = Cache::syncing(&CacheKind::ALL);
    spawn::<Deployment>(&client, &cache, tasks);
    spawn::<Service>(&client, &cache, tasks);
    spawn::<NetworkPolicy>(&client, &cache, tasks);
    spawn::<HorizontalPodAutoscaler>(&client, &cache, tasks);
    spawn::<Namespace>(&client, &cache, tasks);
    spawn::<BlueGreenPolicy>(&client, &cache, tasks);
    tasks.spawn(watch_routes_once_served(
        client,
        cache.clone(),
        GATEWAY_API_RECHECK,
    ));
    cache
}

/// Asks discovery for the Gateway API until it is served, then feeds HTTPRoutes.
///
/// An API server that cannot be asked keeps HTTPRoutes syncing (nothing is known yet);
/// one that answers without the Gateway API marks them synced and empty. When the CRDs
/// appear later, the watcher starts and its initial list replaces the empty shelf
/// without making the guard unready: there were no routes to miss.
async fn watch_routes_once_served(client: Client, cache: Cache, recheck: Duration) {
    let mut said_absent = false;
    loop {
        match serves_gateway_api(&client).await {
            Ok(true) => {
                tracing::info!(
                    "the API server serves gateway.networking.k8s.io/v1; watching HTTPRoutes"
                );
                return feed::<HttpRoute>(Api::all(client), cache).await;
            }
            Ok(false) => {
                if !said_absent {
                    tracing::info!(
                        recheck = ?recheck,
                        "the API server does not serve gateway.networking.k8s.io/v1; HTTPRoutes are not watched until it does"
                    );
                    said_absent = true;
                }
                cache.mark_synced(CacheKind::HttpRoute);
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot ask the API server whether it serves the Gateway API; retrying")
            }
        }
        tokio::time::sleep(recheck).await;
    }
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
/// buffered (trimmed) and swapped in whole, so a decision never sees half a list.
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
                // Trimmed at once: a relist of 10,000 full Deployments would double
                // the guard's memory while it is buffered.
                relist.push(object.trim());
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

/// Logs an object the cache keeps but decisions cannot use as written (stored while
/// the guard was not checking writes): its author must hear about it when it is
/// stored, not on every review.
fn report_problems<K: Cached>(object: &K) {
    if let Some(problem) = object.problem() {
        tracing::error!(kind = K::KIND.plural(), error = %problem, "object cannot be used as written");
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Bytes;
    use axum::http::{Request, Response, StatusCode};
    use http_body_util::Full;
    use serde_json::json;

    use super::*;

    /// An API server that serves the Gateway API once `served` is set, with one
    /// HTTPRoute, and whose watches never send anything.
    fn api_server(served: Arc<AtomicBool>) -> Client {
        let service = tower::service_fn(move |request: Request<kube::client::Body>| {
            let served = served.load(Ordering::SeqCst);
            let path = request.uri().path().to_string();
            let watch = request.uri().query().unwrap_or("").contains("watch=true");
            async move {
                let (status, body) = match path.as_str() {
                    "/apis/gateway.networking.k8s.io/v1" if served => (
                        StatusCode::OK,
                        json!({"kind": "APIResourceList", "apiVersion": "v1",
                               "groupVersion": "gateway.networking.k8s.io/v1",
                               "resources": [{"name": "httproutes", "singularName": "httproute",
                                              "namespaced": true, "kind": "HTTPRoute",
                                              "verbs": ["get", "list", "watch"]}]}),
                    ),
                    "/apis/gateway.networking.k8s.io/v1/httproutes" if served && !watch => (
                        StatusCode::OK,
                        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRouteList",
                               "metadata": {"resourceVersion": "5"},
                               "items": [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                                          "metadata": {"name": "myapp", "namespace": "shop", "resourceVersion": "5"},
                                          "spec": {}}]}),
                    ),
                    _ if watch => futures::future::pending().await,
                    _ => (
                        StatusCode::NOT_FOUND,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"}),
                    ),
                };
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))
                    .expect("a response");
                Ok::<_, Infallible>(response)
            }
        });
        Client::new(service, "default")
    }

    async fn wait_for(condition: impl Fn() -> bool) {
        for _ in 0..1000 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("condition never met");
    }

    #[tokio::test(start_paused = true)]
    async fn httproutes_are_watched_once_the_gateway_api_is_installed() {
        let served = Arc::new(AtomicBool::new(false));
        let cache = Cache::syncing(&[CacheKind::HttpRoute]);
        let task = tokio::spawn(watch_routes_once_served(
            api_server(Arc::clone(&served)),
            cache.clone(),
            GATEWAY_API_RECHECK,
        ));
        wait_for(|| cache.is_synced()).await;
        assert_eq!(
            cache.read().count(CacheKind::HttpRoute),
            0,
            "synced and empty"
        );

        served.store(true, Ordering::SeqCst);
        wait_for(|| cache.read().count(CacheKind::HttpRoute) == 1).await;
        assert!(
            cache.is_synced(),
            "installing the CRDs never makes the guard unready"
        );
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_api_server_leaves_httproutes_syncing() {
        let service = tower::service_fn(|_: Request<kube::client::Body>| async {
            Err::<Response<Full<Bytes>>, _>(std::io::Error::other("connection refused"))
        });
        let cache = Cache::syncing(&[CacheKind::HttpRoute]);
        let task = tokio::spawn(watch_routes_once_served(
            Client::new(service, "default"),
            cache.clone(),
            GATEWAY_API_RECHECK,
        ));
        tokio::time::sleep(GATEWAY_API_RECHECK * 3).await;
        assert_eq!(cache.syncing_kinds(), [CacheKind::HttpRoute]);
        task.abort();
    }
}
