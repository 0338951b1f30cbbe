//! Waiting for a deployment to finish, behind an interface: moto never finishes one.
//! Below the resources: the handler environment (`clients::Env`) holds a watcher.

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

/// How a deployment ended, as far as the watcher could see before its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutOutcome {
    Completed,
    /// The circuit breaker failed it (and rolled back): ECS's reason.
    Failed(String),
    StillRunning,
}

/// One entry of a service's `deployments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentView {
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: String,
    pub rollout_state_reason: String,
}

/// Where the deployment of `task_definition` stands.
pub fn classify_rollout(deployments: &[DeploymentView], task_definition: &str) -> RolloutOutcome {
    match deployments
        .iter()
        .find(|d| d.task_definition == task_definition)
    {
        Some(d) if d.rollout_state == "FAILED" => {
            RolloutOutcome::Failed(if d.rollout_state_reason.is_empty() {
                "the deployment failed and ECS rolled back".into()
            } else {
                d.rollout_state_reason.clone()
            })
        }
        Some(d) if d.status == "PRIMARY" && d.rollout_state == "COMPLETED" => {
            RolloutOutcome::Completed
        }
        Some(_) => RolloutOutcome::StillRunning,
        None => match deployments.iter().find(|d| d.status == "PRIMARY") {
            Some(primary) => RolloutOutcome::Failed(format!(
                "the service is back on {} (the deployment of {task_definition} was rolled back)",
                primary.task_definition
            )),
            None => RolloutOutcome::StillRunning,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(status: &str, td: &str, state: &str, reason: &str) -> DeploymentView {
        DeploymentView {
            status: status.into(),
            task_definition: td.into(),
            rollout_state: state.into(),
            rollout_state_reason: reason.into(),
        }
    }

    #[test]
    fn rollouts_are_classified_from_the_deployments() {
        let ours = "td:2";
        assert_eq!(
            classify_rollout(&[deployment("PRIMARY", ours, "COMPLETED", "")], ours),
            RolloutOutcome::Completed
        );
        assert_eq!(
            classify_rollout(
                &[
                    deployment("PRIMARY", ours, "IN_PROGRESS", ""),
                    deployment("ACTIVE", "td:1", "COMPLETED", "")
                ],
                ours
            ),
            RolloutOutcome::StillRunning
        );
        let breaker = "ECS deployment circuit breaker: tasks failed to start.";
        assert_eq!(
            classify_rollout(
                &[
                    deployment("PRIMARY", "td:1", "IN_PROGRESS", ""),
                    deployment("ACTIVE", ours, "FAILED", breaker)
                ],
                ours
            ),
            RolloutOutcome::Failed(breaker.into())
        );
        assert!(matches!(
            classify_rollout(&[deployment("PRIMARY", "td:1", "COMPLETED", "")], ours),
            RolloutOutcome::Failed(r) if r.contains("rolled back")
        ));
    }
}
