//! Why an app could not be discovered.

use crate::app::RouterRef;
use crate::contract::COLOR_LABEL_ANNOTATION;
use crate::rule::RuleId;

/// Why an app could not be discovered. Every message names the object and the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The named router does not exist.
    #[error(
        "{router} not found in namespace {namespace}; list the apps with `kubectl bluegreen list -n {namespace}`"
    )]
    RouterNotFound {
        /// The router asked for.
        router: RouterRef,
        /// Where it was looked for.
        namespace: String,
    },
    /// A Service router's selector lacks the color label.
    #[error(
        "{router}: its selector has no {key:?} key, so it does not pick a color; add `{key}: <color>` to spec.selector, or name the color label with the annotation {COLOR_LABEL_ANNOTATION}"
    )]
    NoColorLabel {
        /// The router.
        router: RouterRef,
        /// The color label key expected.
        key: String,
    },
    /// The router selects a color no Deployment has.
    #[error(
        "{router} sends traffic to {key}={color}, but no Deployment has pod label {key}={color}; create that color or point the router at an existing one"
    )]
    LiveColorMissing {
        /// The router.
        router: RouterRef,
        /// The color label key.
        key: String,
        /// The live color.
        color: String,
    },
    /// Only one color exists.
    #[error(
        "{router}: only the {color} color exists (Deployment {deployment}); a blue-green app needs a second Deployment that differs only in pod label {key} (`kubectl bluegreen init {router}` creates it)"
    )]
    OnlyOneColor {
        /// The router.
        router: RouterRef,
        /// The color label key.
        key: String,
        /// The only color found.
        color: String,
        /// Its Deployment.
        deployment: String,
    },
    /// More than two colors.
    #[error(
        "{router}: found {} colors ({}) for label {key}; a blue-green app has exactly two: remove or relabel the extra Deployments", colors.len(), colors.join(", ")
    )]
    TooManyColors {
        /// The router.
        router: RouterRef,
        /// The color label key.
        key: String,
        /// The colors found.
        colors: Vec<String>,
    },
    /// One color matches several Deployments (BG010).
    #[error(
        "{router}: color {color} resolves to {} Deployments ({}); each color must be exactly one Deployment: make their pod labels differ or delete the extra", deployments.len(), deployments.join(", ")
    )]
    AmbiguousColor {
        /// The router.
        router: RouterRef,
        /// The color.
        color: String,
        /// The Deployments it matches.
        deployments: Vec<String>,
    },
    /// Both colors are the same Deployment (BG010).
    #[error(
        "{router}: colors {} and {} both resolve to Deployment {deployment}, so a switch would change nothing; give each color its own Deployment whose pod label {key} differs", colors[0], colors[1]
    )]
    SameDeployment {
        /// The router.
        router: RouterRef,
        /// The color label key.
        key: String,
        /// The two colors.
        colors: Vec<String>,
        /// The shared Deployment.
        deployment: String,
    },
    /// Two color Services with one selector: both colors are the same pods (BG010).
    #[error(
        "{router}: Services {} and {} have the same selector ({selector}), so both colors are Deployment {deployment} and a switch would change nothing; make the Services differ in one label (e.g. version: blue / version: green) and give each color its own Deployment", services[0], services[1]
    )]
    IdenticalColorServices {
        /// The router.
        router: RouterRef,
        /// The two Services.
        services: Vec<String>,
        /// Their common selector.
        selector: String,
        /// The Deployment both select.
        deployment: String,
    },
    /// A color has no Deployment.
    #[error(
        "{router}: no Deployment runs color {color} (Service {service} selects {selector}); create it, or fix the Service's selector"
    )]
    ColorDeploymentMissing {
        /// The router.
        router: RouterRef,
        /// The color.
        color: String,
        /// The color's Service.
        service: String,
        /// That Service's selector.
        selector: String,
    },
    /// An HTTPRoute names a Service that does not exist.
    #[error(
        "{router}: backendRef names Service {service}, which does not exist in namespace {namespace}; create it or fix the backendRef"
    )]
    BackendServiceMissing {
        /// The router.
        router: RouterRef,
        /// The missing Service.
        service: String,
        /// The namespace.
        namespace: String,
    },
    /// An HTTPRoute names no Service at all.
    #[error(
        "{router}: no backendRef names a Service in namespace {namespace}; point a rule's backendRef at the live color's Service"
    )]
    NoBackend {
        /// The router.
        router: RouterRef,
        /// The namespace.
        namespace: String,
    },
    /// No sibling Service for the other color.
    #[error(
        "{router}: routes to Service {service} but no other Service's selector differs from it in exactly one label, so there is no second color; create the other color's Service (e.g. {suggestion})"
    )]
    NoSiblingService {
        /// The router.
        router: RouterRef,
        /// The referenced Service.
        service: String,
        /// A name to create.
        suggestion: String,
    },
    /// The two color Services differ in several labels.
    #[error(
        "{router}: Services {} and {} differ in labels {}, not exactly one; make them differ only in the color label, or name it with the annotation {COLOR_LABEL_ANNOTATION}", services[0], services[1], keys.join(", ")
    )]
    AmbiguousColorLabel {
        /// The router.
        router: RouterRef,
        /// The two Services.
        services: Vec<String>,
        /// The differing keys.
        keys: Vec<String>,
    },
    /// Traffic is split between the colors.
    #[error(
        "{router}: sends traffic to both colors ({}); blue-green needs 100% on one color: set the other backendRef's weight to 0, or run `kubectl bluegreen promote {router}`", weights.iter().map(|(c, w)| format!("{c} weight {w}")).collect::<Vec<_>>().join(", ")
    )]
    SplitTraffic {
        /// The router.
        router: RouterRef,
        /// Weight per color.
        weights: Vec<(String, i64)>,
    },
    /// No color receives traffic.
    #[error(
        "{router}: every backendRef has weight 0, so no color is live; give the live color's backendRef a weight above 0"
    )]
    NoTraffic {
        /// The router.
        router: RouterRef,
    },
    /// A Deployment's selector does not select its own pods.
    #[error(
        "Deployment {deployment}: spec.selector ({selector}) does not match its pod template labels; the API server refuses it: make spec.template.metadata.labels satisfy the selector"
    )]
    DeploymentSelectorMismatch {
        /// The Deployment.
        deployment: String,
        /// Its selector.
        selector: String,
    },
}

impl DiscoveryError {
    /// The rule this failure violates, when it is a rule violation rather than a
    /// setup the tool cannot understand.
    pub fn rule(&self) -> Option<RuleId> {
        match self {
            DiscoveryError::AmbiguousColor { .. }
            | DiscoveryError::SameDeployment { .. }
            | DiscoveryError::IdenticalColorServices { .. } => Some(RuleId::BG010),
            _ => None,
        }
    }

    /// The router the failure is about, if any.
    pub fn router(&self) -> Option<&RouterRef> {
        match self {
            DiscoveryError::DeploymentSelectorMismatch { .. } => None,
            DiscoveryError::RouterNotFound { router, .. }
            | DiscoveryError::NoColorLabel { router, .. }
            | DiscoveryError::LiveColorMissing { router, .. }
            | DiscoveryError::OnlyOneColor { router, .. }
            | DiscoveryError::TooManyColors { router, .. }
            | DiscoveryError::AmbiguousColor { router, .. }
            | DiscoveryError::SameDeployment { router, .. }
            | DiscoveryError::IdenticalColorServices { router, .. }
            | DiscoveryError::ColorDeploymentMissing { router, .. }
            | DiscoveryError::BackendServiceMissing { router, .. }
            | DiscoveryError::NoBackend { router, .. }
            | DiscoveryError::NoSiblingService { router, .. }
            | DiscoveryError::AmbiguousColorLabel { router, .. }
            | DiscoveryError::SplitTraffic { router, .. }
            | DiscoveryError::NoTraffic { router } => Some(router),
        }
    }
}
