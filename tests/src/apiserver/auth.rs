//! Authentication by static bearer tokens and an allow-all authorizer with per-user refusals,
//! so tests can show both admission refusals and RBAC refusals.

use std::collections::BTreeMap;

use serde::Serialize;

/// Who made a request, as webhooks receive it in `userInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// A refusal: `verb` on `resource` (plural, or `plural/subresource`) in `group`, optionally only
/// in one namespace. `"*"` matches any verb, group or resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub namespace: Option<String>,
}

impl Denial {
    pub fn new(verb: &str, group: &str, resource: &str) -> Self {
        Denial {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            namespace: None,
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    fn refuses(&self, request: &AccessRequest<'_>) -> bool {
        let wildcard_or = |pattern: &str, actual: &str| pattern == "*" || pattern == actual;
        let resource = match request.subresource {
            Some(sub) => format!("{}/{sub}", request.resource),
            None => request.resource.to_string(),
        };
        wildcard_or(&self.verb, request.verb)
            && wildcard_or(&self.group, request.group)
            && wildcard_or(&self.resource, &resource)
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| Some(ns) == request.namespace)
    }
}

/// A user the server knows: bearer token, identity, and what RBAC would refuse them.
#[derive(Debug, Clone)]
pub struct User {
    pub token: String,
    pub info: UserInfo,
    pub denials: Vec<Denial>,
}

impl User {
    /// A user authenticated by token; `system:authenticated` is added to the groups.
    pub fn new(name: &str, token: &str, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        groups.push("system:authenticated".to_string());
        User {
            token: token.to_string(),
            info: UserInfo {
                username: name.to_string(),
                uid: format!("{name}-uid"),
                groups,
                extra: BTreeMap::new(),
            },
            denials: Vec::new(),
        }
    }

    /// A ServiceAccount token user: `system:serviceaccount:<ns>:<name>` with its groups and the
    /// credential id extra that bound tokens carry.
    pub fn service_account(namespace: &str, name: &str, token: &str) -> Self {
        let mut user = User::new(
            &format!("system:serviceaccount:{namespace}:{name}"),
            token,
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{namespace}"),
            ],
        );
        user.info.uid = format!("serviceaccount-{namespace}-{name}-uid");
        user.info.extra.insert(
            "authentication.kubernetes.io/credential-id".to_string(),
            vec![format!("JTI={token}")],
        );
        user
    }

    pub fn deny(mut self, denial: Denial) -> Self {
        self.denials.push(denial);
        self
    }

    pub fn name(&self) -> &str {
        &self.info.username
    }
}

/// The built-in users: `admin`, the CI ServiceAccount `system:serviceaccount:ci:deployer` and `alice`.
pub fn builtin_users() -> Vec<User> {
    vec![
        User::new("admin", "admin-token", &["system:masters"]),
        User::service_account("ci", "deployer", "ci-deployer-token"),
        User::new("alice", "alice-token", &[]),
    ]
}

/// What a request asks to do, for authorization.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
}

#[derive(Debug, Default)]
pub struct Users {
    users: Vec<User>,
}

impl Users {
    pub fn new(users: Vec<User>) -> Self {
        Users { users }
    }

    /// The user of an `Authorization: Bearer <token>` header.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<&User> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        self.users.iter().find(|u| u.token == token)
    }

    pub fn find(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name() == name)
    }
}

/// What a request asks to act as, from kube-apiserver's impersonation headers
/// (`Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid`).
#[derive(Debug, Default)]
pub struct Impersonation {
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub uid: Option<String>,
}

impl Impersonation {
    pub fn is_requested(&self) -> bool {
        self.user.is_some() || !self.groups.is_empty() || self.uid.is_some()
    }
}

impl Users {
    /// The user a request acts as, impersonated as kube-apiserver does it: the named user
    /// with the named groups and uid, plus `system:authenticated` (and, for a
    /// ServiceAccount named without groups, its ServiceAccount groups). The RBAC refusals
    /// are those of a known user of that name. Only `system:masters` may impersonate (the
    /// only impersonation RBAC this server grants); `Err` is who was refused what, for
    /// the 403.
    pub fn impersonate(
        &self,
        authenticated: &User,
        asked: Impersonation,
    ) -> Result<User, ImpersonationRefused> {
        let Some(username) = asked.user else {
            return Err(ImpersonationRefused::NoUser);
        };
        if !authenticated
            .info
            .groups
            .iter()
            .any(|group| group == "system:masters")
        {
            return Err(ImpersonationRefused::NotAllowed {
                user: authenticated.name().to_string(),
                impersonated: username,
            });
        }
        let mut groups = asked.groups;
        if groups.is_empty()
            && let Some(namespace) = username
                .strip_prefix("system:serviceaccount:")
                .and_then(|rest| rest.split_once(':'))
                .map(|(namespace, _)| namespace)
        {
            groups = vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
            ];
        }
        if !groups.iter().any(|group| group == "system:authenticated") {
            groups.push("system:authenticated".to_string());
        }
        Ok(User {
            token: String::new(),
            denials: self
                .find(&username)
                .map(|known| known.denials.clone())
                .unwrap_or_default(),
            info: UserInfo {
                username,
                uid: asked.uid.unwrap_or_default(),
                groups,
                extra: BTreeMap::new(),
            },
        })
    }
}

/// Why a request may not impersonate.
#[derive(Debug)]
pub enum ImpersonationRefused {
    /// Groups or a uid without a user.
    NoUser,
    /// The authenticated user has no right to impersonate.
    NotAllowed { user: String, impersonated: String },
}

impl User {
    pub fn allowed(&self, request: &AccessRequest<'_>) -> bool {
        !self.denials.iter().any(|d| d.refuses(request))
    }
}
