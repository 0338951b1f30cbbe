//! The pure decision for a cluster.

use super::properties::{ClusterSpec, StrategyItem};
use crate::capacity;
use crate::ownership::Ownership;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Create,
    Update { old: Option<ClusterSpec> },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterState {
    pub name: String,
    pub arn: String,
    /// ACTIVE, PROVISIONING, INACTIVE…: an INACTIVE cluster is a deleted one.
    pub status: String,
    pub capacity_providers: Vec<String>,
    pub strategy: Vec<StrategyItem>,
    pub container_insights: Option<String>,
    pub active_services: i32,
    /// What its tags say.
    pub ownership: Ownership,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create(ClusterSpec),
    SetContainerInsights {
        name: String,
        value: String,
    },
    PutCapacityProviders {
        name: String,
        strategy: Vec<StrategyItem>,
    },
    Delete {
        name: String,
    },
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

/// The steps, or why a Create or Update must not touch the cluster (another stack's).
pub fn plan(
    phase: &Phase,
    spec: &ClusterSpec,
    current: Option<&ClusterState>,
) -> Result<Plan, String> {
    let live = current.filter(|c| c.status != "INACTIVE");
    let name = spec.name.clone();
    let what = format!("ECS cluster {name}");
    let mut actions = Vec::new();
    match (phase, live) {
        (Phase::Delete, None) => {}
        (Phase::Delete, Some(c)) if !c.ownership.is_ours() => actions.push(Action::Retain {
            name: name.clone(),
            reason: c.ownership.left_alone(&what),
        }),
        (_, Some(c)) if !c.ownership.is_ours() => {
            return Err(c.ownership.refusal(&what, "ClusterName"))
        }
        (Phase::Delete, Some(c)) if c.active_services > 0 => actions.push(Action::Retain {
            name: name.clone(),
            reason: format!(
                "cluster {name} still runs {} service(s), so it was retained; delete them and then the cluster",
                c.active_services
            ),
        }),
        (Phase::Delete, Some(_)) => actions.push(Action::Delete { name: name.clone() }),
        (_, None) => actions.push(Action::Create(spec.clone())),
        (_, Some(c)) => {
            if c.container_insights.as_deref() != Some(spec.container_insights.as_str()) {
                actions.push(Action::SetContainerInsights {
                    name: name.clone(),
                    value: spec.container_insights.clone(),
                });
            }
            let mut providers: Vec<&str> = spec.strategy.iter().map(|s| s.capacity_provider.as_str()).collect();
            providers.sort();
            let mut have: Vec<&str> = c.capacity_providers.iter().map(String::as_str).collect();
            have.sort();
            if !capacity::same(&c.strategy, &spec.strategy) || providers != have {
                actions.push(Action::PutCapacityProviders {
                    name: name.clone(),
                    strategy: spec.strategy.clone(),
                });
            }
        }
    }
    Ok(Plan {
        physical_id: name,
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::properties::default_strategy;

    fn state(status: &str, services: i32) -> ClusterState {
        ClusterState {
            name: "c".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:cluster/c".into(),
            status: status.into(),
            capacity_providers: vec!["FARGATE_SPOT".into(), "FARGATE".into()],
            strategy: default_strategy().into_iter().rev().collect(),
            container_insights: Some("enabled".into()),
            active_services: services,
            ownership: Ownership::Ours,
        }
    }

    fn plan(phase: &Phase, spec: &ClusterSpec, current: Option<&ClusterState>) -> Plan {
        super::plan(phase, spec, current).unwrap()
    }

    #[test]
    fn another_stacks_cluster_is_refused_or_left_alone() {
        let spec = ClusterSpec::named("c");
        let foreign = ClusterState {
            ownership: Ownership::OtherStack {
                stack_id: "arn:other".into(),
            },
            ..state("ACTIVE", 0)
        };
        for phase in [Phase::Create, Phase::Update { old: None }] {
            let refused = super::plan(&phase, &spec, Some(&foreign)).unwrap_err();
            assert!(
                refused.contains("ECS cluster c") && refused.contains("arn:other"),
                "{refused}"
            );
        }
        assert!(matches!(
            plan(&Phase::Delete, &spec, Some(&foreign)).actions.as_slice(),
            [Action::Retain { reason, .. }] if reason.contains("left it alone")
        ));
        // A deleted cluster of that name is no one's: create it.
        let gone = ClusterState {
            status: "INACTIVE".into(),
            ..foreign
        };
        assert_eq!(
            plan(&Phase::Create, &spec, Some(&gone)).actions,
            vec![Action::Create(spec)]
        );
    }

    #[test]
    fn create_adopts_an_identical_cluster_without_calls() {
        let spec = ClusterSpec::named("c");
        assert_eq!(
            plan(&Phase::Create, &spec, None).actions,
            vec![Action::Create(spec.clone())]
        );
        assert!(plan(&Phase::Create, &spec, Some(&state("ACTIVE", 0)))
            .actions
            .is_empty());
        // An INACTIVE cluster is a deleted one: create it again.
        assert_eq!(
            plan(&Phase::Create, &spec, Some(&state("INACTIVE", 0))).actions,
            vec![Action::Create(spec)]
        );
    }

    #[test]
    fn update_puts_only_changed_settings() {
        let mut spec = ClusterSpec::named("c");
        spec.container_insights = "disabled".into();
        spec.strategy[0].base = 1;
        let p = plan(
            &Phase::Update { old: None },
            &spec,
            Some(&state("ACTIVE", 1)),
        );
        assert_eq!(p.actions.len(), 2);
    }

    #[test]
    fn delete_keeps_a_cluster_that_still_runs_services() {
        let spec = ClusterSpec::named("c");
        assert!(matches!(
            plan(&Phase::Delete, &spec, Some(&state("ACTIVE", 2)))
                .actions
                .as_slice(),
            [Action::Retain { .. }]
        ));
        assert_eq!(
            plan(&Phase::Delete, &spec, Some(&state("ACTIVE", 0))).actions,
            vec![Action::Delete { name: "c".into() }]
        );
        assert!(plan(&Phase::Delete, &spec, None).actions.is_empty());
        assert!(plan(&Phase::Delete, &spec, Some(&state("INACTIVE", 0)))
            .actions
            .is_empty());
    }
}
