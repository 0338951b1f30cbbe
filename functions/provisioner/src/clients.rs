use aws_config::SdkConfig;
use tokio::time::Instant;

/// The AWS clients the resources use, built once per execution environment.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ecr: aws_sdk_ecr::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub region: String,
}

impl Clients {
    /// Every client counts its requests (`operator_common::aws::ApiCallCounter`).
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            ecr: operator_common::counted_client!(aws_sdk_ecr, config),
            ecs: operator_common::counted_client!(aws_sdk_ecs, config),
            elb: operator_common::counted_client!(aws_sdk_elasticloadbalancingv2, config),
            scaling: operator_common::counted_client!(aws_sdk_applicationautoscaling, config),
            logs: operator_common::counted_client!(aws_sdk_cloudwatchlogs, config),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }
}

/// What a handler works with: the clients, how to watch a rollout, and when it must answer.
pub struct Env {
    pub clients: Clients,
    pub rollouts: Box<dyn crate::rollout::RolloutWatcher>,
    /// The handler must have answered by then (the protocol layer keeps time for the PUT).
    pub answer_by: Instant,
    /// Between polls of something draining and retries of a busy resource.
    pub backoff: crate::wait::Backoff,
}

impl Env {
    /// The end of any wait in a handler: a little before `answer_by`.
    pub fn wait_until(&self) -> Instant {
        crate::wait::wait_until(self.answer_by)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_config::{BehaviorVersion, Region};

    /// Clients that are never sent anything: for building requests in unit tests.
    fn offline_config() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build()
    }

    pub fn offline_ecs() -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&offline_config())
    }

    pub fn offline_scaling() -> aws_sdk_applicationautoscaling::Client {
        aws_sdk_applicationautoscaling::Client::new(&offline_config())
    }
}
