//! Reading the truth (what the tag points to, what the service runs, the family's newest
//! revisions) and carrying out the plan. Revisions are immutable, so every one described is
//! kept for the life of the execution environment: a warm function (the schedule keeps it
//! warm) describes each revision once.

use crate::decide::{self, Deployment, Rolled, Truth};
use crate::error::{AwsContext, RedeployError};
use crate::settings::Settings;
use aws_sdk_ecr::primitives::DateTime;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::TaskDefinition;
use futures_util::stream::{self, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

/// The clients and what the execution environment remembers between invocations.
#[derive(Debug)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    /// Revisions already described (or registered), by ARN.
    revisions: Mutex<HashMap<String, TaskDefinition>>,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Clients {
            ecs: operator_common::counted_client!(aws_sdk_ecs, config),
            ecr: operator_common::counted_client!(aws_sdk_ecr, config),
            revisions: Mutex::default(),
        }
    }

    fn remembered(&self, arn: &str) -> Option<TaskDefinition> {
        self.revisions.lock().ok()?.get(arn).cloned()
    }

    fn knows(&self, arn: &str) -> bool {
        self.revisions
            .lock()
            .is_ok_and(|known| known.contains_key(arn))
    }

    fn remember(&self, td: &TaskDefinition) {
        if let (Some(arn), Ok(mut known)) = (td.task_definition_arn(), self.revisions.lock()) {
            known.insert(arn.to_string(), td.clone());
        }
    }

    /// One revision: remembered, or DescribeTaskDefinition.
    pub async fn revision(&self, arn: &str) -> Result<TaskDefinition, RedeployError> {
        if let Some(td) = self.remembered(arn) {
            return Ok(td);
        }
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .context("ecs:DescribeTaskDefinition")?;
        let td = out
            .task_definition()
            .cloned()
            .ok_or_else(|| RedeployError::Unusable(format!("no task definition {arn}")))?;
        self.remember(&td);
        Ok(td)
    }
}

/// The image `tag` points to now (one DescribeImages call): its digest and when ECR first saw
/// it; `None` when the tag is not there.
pub async fn tagged_image(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    tag: &str,
) -> Result<Option<(String, Option<DateTime>)>, RedeployError> {
    let out = ecr
        .describe_images()
        .repository_name(repository)
        .image_ids(ImageIdentifier::builder().image_tag(tag).build())
        .send()
        .await;
    match out {
        Ok(out) => Ok(out.image_details().iter().find_map(|d| {
            let digest = d.image_digest()?.to_string();
            Some((digest, d.image_pushed_at().copied()))
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_image_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            Err(RedeployError::Unusable(format!(
                "repository {repository} does not exist"
            )))
        }
        Err(e) => Err(e).context("ecr:DescribeImages").map_err(Into::into),
    }
}

/// What DescribeServices says about the service.
#[derive(Debug, Clone)]
pub struct ServiceView {
    pub arn: String,
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
    pub rolled: Option<Rolled>,
}

/// The service's task definition, deployments and this function's record in its tags (one
/// DescribeServices call).
pub async fn service(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<ServiceView, RedeployError> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .context("ecs:DescribeServices")?;
    let s = out
        .services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .ok_or_else(|| {
            RedeployError::Unusable(format!("service {service} not found in cluster {cluster}"))
        })?;
    Ok(ServiceView {
        arn: s.service_arn().unwrap_or_default().to_string(),
        task_definition: s.task_definition().unwrap_or_default().to_string(),
        deployments: s.deployments().iter().map(Deployment::of).collect(),
        rolled: Rolled::from_tags(s.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)))),
    })
}

/// What [`truth`] read.
pub struct Reading {
    pub truth: Truth,
    pub service_arn: String,
    /// The family's revisions (ListTaskDefinitions), when they were listed early.
    pub listed: Option<Vec<String>>,
}

/// Reads the truth (and the service's ARN): the tag's image and the service, at the same
/// time, then the revision the service runs. 3 calls; 2 once that revision is remembered.
/// A cold process on a push that names the tag's digest (`pushed`; [`decide::list_early`])
/// also lists the family's revisions while it reads the running one: a deploy then takes as
/// many round trips cold as warm.
pub async fn truth(
    c: &Clients,
    settings: &Settings,
    pushed: Option<&str>,
) -> Result<Reading, RedeployError> {
    let (tagged, svc) = tokio::join!(
        tagged_image(&c.ecr, &settings.repository, &settings.image_tag),
        service(&c.ecs, &settings.cluster, &settings.service)
    );
    let (tagged, svc) = (tagged?, svc?);
    let (tag_digest, tag_pushed_at) = tagged.map_or((None, None), |(d, at)| (Some(d), at));
    let (revision, rollout) = decide::running(&svc.task_definition, &svc.deployments);
    let family = decide::family_revision(&revision).map(|(family, _)| family);
    let (running, listed) = match family {
        Some(family)
            if !c.knows(&revision) && decide::list_early(pushed, tag_digest.as_deref()) =>
        {
            let (running, listed) = tokio::join!(c.revision(&revision), list(c, family));
            // Speculative: a failed list fails nothing here; it is listed again if needed.
            (running?, listed.ok())
        }
        _ => (c.revision(&revision).await?, None),
    };
    let container = decide::container_of(&running, &settings.repository).ok_or_else(|| {
        RedeployError::Unusable(format!(
            "no container of {revision} runs an image of repository {}",
            settings.repository
        ))
    })?;
    let truth = Truth {
        tag: settings.image_tag.clone(),
        tag_digest,
        tag_pushed_at,
        running,
        container,
        rollout,
        failed: decide::failed(&svc.deployments),
        rolled: svc.rolled,
    };
    Ok(Reading {
        truth,
        service_arn: svc.arn,
        listed,
    })
}

/// The family's revisions (one ListTaskDefinitions call). DESC lists the newest first, so the
/// first page (100) holds the newest unless many families share the prefix;
/// [`decide::newest_first`] re-filters and re-sorts whatever comes back.
async fn list(c: &Clients, family: &str) -> Result<Vec<String>, RedeployError> {
    let out = c
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .sort(aws_sdk_ecs::types::SortOrder::Desc)
        .send()
        .await
        .context("ecs:ListTaskDefinitions")?;
    Ok(out.task_definition_arns().to_vec())
}

/// The family's newest revisions ([`decide::LOOKBACK`]) worth reading
/// ([`decide::worth_reading`]), newest first, up to the first one that can be reused.
/// `listed`: the family's revisions if [`truth`] listed them already. Revisions not yet
/// remembered are described at once (one round trip for them, not one each); the newest alone
/// first when it is newer than the running one ([`decide::read_alone`]: a retry after a
/// partial failure reads one).
pub async fn candidates(
    c: &Clients,
    truth: &Truth,
    image: &str,
    listed: Option<Vec<String>>,
) -> Result<Vec<TaskDefinition>, RedeployError> {
    let family = truth.running.family().unwrap_or_default();
    let listed = match listed {
        Some(listed) => listed,
        None => list(c, family).await?,
    };
    let newest = decide::newest_first(&listed, family, decide::LOOKBACK);
    let arns = decide::worth_reading(&newest, truth);
    let (alone, together) = arns.split_at(decide::read_alone(&arns, truth.running_revision()));
    until_reusable(
        [alone, together],
        |arn| async move { c.revision(&arn).await },
        |td| decide::reusable(td, truth, image),
    )
    .await
}

/// Reads the revisions of each group at once (at most [`decide::LOOKBACK`] in flight) and
/// returns them in their order up to the first reusable one: what reading them one after
/// another would return, whatever order the reads finish in. It returns as soon as that is
/// known (the first reusable, or the first failure before it), dropping the reads after it.
async fn until_reusable<Read>(
    groups: [&[String]; 2],
    describe: impl Fn(String) -> Read,
    reusable: impl Fn(&TaskDefinition) -> bool,
) -> Result<Vec<TaskDefinition>, RedeployError>
where
    Read: Future<Output = Result<TaskDefinition, RedeployError>>,
{
    let mut found = Vec::new();
    for group in groups {
        // `buffered` runs them together and yields in the group's order; dropping it drops
        // the reads still running.
        let mut reads = stream::iter(group.iter().cloned())
            .map(&describe)
            .buffered(group.len().max(1));
        while let Some(td) = reads.next().await.transpose()? {
            let stop = reusable(&td);
            found.push(td);
            if stop {
                return Ok(found);
            }
        }
    }
    Ok(found)
}

/// The running revision with `image` (unit-tested: every setting of the running revision must
/// survive). What it copies is `decide::spec`, the same that decides whether one is reusable.
pub fn register_request(
    ecs: &aws_sdk_ecs::Client,
    truth: &Truth,
    image: &str,
) -> RegisterTaskDefinitionFluentBuilder {
    let td = decide::spec(&truth.running, Some((truth.container, image)));
    ecs.register_task_definition()
        .set_family(td.family().map(str::to_string))
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_container_definitions(Some(td.container_definitions().to_vec()))
        .set_volumes(Some(td.volumes().to_vec()))
        .set_placement_constraints(Some(td.placement_constraints().to_vec()))
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_pid_mode(td.pid_mode().cloned())
        .set_ipc_mode(td.ipc_mode().cloned())
        .set_proxy_configuration(td.proxy_configuration().cloned())
        .set_ephemeral_storage(td.ephemeral_storage().cloned())
        .set_runtime_platform(td.runtime_platform().cloned())
        .set_enable_fault_injection(td.enable_fault_injection())
}

/// Registers the revision; returns its ARN (and remembers it). Sent once, without the SDK's
/// retries: RegisterTaskDefinition is not idempotent, so a retry after a lost answer would
/// register a second revision. A failure fails the invocation instead, and the next reconcile
/// (Lambda's retry, or the schedule) finds and reuses the revision if it was made.
pub async fn register(c: &Clients, truth: &Truth, image: &str) -> Result<String, RedeployError> {
    let once = aws_sdk_ecs::config::Builder::default()
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled());
    let out = register_request(&c.ecs, truth, image)
        .customize()
        .config_override(once)
        .send()
        .await
        .context("ecs:RegisterTaskDefinition")?;
    let td = out.task_definition().ok_or_else(|| {
        RedeployError::Unusable("RegisterTaskDefinition answered no task definition".into())
    })?;
    c.remember(td);
    Ok(td.task_definition_arn().unwrap_or_default().to_string())
}

/// Rolls the service onto `revision`: a rolling deployment that the circuit breaker the
/// provisioner configured guards.
pub async fn roll(c: &Clients, settings: &Settings, revision: &str) -> Result<(), RedeployError> {
    c.ecs
        .update_service()
        .cluster(&settings.cluster)
        .service(&settings.service)
        .task_definition(revision)
        .send()
        .await
        .context("ecs:UpdateService")?;
    Ok(())
}

/// Records the roll in the service's tags (`decide::ROLLED_ONTO`, `ROLLED_FROM`), so that a
/// later reconcile knows a circuit-breaker rollback when it sees one (see `decide::plan`).
pub async fn record(c: &Clients, service_arn: &str, rolled: &Rolled) -> Result<(), RedeployError> {
    let tag = |key: &str, value: &str| {
        aws_sdk_ecs::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
    };
    c.ecs
        .tag_resource()
        .resource_arn(service_arn)
        .tags(tag(decide::ROLLED_ONTO, &rolled.onto))
        .tags(tag(decide::ROLLED_FROM, &rolled.from))
        .send()
        .await
        .context("ecs:TagResource")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Rollout;
    use aws_sdk_ecs::types::{
        Compatibility, ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver, NetworkMode,
        PortMapping,
    };

    /// What a revision's read gives in the tests below.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Read {
        Reusable,
        Other,
        Fails,
    }

    fn arn(n: usize) -> String {
        format!("arn:aws:ecs:us-east-1:1:task-definition/web:{n}")
    }

    fn answer(n: usize, read: Read) -> Result<TaskDefinition, RedeployError> {
        match read {
            Read::Fails => Err(RedeployError::Unusable(format!("no task definition {n}"))),
            _ => Ok(TaskDefinition::builder()
                .task_definition_arn(arn(n))
                .build()),
        }
    }

    type Found = Result<Vec<String>, String>;

    fn arns_of(found: Result<Vec<TaskDefinition>, RedeployError>) -> Found {
        found
            .map(|tds| {
                let arn = |td: TaskDefinition| td.task_definition_arn.unwrap_or_default();
                tds.into_iter().map(arn).collect()
            })
            .map_err(|e| e.to_string())
    }

    /// Reading one after another, as the function did before it read them at once.
    fn one_by_one(reads: &[Read]) -> Found {
        let mut found = Vec::new();
        for (n, read) in reads.iter().enumerate() {
            let td = answer(n, *read).map_err(|e| e.to_string())?;
            found.push(td.task_definition_arn.unwrap_or_default());
            if *read == Read::Reusable {
                break;
            }
        }
        Ok(found)
    }

    /// Runs `until_reusable` over revisions 0.. (`alone` of them first), finishing the reads in
    /// `order` (indexes), polling after each. Returns what it found and the reads it started.
    fn run(reads: &[Read], alone: usize, order: &[usize]) -> (Found, Vec<String>) {
        use std::cell::RefCell;
        use tokio::sync::oneshot;
        let arns: Vec<String> = (0..reads.len()).map(arn).collect();
        let (senders, receivers): (Vec<_>, Vec<_>) =
            reads.iter().map(|_| oneshot::channel()).unzip();
        let receivers = RefCell::new(receivers.into_iter().map(Some).collect::<Vec<_>>());
        let started = RefCell::new(Vec::new());
        let describe = |arn: String| {
            let n: usize = arn.rsplit(':').next().unwrap().parse().unwrap();
            started.borrow_mut().push(arn);
            let rx: oneshot::Receiver<Result<TaskDefinition, RedeployError>> =
                receivers.borrow_mut()[n].take().unwrap();
            async move { rx.await.unwrap() }
        };
        let reusable = |td: &TaskDefinition| {
            let n: usize = td
                .task_definition_arn()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            reads[n] == Read::Reusable
        };
        let found = {
            let (first, rest) = arns.split_at(alone);
            let mut reading = std::pin::pin!(until_reusable([first, rest], describe, reusable));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
            let mut polled = reading.as_mut().poll(&mut cx);
            for &n in order {
                if polled.is_ready() {
                    break;
                }
                // A read not started yet (the second group) has its answer waiting when it starts.
                let _ = senders[n].take().unwrap().send(answer(n, reads[n]));
                polled = reading.as_mut().poll(&mut cx);
            }
            let std::task::Poll::Ready(found) = polled else {
                panic!("every read finished, the reading did not");
            };
            arns_of(found)
        };
        (found, started.into_inner())
    }

    #[test]
    fn a_reusable_revision_found_first_does_not_wait_for_the_older_ones() {
        use Read::*;
        let reads = [Other, Reusable, Fails, Other];
        // Newest last, the failing one first: the same answer as one by one.
        let (found, started) = run(&reads, 0, &[2, 3, 1, 0]);
        assert_eq!(found, Ok(vec![arn(0), arn(1)]));
        assert_eq!(started.len(), 4, "all read at once");
        // The newest alone first, and reusable: one read, as a retry after a partial failure.
        let (found, started) = run(&[Reusable, Other, Other], 1, &[0, 1, 2]);
        assert_eq!(found, Ok(vec![arn(0)]));
        assert_eq!(started, [arn(0)]);
    }

    proptest::proptest! {
        /// Whatever order the reads finish in, the revisions found (or the failure) are those of
        /// reading them one after another; the second group is read only when the first found
        /// nothing to reuse.
        #[test]
        fn the_choice_does_not_depend_on_the_order_the_reads_finish_in(
            reads in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(Read::Reusable),
                    proptest::strategy::Just(Read::Other),
                    proptest::strategy::Just(Read::Fails),
                ],
                0..=decide::LOOKBACK,
            ),
            alone in 0..=1usize,
            keys in proptest::collection::vec(proptest::num::u32::ANY, decide::LOOKBACK),
        ) {
            let alone = alone.min(reads.len());
            // Finishing order: the indexes sorted by the generated keys.
            let mut finish: Vec<usize> = (0..reads.len()).collect();
            finish.sort_by_key(|&n| keys[n]);
            let (found, started) = run(&reads, alone, &finish);
            proptest::prop_assert_eq!(&found, &one_by_one(&reads));
            let first_decides = alone == 1 && reads[0] != Read::Other;
            let expected = if first_decides { 1 } else { reads.len() };
            proptest::prop_assert_eq!(started.len(), expected);
        }
    }

    #[test]
    fn the_new_revision_copies_everything_but_the_image() {
        let config = aws_sdk_ecs::config::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .build();
        let ecs = aws_sdk_ecs::Client::from_conf(config);
        let sidecar = ContainerDefinition::builder()
            .name("proxy")
            .image("envoyproxy/envoy:v1")
            .build();
        let app = ContainerDefinition::builder()
            .name("web")
            .image("1.dkr.ecr.us-east-1.amazonaws.com/sky@sha256:old")
            .port_mappings(PortMapping::builder().container_port(80).build())
            .environment(
                KeyValuePair::builder()
                    .name("NODE_ENV")
                    .value("production")
                    .build(),
            )
            .log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .build()
                    .unwrap(),
            )
            .build();
        let td = TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:1:task-definition/web:4")
            .family("web")
            .execution_role_arn("arn:aws:iam::1:role/exec")
            .task_role_arn("arn:aws:iam::1:role/task")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("512")
            .memory("1024")
            .container_definitions(sidecar.clone())
            .container_definitions(app)
            .build();
        let truth = Truth {
            tag: "latest".into(),
            tag_digest: Some("sha256:new".into()),
            tag_pushed_at: None,
            container: decide::container_of(&td, "sky").unwrap(),
            running: td,
            rollout: Rollout::Completed,
            failed: vec![],
            rolled: None,
        };
        let image = "1.dkr.ecr.us-east-1.amazonaws.com/sky@sha256:new";
        let input = register_request(&ecs, &truth, image)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(input.family(), Some("web"));
        assert_eq!((input.cpu(), input.memory()), (Some("512"), Some("1024")));
        assert_eq!(input.execution_role_arn(), Some("arn:aws:iam::1:role/exec"));
        assert_eq!(input.task_role_arn(), Some("arn:aws:iam::1:role/task"));
        assert_eq!(input.network_mode(), Some(&NetworkMode::Awsvpc));
        assert_eq!(input.requires_compatibilities(), [Compatibility::Fargate]);
        let containers = input.container_definitions();
        assert_eq!(containers[0], sidecar, "other containers are untouched");
        assert_eq!(containers[1].image(), Some(image));
        assert_eq!(containers[1].environment()[0].value(), Some("production"));
        assert_eq!(containers[1].port_mappings()[0].container_port(), Some(80));

        // What registering it would read back is reusable for the same image, and only for it.
        let mut registered = decide::spec(&truth.running, Some((truth.container, image)));
        registered.task_definition_arn =
            Some("arn:aws:ecs:us-east-1:1:task-definition/web:5".into());
        assert!(decide::reusable(&registered, &truth, image));
        assert!(!decide::reusable(
            &registered,
            &truth,
            "1.dkr.ecr.us-east-1.amazonaws.com/sky@sha256:x"
        ));
    }
}
