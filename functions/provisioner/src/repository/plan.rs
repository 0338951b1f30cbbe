//! The pure decision: what to do to the repository, given the request and what exists.

use super::properties::RepositorySpec;
use crate::ownership::Ownership;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Create,
    /// `old` is None when the old properties no longer parse.
    Update {
        old: Option<RepositorySpec>,
    },
    Delete,
}

/// What ECR says about the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryState {
    pub name: String,
    pub arn: String,
    pub uri: String,
    pub scan_on_push: bool,
    pub tag_mutability: String,
    /// Only read for a Delete.
    pub has_images: Option<bool>,
    /// What its tags say.
    pub ownership: Ownership,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create(RepositorySpec),
    SetScanOnPush {
        name: String,
        enabled: bool,
    },
    SetTagMutability {
        name: String,
        mutability: String,
    },
    TagKeepImages {
        name: String,
        keep_images: u32,
    },
    Delete {
        name: String,
        force: bool,
    },
    /// Left in place on purpose (it still holds images); the reason is shown to the user.
    Retain {
        name: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub physical_id: String,
    pub actions: Vec<Action>,
}

/// The steps, or why a Create or Update must not touch the repository (another stack's).
pub fn plan(
    phase: &Phase,
    spec: &RepositorySpec,
    current: Option<&RepositoryState>,
) -> Result<Plan, String> {
    let name = &spec.name;
    let what = |n: &str| format!("ECR repository {n}");
    let mut actions = Vec::new();
    match (phase, current) {
        (Phase::Delete, None) => {}
        (Phase::Delete, Some(state)) if !state.ownership.is_ours() => {
            actions.push(Action::Retain {
                name: state.name.clone(),
                reason: state.ownership.left_alone(&what(&state.name)),
            })
        }
        (_, Some(state)) if !state.ownership.is_ours() => {
            return Err(state.ownership.refusal(&what(&state.name), "RepositoryName"))
        }
        (Phase::Delete, Some(state)) => match (state.has_images, spec.empty_on_delete) {
            (Some(false), _) => actions.push(Action::Delete {
                name: state.name.clone(),
                force: false,
            }),
            (_, true) => actions.push(Action::Delete {
                name: state.name.clone(),
                force: true,
            }),
            (_, false) => actions.push(Action::Retain {
                name: state.name.clone(),
                reason: format!(
                    "repository {} still holds images, so it was retained (set EmptyOnDelete to true to delete it with its images)",
                    state.name
                ),
            }),
        },
        (_, None) => actions.push(Action::Create(spec.clone())),
        (_, Some(state)) => {
            if state.scan_on_push != spec.scan_on_push {
                actions.push(Action::SetScanOnPush {
                    name: name.clone(),
                    enabled: spec.scan_on_push,
                });
            }
            if state.tag_mutability != spec.tag_mutability {
                actions.push(Action::SetTagMutability {
                    name: name.clone(),
                    mutability: spec.tag_mutability.clone(),
                });
            }
            let keep_changed = match phase {
                Phase::Update { old: Some(old) } => old.keep_images != spec.keep_images || old.name != spec.name,
                // Adopting an existing repository, or old properties unreadable: state it.
                _ => true,
            };
            if keep_changed {
                actions.push(Action::TagKeepImages {
                    name: name.clone(),
                    keep_images: spec.keep_images,
                });
            }
        }
    }
    let physical_id = match (phase, current) {
        (Phase::Delete, Some(state)) => state.name.clone(),
        _ => name.clone(),
    };
    Ok(Plan {
        physical_id,
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> RepositorySpec {
        RepositorySpec::named(name)
    }

    fn state(name: &str, has_images: Option<bool>) -> RepositoryState {
        RepositoryState {
            name: name.into(),
            arn: format!("arn:aws:ecr:us-east-1:123456789012:repository/{name}"),
            uri: format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}"),
            scan_on_push: true,
            tag_mutability: "MUTABLE".into(),
            has_images,
            ownership: Ownership::Ours,
        }
    }

    fn plan(phase: &Phase, spec: &RepositorySpec, current: Option<&RepositoryState>) -> Plan {
        super::plan(phase, spec, current).unwrap()
    }

    #[test]
    fn a_repository_this_stack_did_not_make_is_never_touched() {
        let foreign = RepositoryState {
            ownership: Ownership::Untagged,
            ..state("app", Some(false))
        };
        for phase in [
            Phase::Create,
            Phase::Update {
                old: Some(spec("app")),
            },
        ] {
            let refused = super::plan(&phase, &spec("app"), Some(&foreign)).unwrap_err();
            assert!(refused.contains("ECR repository app"), "{refused}");
        }
        // Even an empty one, even with EmptyOnDelete.
        let mut s = spec("app");
        s.empty_on_delete = true;
        assert!(matches!(
            plan(&Phase::Delete, &s, Some(&foreign)).actions.as_slice(),
            [Action::Retain { reason, .. }] if reason.contains("left it alone")
        ));
    }

    #[test]
    fn create_makes_what_is_missing_and_adopts_what_exists() {
        let p = plan(&Phase::Create, &spec("app"), None);
        assert_eq!(p.actions, vec![Action::Create(spec("app"))]);
        assert_eq!(p.physical_id, "app");
        // A retried Create finds the repository and only restates the keep count.
        let p = plan(&Phase::Create, &spec("app"), Some(&state("app", None)));
        assert_eq!(
            p.actions,
            vec![Action::TagKeepImages {
                name: "app".into(),
                keep_images: 10
            }]
        );
    }

    #[test]
    fn update_changes_only_what_differs() {
        let old = spec("app");
        let mut new = spec("app");
        let same = plan(
            &Phase::Update {
                old: Some(old.clone()),
            },
            &new,
            Some(&state("app", None)),
        );
        assert!(same.actions.is_empty());
        new.scan_on_push = false;
        new.tag_mutability = "IMMUTABLE".into();
        new.keep_images = 20;
        let p = plan(
            &Phase::Update { old: Some(old) },
            &new,
            Some(&state("app", None)),
        );
        assert_eq!(p.actions.len(), 3);
        assert!(p.actions.contains(&Action::SetScanOnPush {
            name: "app".into(),
            enabled: false
        }));
    }

    #[test]
    fn a_new_name_is_a_replacement_with_a_new_id() {
        let p = plan(
            &Phase::Update {
                old: Some(spec("app")),
            },
            &spec("app2"),
            None,
        );
        assert_eq!(p.physical_id, "app2");
        assert_eq!(p.actions, vec![Action::Create(spec("app2"))]);
    }

    #[test]
    fn delete_never_empties_a_repository_by_surprise() {
        let mut s = spec("app");
        assert!(plan(&Phase::Delete, &s, None).actions.is_empty());
        let empty = plan(&Phase::Delete, &s, Some(&state("app", Some(false))));
        assert_eq!(
            empty.actions,
            vec![Action::Delete {
                name: "app".into(),
                force: false
            }]
        );
        let full = plan(&Phase::Delete, &s, Some(&state("app", Some(true))));
        assert!(matches!(full.actions.as_slice(), [Action::Retain { .. }]));
        s.empty_on_delete = true;
        let forced = plan(&Phase::Delete, &s, Some(&state("app", Some(true))));
        assert_eq!(
            forced.actions,
            vec![Action::Delete {
                name: "app".into(),
                force: true
            }]
        );
    }

    proptest::proptest! {
        #[test]
        fn images_are_only_ever_deleted_when_asked(has in proptest::option::of(proptest::bool::ANY), empty_on_delete in proptest::bool::ANY) {
            let mut s = spec("app");
            s.empty_on_delete = empty_on_delete;
            let p = plan(&Phase::Delete, &s, Some(&state("app", has)));
            for a in p.actions {
                if let Action::Delete { force: true, .. } = a { proptest::prop_assert!(empty_on_delete); }
                if let Action::Delete { force: false, .. } = a { proptest::prop_assert_eq!(has, Some(false)); }
            }
        }
    }
}
