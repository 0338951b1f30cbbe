//! Which stack made a resource: every resource the provisioner makes carries two tags, set in
//! the create call itself. Create adopts a same-named resource only when both tags are this
//! request's; Update and Delete never touch one that is not.

use operator_common::custom_resource::Request;
use std::collections::BTreeMap;

pub const STACK_ID_TAG: &str = "skyhigh:stack-id";
pub const LOGICAL_ID_TAG: &str = "skyhigh:logical-id";

/// The stack and logical resource a request speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub stack_id: String,
    pub logical_id: String,
}

/// What the tags of an existing resource say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// This stack's, made for this logical resource.
    Ours,
    /// Made by this stack for another of its resources (two resources given one name).
    OtherResource { logical_id: String },
    /// Another stack's.
    OtherStack { stack_id: String },
    /// Not made by the provisioner (or made before it tagged).
    Untagged,
}

impl Owner {
    pub fn of(request: &Request) -> Owner {
        Owner {
            stack_id: request.stack_id.clone(),
            logical_id: request.logical_resource_id.clone(),
        }
    }

    /// The tags to set when creating, as (key, value).
    pub fn tags(&self) -> [(&'static str, String); 2] {
        [
            (STACK_ID_TAG, self.stack_id.clone()),
            (LOGICAL_ID_TAG, self.logical_id.clone()),
        ]
    }

    pub fn judge(&self, tags: &BTreeMap<String, String>) -> Ownership {
        match (tags.get(STACK_ID_TAG), tags.get(LOGICAL_ID_TAG)) {
            (None, _) => Ownership::Untagged,
            (Some(stack), _) if *stack != self.stack_id => Ownership::OtherStack {
                stack_id: stack.clone(),
            },
            (Some(_), Some(logical)) if *logical == self.logical_id => Ownership::Ours,
            (Some(_), logical) => Ownership::OtherResource {
                logical_id: logical.cloned().unwrap_or_default(),
            },
        }
    }
}

impl Ownership {
    pub fn is_ours(&self) -> bool {
        *self == Ownership::Ours
    }

    /// Who the resource belongs to, for a reason.
    fn whose(&self) -> String {
        match self {
            Ownership::Ours => "this resource".into(),
            Ownership::OtherResource { logical_id } => {
                format!("this stack's resource {logical_id:?}")
            }
            Ownership::OtherStack { stack_id } => format!("stack {stack_id}"),
            Ownership::Untagged => format!("no stack (it has no {STACK_ID_TAG} tag)"),
        }
    }

    /// The FAILED reason of a Create or Update that met someone else's resource.
    pub fn refusal(&self, what: &str, property: &str) -> String {
        format!(
            "{what} already exists and belongs to {}; it was left untouched: choose another {property}, or delete it",
            self.whose()
        )
    }

    /// The SUCCESS reason of a Delete that found someone else's resource under the id.
    pub fn left_alone(&self, what: &str) -> String {
        format!(
            "{what} belongs to {}, so this stack left it alone",
            self.whose()
        )
    }
}

/// The owner's tags, as ECS takes them.
pub fn ecs_tags(owner: &Owner) -> Vec<aws_sdk_ecs::types::Tag> {
    owner
        .tags()
        .into_iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// ECS tags as a map.
pub fn tag_map(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            stack_id: "arn:aws:cloudformation:us-east-1:1:stack/a/1".into(),
            logical_id: "Cluster".into(),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_both_tags_make_it_ours() {
        let o = owner();
        let [(sk, sv), (lk, lv)] = o.tags();
        assert_eq!(o.judge(&tags(&[(sk, &sv), (lk, &lv)])), Ownership::Ours);
        assert_eq!(o.judge(&tags(&[])), Ownership::Untagged);
        assert_eq!(o.judge(&tags(&[(lk, &lv)])), Ownership::Untagged);
        assert_eq!(
            o.judge(&tags(&[(sk, "arn:other"), (lk, &lv)])),
            Ownership::OtherStack {
                stack_id: "arn:other".into()
            }
        );
        assert_eq!(
            o.judge(&tags(&[(sk, &sv), (lk, "Service")])),
            Ownership::OtherResource {
                logical_id: "Service".into()
            }
        );
        assert_eq!(
            o.judge(&tags(&[(sk, &sv)])),
            Ownership::OtherResource {
                logical_id: String::new()
            }
        );
    }

    #[test]
    fn reasons_name_the_owner() {
        let r = Ownership::OtherStack {
            stack_id: "arn:other".into(),
        }
        .refusal("ECS cluster sky", "ClusterName");
        assert!(
            r.contains("ECS cluster sky") && r.contains("arn:other") && r.contains("ClusterName")
        );
        assert!(Ownership::Untagged
            .left_alone("ECR repository sky")
            .contains("left it alone"));
    }
}
