//! GET and LIST, in the representation the Accept header asks for.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::object;
use super::resources::{ResourceType, Subresource};
use super::response::Reply;
use super::route::Target;
use super::scale;
use super::selector::{FieldSelector, LabelSelector, ObjectFilter};
use super::status::{ApiError, ApiResult};
use super::store::{ObjectKey, Store};
use super::table::{self, Representation};

pub fn get(store: &Store, target: &Target, representation: Representation) -> ApiResult<Reply> {
    let resource = target.resource;
    let name = target.name.as_deref().unwrap_or_default();
    let key = ObjectKey::new(resource, target.namespace.as_deref(), name);
    let stored = store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(resource, name))?;
    let body = match target.subresource {
        Some(Subresource::Scale) => scale::from_deployment(&stored),
        _ => match representation {
            Representation::Object => stored,
            Representation::Table => {
                let rv = object::resource_version(&stored).unwrap_or_default();
                table::table(resource, &[stored], rv, jiff::Timestamp::now())
            }
            Representation::PartialObjectMetadata => table::partial_metadata(&stored),
        },
    };
    Ok(Reply::ok(body))
}

/// The label and field selectors of a list or watch query.
pub fn filter(query: &HashMap<String, String>) -> ApiResult<ObjectFilter> {
    Ok(ObjectFilter {
        labels: match query.get("labelSelector") {
            Some(text) => LabelSelector::parse(text)?,
            None => LabelSelector::default(),
        },
        fields: match query.get("fieldSelector") {
            Some(text) => FieldSelector::parse(text)?,
            None => FieldSelector::default(),
        },
    })
}

/// Typed lists of built-in kinds carry no per-item kind and apiVersion; unstructured (CRD) lists do.
pub fn list_item(resource: &ResourceType, item: &Value) -> Value {
    let mut item = item.clone();
    if !resource.custom
        && let Some(map) = item.as_object_mut()
    {
        map.remove("kind");
        map.remove("apiVersion");
    }
    item
}

pub fn list(
    store: &Store,
    target: &Target,
    query: &HashMap<String, String>,
    representation: Representation,
) -> ApiResult<Reply> {
    let resource = target.resource;
    let filter = filter(query)?;
    let (items, rv) = store.list(resource, target.namespace.as_deref());
    let items: Vec<Value> = items.into_iter().filter(|i| filter.matches(i)).collect();
    let body = match representation {
        Representation::Table => table::table(resource, &items, rv, jiff::Timestamp::now()),
        Representation::PartialObjectMetadata => table::partial_metadata_list(&items, rv),
        Representation::Object => json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items.iter().map(|i| list_item(resource, i)).collect::<Vec<_>>(),
        }),
    };
    Ok(Reply::ok(body))
}
