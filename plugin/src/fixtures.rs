//! Fixture apps for unit tests, from `tests/data/apps.yaml`.

use jiff::Timestamp;
use policy::app::RouterRef;
use policy::manifest::parse;
use policy::{App, Object, Snapshot, discover_router};

/// Every fixture object.
pub fn objects() -> Vec<Object> {
    parse(include_str!("../tests/data/apps.yaml"), "apps.yaml")
        .expect("the fixture parses")
        .objects
}

/// The snapshot of one fixture namespace.
pub fn snapshot<'a>(objects: &'a [Object], namespace: &str) -> Snapshot<'a> {
    Snapshot::by_namespace(objects)
        .into_iter()
        .find(|s| s.namespace == namespace)
        .expect("a fixture namespace")
}

/// The app of `router` in the namespace's snapshot.
pub fn app<'a>(snapshot: &Snapshot<'a>, router: &str) -> App<'a> {
    let router: RouterRef = router.parse().unwrap();
    discover_router(snapshot, &router).expect("the fixture app resolves")
}

/// The clock of every fixture test.
pub fn now() -> Timestamp {
    "2025-01-10T10:30:00Z".parse().unwrap()
}

/// The built-in defaults, nobody asking, no image verdicts: `checks().context(now())`.
pub fn checks() -> crate::app_read::Checks {
    crate::app_read::Checks {
        policy: policy::Policy::default(),
        requester: None,
        images: policy::ImageVerdicts::new(),
    }
}

/// Text without ANSI styles, as a pipe receives it.
pub fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}
