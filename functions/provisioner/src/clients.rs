use aws_config::SdkConfig;
use std::sync::OnceLock;
use tokio::time::Instant;

/// The AWS clients the resources use, built once per execution environment, each on its first
/// use: a request touches one or two of the five services, and building an SDK crate's first
/// client parses that crate's endpoint partitions (~0.4 M instructions each, README "Cold
/// start"), so a cold Create of a repository builds ECR's alone.
#[derive(Debug, Clone)]
pub struct Clients {
    config: SdkConfig,
    ecr: OnceLock<aws_sdk_ecr::Client>,
    ecs: OnceLock<aws_sdk_ecs::Client>,
    elb: OnceLock<aws_sdk_elasticloadbalancingv2::Client>,
    scaling: OnceLock<aws_sdk_applicationautoscaling::Client>,
    logs: OnceLock<aws_sdk_cloudwatchlogs::Client>,
    pub region: String,
}

/// `$field`'s client, built on first use; every one counts its requests
/// (`operator_common::aws::ApiCallCounter`).
macro_rules! lazy_client {
    ($self:ident . $field:ident, $sdk:ident) => {
        $self
            .$field
            .get_or_init(|| operator_common::counted_client!($sdk, &$self.config))
    };
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            config: config.clone(),
            ecr: OnceLock::new(),
            ecs: OnceLock::new(),
            elb: OnceLock::new(),
            scaling: OnceLock::new(),
            logs: OnceLock::new(),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    pub fn ecr(&self) -> &aws_sdk_ecr::Client {
        lazy_client!(self.ecr, aws_sdk_ecr)
    }

    pub fn ecs(&self) -> &aws_sdk_ecs::Client {
        lazy_client!(self.ecs, aws_sdk_ecs)
    }

    pub fn elb(&self) -> &aws_sdk_elasticloadbalancingv2::Client {
        lazy_client!(self.elb, aws_sdk_elasticloadbalancingv2)
    }

    pub fn scaling(&self) -> &aws_sdk_applicationautoscaling::Client {
        lazy_client!(self.scaling, aws_sdk_applicationautoscaling)
    }

    pub fn logs(&self) -> &aws_sdk_cloudwatchlogs::Client {
        lazy_client!(self.logs, aws_sdk_cloudwatchlogs)
    }

    /// The same clients with `ecs` as the ECS client (a test signing as another account).
    pub fn with_ecs(mut self, ecs: aws_sdk_ecs::Client) -> Self {
        self.ecs = OnceLock::from(ecs);
        self
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

    #[test]
    fn a_client_is_built_on_its_first_use_only() {
        let clients = super::Clients::new(&offline_config());
        let built = |c: &super::Clients| {
            [
                c.ecr.get().is_some(),
                c.ecs.get().is_some(),
                c.elb.get().is_some(),
                c.scaling.get().is_some(),
                c.logs.get().is_some(),
            ]
        };
        assert_eq!(built(&clients), [false; 5]);
        clients.ecr();
        assert_eq!(built(&clients), [true, false, false, false, false]);
        clients.logs();
        assert_eq!(built(&clients), [true, false, false, false, true]);
        assert_eq!(clients.region, "us-east-1");
    }
}
