//! Reading and changing the cluster through ECS.

use super::plan::{Action, ClusterState, Plan};
use super::properties::{ClusterSpec, StrategyItem};
use crate::error::{AwsContext, Result};
use aws_sdk_ecs::operation::create_cluster::builders::CreateClusterFluentBuilder;
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ClusterField, ClusterSetting, ClusterSettingName,
};
use aws_sdk_ecs::Client;
use operator_common::custom_resource::Success;
use std::collections::BTreeMap;

pub(crate) fn strategy_items(strategy: &[StrategyItem]) -> Vec<CapacityProviderStrategyItem> {
    strategy
        .iter()
        .map(|s| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&s.capacity_provider)
                .weight(s.weight)
                .base(s.base)
                .build()
                .expect("capacity provider is set")
        })
        .collect()
}

fn insights(value: &str) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(value)
        .build()
}

pub async fn read(ecs: &Client, name: &str) -> Result<Option<ClusterState>> {
    let out = ecs
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Settings)
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
            .map(|s| StrategyItem {
                capacity_provider: s.capacity_provider().to_string(),
                weight: s.weight(),
                base: s.base(),
            })
            .collect(),
        container_insights: c
            .settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value().map(str::to_string)),
        active_services: c.active_services_count(),
    }))
}

/// The CreateCluster request (unit-tested: moto does not keep every field).
pub fn create_request(ecs: &Client, spec: &ClusterSpec) -> CreateClusterFluentBuilder {
    ecs.create_cluster()
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

pub async fn act(ecs: &Client, plan: &Plan, current: Option<ClusterState>) -> Result<Success> {
    let mut arn = current.map(|c| c.arn);
    let mut reason = None;
    for action in &plan.actions {
        match action {
            Action::Create(spec) => {
                let out = create_request(ecs, spec)
                    .send()
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
                let deleted = ecs.delete_cluster().cluster(name).send().await;
                match deleted {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_cluster_not_found_exception()) => {}
                    Err(e) => return Err(e).context("ecs:DeleteCluster"),
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
    fn create_request_carries_the_strategy_and_insights() {
        let ecs = crate::clients::tests::offline_ecs();
        let input = create_request(&ecs, &ClusterSpec::named("sky"))
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
    }
}
