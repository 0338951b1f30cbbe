//! Reading and changing the cluster through ECS.

use super::plan::{Action, ClusterState, Plan};
use super::properties::{ClusterSpec, StrategyItem};
use crate::capacity::{fingerprint, strategy_items};
use crate::clients::Env;
use crate::error::{AwsContext, ProvisionError, Result};
use crate::ownership::{ecs_tags, tag_map, Owner};
use crate::wait::retrying;
use aws_sdk_ecs::operation::create_cluster::builders::CreateClusterFluentBuilder;
use aws_sdk_ecs::operation::delete_cluster::DeleteClusterError;
use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName};
use aws_sdk_ecs::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use operator_common::custom_resource::Success;
use std::collections::BTreeMap;

/// ECS creates its service-linked role on an account's first cluster with capacity providers,
/// and until IAM has propagated it CreateCluster answers this (and only this is worth a retry).
pub fn is_service_linked_role_not_ready(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.contains("Unable to assume the service linked role"))
}

/// DeleteCluster while a deleted service still drains (its tasks are stopping).
fn is_still_draining(e: &DeleteClusterError) -> bool {
    e.is_cluster_contains_services_exception() || e.is_cluster_contains_tasks_exception()
}

fn insights(value: &str) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(value)
        .build()
}

pub async fn read(ecs: &Client, name: &str, owner: &Owner) -> Result<Option<ClusterState>> {
    let out = ecs
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Settings)
        .include(ClusterField::Tags)
        .send()
        .await
        .context("ecs:DescribeClusters")?;
    Ok(out.clusters().first().map(|c| ClusterState {
        name: c.cluster_name().unwrap_or_default().to_string(),
        arn: c.cluster_arn().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        capacity_providers: c.capacity_providers().to_vec(),
        strategy: c
            .default_capacity_provider_strategy()
            .iter()
            .map(StrategyItem::of)
            .collect(),
        container_insights: c
            .settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value().map(str::to_string)),
        active_services: c.active_services_count(),
        ownership: owner.judge(&tag_map(c.tags())),
    }))
}

/// The CreateCluster request (unit-tested: moto does not keep every field).
pub fn create_request(
    ecs: &Client,
    spec: &ClusterSpec,
    owner: &Owner,
) -> CreateClusterFluentBuilder {
    ecs.create_cluster()
        .set_tags(Some(ecs_tags(owner)))
        .cluster_name(&spec.name)
        .set_capacity_providers(Some(
            spec.strategy
                .iter()
                .map(|s| s.capacity_provider.clone())
                .collect(),
        ))
        .set_default_capacity_provider_strategy(Some(strategy_items(&spec.strategy)))
        .settings(insights(&spec.container_insights))
}

pub async fn act(
    env: &Env,
    plan: &Plan,
    spec: &ClusterSpec,
    current: Option<ClusterState>,
    owner: &Owner,
) -> Result<Success> {
    let ecs = env.clients.ecs();
    let mut arn = current.map(|c| c.arn);
    let mut reason = None;
    for action in &plan.actions {
        match action {
            Action::Create(spec) => {
                let out = retrying(
                    &env.backoff,
                    env.wait_until(),
                    |e: &aws_smithy_runtime_api::client::result::SdkError<_, _>| {
                        is_service_linked_role_not_ready(e.message())
                    },
                    || create_request(ecs, spec, owner).send(),
                )
                .await
                .context("ecs:CreateCluster")?;
                arn = out
                    .cluster()
                    .and_then(|c| c.cluster_arn())
                    .map(str::to_string);
            }
            Action::SetContainerInsights { name, value } => {
                // UpdateCluster rather than UpdateClusterSettings: same effect, and moto
                // implements only the former.
                ecs.update_cluster()
                    .cluster(name)
                    .settings(insights(value))
                    .send()
                    .await
                    .context("ecs:UpdateCluster")?;
            }
            Action::PutCapacityProviders { name, strategy } => {
                ecs.put_cluster_capacity_providers()
                    .cluster(name)
                    .set_capacity_providers(Some(
                        strategy
                            .iter()
                            .map(|s| s.capacity_provider.clone())
                            .collect(),
                    ))
                    .set_default_capacity_provider_strategy(Some(strategy_items(strategy)))
                    .send()
                    .await
                    .context("ecs:PutClusterCapacityProviders")?;
            }
            Action::Delete { name } => {
                // A service deleted just before stays DRAINING until its tasks stop.
                let deleted = retrying(
                    &env.backoff,
                    env.wait_until(),
                    |e: &aws_smithy_runtime_api::client::result::SdkError<
                        DeleteClusterError,
                        _,
                    >| { e.as_service_error().is_some_and(is_still_draining) },
                    || ecs.delete_cluster().cluster(name).send(),
                )
                .await;
                match deleted {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_cluster_not_found_exception()) => {}
                    Err(e) if e.as_service_error().is_some_and(is_still_draining) => {
                        return Err(ProvisionError::Refused(format!(
                            "ECS cluster {name} still contains services or tasks that are draining ({}); \
                             CloudFormation's retry of the delete will find them gone",
                            operator_common::aws::error_message(&e)
                        )))
                    }
                    Err(e) => return Err(e).context("ecs:DeleteCluster").map_err(Into::into),
                }
                return Ok(Success {
                    physical_id: plan.physical_id.clone(),
                    ..Success::default()
                });
            }
            Action::Retain { reason: why, .. } => reason = Some(why.clone()),
        }
    }
    let data = match arn {
        Some(arn) => BTreeMap::from([
            ("ClusterName".to_string(), plan.physical_id.clone()),
            ("ClusterArn".to_string(), arn),
            (
                "CapacityProviderStrategy".to_string(),
                fingerprint(&spec.strategy),
            ),
        ]),
        None => BTreeMap::new(),
    };
    Ok(Success {
        physical_id: plan.physical_id.clone(),
        data,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::properties::default_strategy;

    #[test]
    fn only_the_service_linked_role_message_is_retried() {
        assert!(is_service_linked_role_not_ready(Some(
            "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
        )));
        assert!(!is_service_linked_role_not_ready(Some(
            "Cluster name is invalid"
        )));
        assert!(!is_service_linked_role_not_ready(None));
    }

    #[test]
    fn create_request_carries_the_strategy_and_insights() {
        let ecs = crate::clients::tests::offline_ecs();
        let owner = Owner {
            stack_id: "arn:stack".into(),
            logical_id: "Cluster".into(),
        };
        let input = create_request(&ecs, &ClusterSpec::named("sky"), &owner)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(input.cluster_name(), Some("sky"));
        assert_eq!(input.capacity_providers(), ["FARGATE", "FARGATE_SPOT"]);
        let strategy = input.default_capacity_provider_strategy();
        assert_eq!(strategy, strategy_items(&default_strategy()).as_slice());
        assert_eq!((strategy[0].weight(), strategy[0].base()), (50, 20));
        assert_eq!(input.settings()[0].value(), Some("enabled"));
        assert_eq!(
            tag_map(input.tags()),
            BTreeMap::from([
                ("skyhigh:stack-id".to_string(), "arn:stack".to_string()),
                ("skyhigh:logical-id".to_string(), "Cluster".to_string())
            ])
        );
    }
}
