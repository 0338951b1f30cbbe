//! Waiting for a deployment to finish, behind an interface: moto never finishes one.

use super::plan::{classify_rollout, DeploymentView, RolloutOutcome};
use crate::error::{AwsContext, Result};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait RolloutWatcher: Send + Sync {
    /// Watches the deployment of `task_definition` until it completes, fails, or `until`.
    fn wait<'a>(
        &'a self,
        ecs: &'a aws_sdk_ecs::Client,
        cluster: &'a str,
        service: &'a str,
        task_definition: &'a str,
        until: Instant,
    ) -> BoxFuture<'a, Result<RolloutOutcome>>;
}

/// Polls DescribeServices. One call per poll; ECS updates rollout state within seconds.
pub struct EcsRolloutWatcher {
    pub poll_every: Duration,
}

impl Default for EcsRolloutWatcher {
    fn default() -> Self {
        EcsRolloutWatcher {
            poll_every: Duration::from_secs(15),
        }
    }
}

impl RolloutWatcher for EcsRolloutWatcher {
    fn wait<'a>(
        &'a self,
        ecs: &'a aws_sdk_ecs::Client,
        cluster: &'a str,
        service: &'a str,
        task_definition: &'a str,
        until: Instant,
    ) -> BoxFuture<'a, Result<RolloutOutcome>> {
        Box::pin(async move {
            loop {
                let out = ecs
                    .describe_services()
                    .cluster(cluster)
                    .services(service)
                    .send()
                    .await
                    .context("ecs:DescribeServices")?;
                let deployments: Vec<DeploymentView> = out
                    .services()
                    .first()
                    .map(|s| {
                        s.deployments()
                            .iter()
                            .map(|d| DeploymentView {
                                status: d.status().unwrap_or_default().to_string(),
                                task_definition: d
                                    .task_definition()
                                    .unwrap_or_default()
                                    .to_string(),
                                rollout_state: d
                                    .rollout_state()
                                    .map(|r| r.as_str().to_string())
                                    .unwrap_or_default(),
                                rollout_state_reason: d
                                    .rollout_state_reason()
                                    .unwrap_or_default()
                                    .to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let outcome = classify_rollout(&deployments, task_definition);
                if outcome != RolloutOutcome::StillRunning
                    || Instant::now() + self.poll_every >= until
                {
                    return Ok(outcome);
                }
                tokio::time::sleep(self.poll_every).await;
            }
        })
    }
}
