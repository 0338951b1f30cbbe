//! The pure decision. The truth is what the tracked tag points to in ECR now and what the
//! service runs now; events only say "look again". From that truth and the family's newest
//! revisions: nothing to do (and why), reuse a revision that already runs the tag's digest,
//! or register one. No push time, no event order, no clock: a rollback by retag (ECR keeps an
//! image's first push time) and a late event are the same case as any other.

use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{DeploymentRolloutState, TaskDefinition};
use operator_common::image::ImageRef;
use serde::Serialize;

/// How many of the family's newest revisions are looked at for one to reuse: enough for a
/// retry after a partial failure (the newest) and for a rollback a few pushes back.
pub const LOOKBACK: usize = 5;

/// How the rollout of the revision the service runs is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollout {
    InProgress,
    Completed,
    /// The circuit breaker stopped it.
    Failed,
    /// The deployment has no rolloutState (e.g. behind a Classic Load Balancer).
    Unreported,
    /// No listed deployment carries the service's task definition (see [`running`]).
    NotListed,
}

/// One entry of the service's `deployments[]` (DescribeServices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// PRIMARY (the newest) or ACTIVE (an older one still draining).
    pub status: String,
    pub task_definition: String,
    pub rollout: Rollout,
}

impl Deployment {
    pub fn of(d: &aws_sdk_ecs::types::Deployment) -> Deployment {
        Deployment {
            status: d.status().unwrap_or_default().to_string(),
            task_definition: d.task_definition().unwrap_or_default().to_string(),
            rollout: match d.rollout_state() {
                Some(DeploymentRolloutState::InProgress) => Rollout::InProgress,
                Some(DeploymentRolloutState::Completed) => Rollout::Completed,
                Some(DeploymentRolloutState::Failed) => Rollout::Failed,
                _ => Rollout::Unreported,
            },
        }
    }
}

/// Which revision the service runs, and its rollout.
///
/// On AWS that is the PRIMARY deployment: UpdateService sets the service's `taskDefinition`
/// and starts a PRIMARY deployment of it in one step, and when the circuit breaker rolls back,
/// the rollback is the PRIMARY deployment while the failed one stays listed (ACTIVE, FAILED)
/// until it drains. So: when the service's `taskDefinition` is carried by a listed deployment,
/// the PRIMARY deployment is the truth. When no listed deployment carries it, the service was
/// told to run a revision whose deployment is not (or no longer) listed; the service's own
/// `taskDefinition` is then the newest instruction ECS accepted, and its rollout is unknown
/// (`NotListed`). moto is in that case after every UpdateService (its `deployments[]` keeps
/// the first revision forever), which is how the integration tests run; on AWS it is a
/// corner (a deployment controller that lists no deployments), read the same way.
pub fn running(service_task_definition: &str, deployments: &[Deployment]) -> (String, Rollout) {
    let primary = deployments.iter().find(|d| d.status == "PRIMARY");
    let listed = deployments
        .iter()
        .any(|d| d.task_definition == service_task_definition);
    match primary {
        Some(p) if listed => (p.task_definition.clone(), p.rollout),
        _ => (service_task_definition.to_string(), Rollout::NotListed),
    }
}

/// Revisions of listed deployments whose rollout failed: never redeployed automatically.
pub fn failed(deployments: &[Deployment]) -> Vec<String> {
    deployments
        .iter()
        .filter(|d| d.rollout == Rollout::Failed)
        .map(|d| d.task_definition.clone())
        .collect()
}

/// The service tags where the function records its last roll: onto which revision, from which.
pub const ROLLED_ONTO: &str = "skyhigh:redeployer:rolled-onto";
pub const ROLLED_FROM: &str = "skyhigh:redeployer:rolled-from";

/// The function's last roll of the service, from its tags (see [`plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolled {
    pub onto: String,
    pub from: String,
}

impl Rolled {
    /// From the service's tags (key, value); `None` unless both are there.
    pub fn from_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Rolled> {
        let (mut onto, mut from) = (None, None);
        for (key, value) in tags {
            match key {
                ROLLED_ONTO => onto = Some(value.to_string()),
                ROLLED_FROM => from = Some(value.to_string()),
                _ => {}
            }
        }
        Some(Rolled {
            onto: onto?,
            from: from?,
        })
    }
}

/// Everything the decision needs, read from AWS.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub tag: String,
    /// What the tag points to in ECR now; `None` when the tag is not there (deleted).
    pub tag_digest: Option<String>,
    /// When ECR first saw that image (`imagePushedAt`: a retag keeps it), in whole seconds.
    pub tag_pushed_at: Option<DateTime>,
    /// The revision the service runs (see [`running`]).
    pub running: TaskDefinition,
    /// Its container that runs an image of the repository (see [`container_of`]).
    pub container: usize,
    pub rollout: Rollout,
    /// Revisions of deployments that failed their rollout (see [`failed`]).
    pub failed: Vec<String>,
    /// The function's last roll of the service (its tags), if any.
    pub rolled: Option<Rolled>,
}

impl Truth {
    pub fn running_image(&self) -> &str {
        image_of(&self.running, self.container)
    }

    pub fn running_revision(&self) -> &str {
        self.running.task_definition_arn().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
pub enum Plan {
    /// The service already runs (or is rolling out) the tag's digest, or there is nothing to
    /// run: the reason is logged.
    Nothing { why: String },
    /// `revision` runs `image` and is otherwise the running revision: roll the service onto it.
    Reuse { revision: String, image: String },
    /// Register the running revision with `image`, then roll the service onto it.
    Register { image: String },
}

fn image_of(td: &TaskDefinition, container: usize) -> &str {
    td.container_definitions()
        .get(container)
        .and_then(|c| c.image())
        .unwrap_or_default()
}

/// The digest an image is pinned to (`uri@sha256:…`), if any.
pub fn digest_of(image: &str) -> Option<String> {
    ImageRef::parse(image).ok()?.digest
}

/// The container of `td` that runs an image of `repository` (by the image's path; the
/// registry is not compared).
pub fn container_of(td: &TaskDefinition, repository: &str) -> Option<usize> {
    td.container_definitions().iter().position(|c| {
        c.image()
            .and_then(|i| ImageRef::parse(i).ok())
            .is_some_and(|i| i.repository == repository)
    })
}

/// What matters in a revision: everything RegisterTaskDefinition takes (tags aside), with the
/// image of `container` replaced when asked. Both the revision to register and the test for
/// one to reuse come from here, so they cannot disagree.
pub fn spec(td: &TaskDefinition, replace: Option<(usize, &str)>) -> TaskDefinition {
    let mut containers = td.container_definitions().to_vec();
    if let Some((index, image)) = replace {
        if let Some(c) = containers.get_mut(index) {
            c.image = Some(image.to_string());
        }
    }
    TaskDefinition::builder()
        .set_family(td.family().map(str::to_string))
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_container_definitions(Some(containers))
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
        .build()
}

/// The image the service should run (`uri@digest`, the uri of the running container's image),
/// or why there is nothing to do.
pub fn wanted(truth: &Truth) -> Result<String, String> {
    let running = truth.running_image();
    let current = ImageRef::parse(running).map_err(|e| e.to_string())?;
    let Some(digest) = truth.tag_digest.as_deref() else {
        return Err(format!(
            "tag {} is not in the repository (deleted?): nothing to deploy, the service stays on {running}",
            truth.tag
        ));
    };
    if current.digest.as_deref() == Some(digest) {
        let revision = truth.running_revision();
        return Err(match truth.rollout {
            Rollout::Completed => format!("the service already runs {digest} ({revision})"),
            Rollout::InProgress => {
                format!("the service is already rolling out {digest} ({revision})")
            }
            Rollout::Failed => format!(
                "the rollout of {digest} ({revision}) failed: not retried automatically; push or retag a fix"
            ),
            Rollout::Unreported | Rollout::NotListed => format!(
                "the service is already on {digest} ({revision}; rollout state not reported)"
            ),
        });
    }
    Ok(current.with_digest(digest).to_string())
}

/// The record to write when the service runs the tag's digest but the record names another
/// revision: the service was moved since the last record (a roll whose record failed, a stack
/// update). The record's revision is where it came from. `None`: nothing to write.
pub fn repair(truth: &Truth) -> Option<Rolled> {
    let rolled = truth.rolled.as_ref()?;
    let running = truth.running_revision();
    let on_tag = truth.tag_digest.is_some() && digest_of(truth.running_image()) == truth.tag_digest;
    (on_tag && rolled.onto != running).then(|| Rolled {
        onto: running.to_string(),
        from: rolled.onto.clone(),
    })
}

/// Whether `candidate` is the running revision with `image`, and nothing else changed.
pub fn reusable(candidate: &TaskDefinition, truth: &Truth, image: &str) -> bool {
    spec(candidate, None) == spec(&truth.running, Some((truth.container, image)))
}

/// The plan, given the truth and the family's newest revisions, newest first (fewer is fine:
/// the reader stops at the first reusable one).
///
/// A revision is not rolled out again when the circuit breaker rolled it back: while the
/// failed deployment is listed (`failed`), and after it drained, when the function's own
/// record says it rolled the service from the revision that runs now onto that one (the
/// rollback went back to where it came from; a person who did the same is not fought either).
/// A partial failure (registered, UpdateService failed) never wrote that record, so its retry
/// goes ahead; a rollback by retag wants another revision than the recorded one.
pub fn plan(truth: &Truth, candidates: &[TaskDefinition]) -> Plan {
    let image = match wanted(truth) {
        Ok(image) => image,
        Err(why) => return Plan::Nothing { why },
    };
    let Some(found) = candidates.iter().find(|c| reusable(c, truth, &image)) else {
        return Plan::Register { image };
    };
    let revision = found.task_definition_arn().unwrap_or_default().to_string();
    if truth.failed.contains(&revision) {
        return Plan::Nothing {
            why: format!(
                "{revision} ({image}) failed its rollout and was rolled back: not retried automatically; push or retag a fix"
            ),
        };
    }
    if let Some(rolled) = &truth.rolled {
        if rolled.onto == revision && rolled.from == truth.running_revision() {
            return Plan::Nothing {
                why: format!(
                    "the service was rolled from {} onto {revision} ({image}) and is back on the former: \
                     rolled back (circuit breaker) or by hand; not retried automatically, push or retag a fix",
                    rolled.from
                ),
            };
        }
    }
    Plan::Reuse { revision, image }
}

/// The family and revision number of `…:task-definition/family:revision`.
pub fn family_revision(arn: &str) -> Option<(&str, u64)> {
    let (family, revision) = arn.rsplit_once('/')?.1.rsplit_once(':')?;
    Some((family, revision.parse().ok()?))
}

fn revision_number(arn: &str) -> Option<u64> {
    family_revision(arn).map(|(_, revision)| revision)
}

/// The family's `n` newest revisions among `arns` (`…:task-definition/family:revision`),
/// newest first. ListTaskDefinitions' familyPrefix is a prefix (`web` also lists `web-api`)
/// and its sort is by family, then revision: both are redone here.
pub fn newest_first(arns: &[String], family: &str, n: usize) -> Vec<String> {
    let mut revisions: Vec<(u64, &String)> = arns
        .iter()
        .filter_map(|arn| {
            let (f, revision) = family_revision(arn)?;
            (f == family).then_some((revision, arn))
        })
        .collect();
    revisions.sort_by_key(|r| std::cmp::Reverse(r.0));
    revisions
        .into_iter()
        .take(n)
        .map(|(_, arn)| arn.clone())
        .collect()
}

/// Whether no revision older than the running one can run the tag's image: ECR first saw the
/// image after the running revision was registered, and a revision can only name a digest
/// that exists, so the older ones were registered before it did. The push time is in whole
/// seconds (rounded down), which only makes the answer more cautious. Unknown times (moto
/// records no `registeredAt`): false, and the older revisions are read. A digest deleted and
/// pushed again has a new push time: an older revision that names it is then not found, and
/// an identical one is registered instead.
pub fn older_cannot_run_it(truth: &Truth) -> bool {
    match (truth.tag_pushed_at, truth.running.registered_at()) {
        (Some(pushed), Some(registered)) => pushed > *registered,
        _ => false,
    }
}

/// The candidates worth reading, newest first, among the family's newest (`newest`): not the
/// running revision (the plan wants another image than it runs), nor, when
/// [`older_cannot_run_it`], the revisions older than it. On the usual push (the service on the
/// family's newest revision, a new image) that leaves none.
pub fn worth_reading(newest: &[String], truth: &Truth) -> Vec<String> {
    let running = revision_number(truth.running_revision());
    let skip_older = older_cannot_run_it(truth);
    newest
        .iter()
        .filter(|arn| {
            let revision = revision_number(arn);
            revision != running && !(skip_older && revision < running)
        })
        .cloned()
        .collect()
}

/// Whether to list the family's revisions while the running one is read, before knowing that
/// anything is to be deployed: when a push event names the digest the tag holds now (the main
/// path, where a deploy is likely). Otherwise (the schedule, a late event) they are listed only
/// once a deploy is wanted.
pub fn list_early(pushed: Option<&str>, tag_digest: Option<&str>) -> bool {
    pushed.is_some() && pushed == tag_digest
}

/// How many of the candidates (newest first) are read on their own before the others, which
/// are read at once (one round trip instead of one per revision): the newest, when it is newer
/// than the running revision, since a retry after a partial failure finds the revision it
/// registered there (one call, not the whole lookback); none otherwise.
pub fn read_alone(candidates: &[String], running: &str) -> usize {
    usize::from(
        candidates
            .first()
            .is_some_and(|newest| revision_number(newest) > revision_number(running)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        Compatibility, ContainerDefinition, KeyValuePair, NetworkMode, PortMapping,
    };
    use proptest::prelude::*;

    const URI: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sky-high-booker";
    const FAMILY_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web";

    fn digest(n: u32) -> String {
        format!("sha256:{n:064x}")
    }

    /// Revision `revision` of family `web`, its app container (index 1, after a sidecar) on `image`.
    fn revision(revision: u32, image: &str) -> TaskDefinition {
        TaskDefinition::builder()
            .task_definition_arn(format!("{FAMILY_ARN}:{revision}"))
            .revision(revision as i32)
            .family("web")
            .execution_role_arn("arn:aws:iam::123456789012:role/exec")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("512")
            .memory("1024")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("proxy")
                    .image("envoyproxy/envoy:v1")
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("web")
                    .image(image)
                    .port_mappings(PortMapping::builder().container_port(80).build())
                    .environment(
                        KeyValuePair::builder()
                            .name("NODE_ENV")
                            .value("production")
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn pinned(n: u32) -> String {
        format!("{URI}@{}", digest(n))
    }

    fn truth(tag: Option<u32>, running: TaskDefinition, rollout: Rollout) -> Truth {
        Truth {
            tag: "latest".into(),
            tag_digest: tag.map(digest),
            tag_pushed_at: None,
            container: container_of(&running, "sky-high-booker").unwrap(),
            running,
            rollout,
            failed: vec![],
            rolled: None,
        }
    }

    fn arn(n: u32) -> String {
        format!("{FAMILY_ARN}:{n}")
    }

    #[test]
    fn the_app_container_is_found_by_repository() {
        let td = revision(1, &format!("{URI}:latest"));
        assert_eq!(container_of(&td, "sky-high-booker"), Some(1));
        assert_eq!(container_of(&td, "booker"), None, "a whole path segment");
        assert_eq!(container_of(&td, "other"), None);
        let nested = revision(1, "localhost:5000/team/sky-high-booker:v1");
        assert_eq!(container_of(&nested, "team/sky-high-booker"), Some(1));
        assert_eq!(
            container_of(&nested, "sky-high-booker"),
            None,
            "another repository"
        );
    }

    #[test]
    fn a_new_digest_is_registered_pinned_by_digest() {
        let t = truth(Some(2), revision(1, &pinned(1)), Rollout::Completed);
        let candidates = [revision(1, &pinned(1))];
        assert_eq!(plan(&t, &candidates), Plan::Register { image: pinned(2) });
        // The service created before the first push names the tag: pinned from then on.
        let t = truth(
            Some(2),
            revision(1, &format!("{URI}:latest")),
            Rollout::InProgress,
        );
        assert_eq!(plan(&t, &[]), Plan::Register { image: pinned(2) });
    }

    #[test]
    fn the_running_digest_changes_nothing_whatever_the_rollout_says() {
        for (rollout, says) in [
            (Rollout::Completed, "already runs"),
            (Rollout::InProgress, "already rolling out"),
            (Rollout::Failed, "failed: not retried"),
            (Rollout::NotListed, "already on"),
            (Rollout::Unreported, "already on"),
        ] {
            let t = truth(Some(1), revision(3, &pinned(1)), rollout);
            match plan(&t, &[revision(4, &pinned(2))]) {
                Plan::Nothing { why } => assert!(why.contains(says), "{rollout:?}: {why}"),
                other => panic!("{rollout:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_deleted_tag_changes_nothing_and_says_so() {
        let t = truth(None, revision(1, &pinned(1)), Rollout::Completed);
        let Plan::Nothing { why } = plan(&t, &[]) else {
            panic!()
        };
        assert!(why.contains("not in the repository"), "{why}");
        assert!(why.contains(&pinned(1)), "names what stays: {why}");
    }

    #[test]
    fn a_retry_after_a_partial_failure_reuses_the_registered_revision() {
        // Revision 2 (digest 2) was registered, then UpdateService failed: the service is on 1.
        let t = truth(Some(2), revision(1, &pinned(1)), Rollout::Completed);
        let candidates = [revision(2, &pinned(2)), revision(1, &pinned(1))];
        assert_eq!(
            plan(&t, &candidates),
            Plan::Reuse {
                revision: arn(2),
                image: pinned(2)
            }
        );
    }

    #[test]
    fn a_revision_that_differs_in_anything_else_is_not_reused() {
        let t = truth(Some(2), revision(1, &pinned(1)), Rollout::Completed);
        let mut more_memory = revision(2, &pinned(2));
        more_memory.memory = Some("2048".into());
        let mut other_env = revision(3, &pinned(2));
        other_env.container_definitions.as_mut().unwrap()[1].environment = Some(vec![]);
        let mut other_sidecar = revision(4, &pinned(2));
        other_sidecar.container_definitions.as_mut().unwrap()[0].image =
            Some("envoyproxy/envoy:v2".into());
        let mut other_family = revision(5, &pinned(2));
        other_family.family = Some("web-api".into());
        assert_eq!(
            plan(&t, &[other_family, other_sidecar, other_env, more_memory]),
            Plan::Register { image: pinned(2) }
        );
    }

    #[test]
    fn a_rollback_by_retag_reuses_the_older_revision() {
        // latest went 1 → 2 → back to 1 (retagged: ECR keeps 1's first push time).
        let t = truth(Some(1), revision(3, &pinned(2)), Rollout::Completed);
        let candidates = [
            revision(3, &pinned(2)),
            revision(2, &pinned(1)),
            revision(1, &format!("{URI}:latest")),
        ];
        assert_eq!(
            plan(&t, &candidates),
            Plan::Reuse {
                revision: arn(2),
                image: pinned(1)
            }
        );
    }

    #[test]
    fn a_revision_the_circuit_breaker_rolled_back_is_not_redeployed() {
        // 2 failed its rollout; ECS rolled back to 1 (PRIMARY), 2 is still listed as FAILED.
        let deployments = [
            Deployment {
                status: "PRIMARY".into(),
                task_definition: arn(1),
                rollout: Rollout::InProgress,
            },
            Deployment {
                status: "ACTIVE".into(),
                task_definition: arn(2),
                rollout: Rollout::Failed,
            },
        ];
        let (on, rollout) = running(&arn(2), &deployments);
        assert_eq!(
            (on.as_str(), rollout),
            (arn(1).as_str(), Rollout::InProgress)
        );
        let mut t = truth(Some(2), revision(1, &pinned(1)), rollout);
        t.failed = failed(&deployments);
        let candidates = [revision(2, &pinned(2)), revision(1, &pinned(1))];
        let Plan::Nothing { why } = plan(&t, &candidates) else {
            panic!()
        };
        assert!(why.contains("rolled back"), "{why}");
        // A newer push is deployed: it supersedes the failed one.
        t.tag_digest = Some(digest(3));
        assert_eq!(plan(&t, &candidates), Plan::Register { image: pinned(3) });
    }

    #[test]
    fn a_rollback_after_the_failed_deployment_drained_is_not_fought() {
        // The function rolled 1 → 2; 2 failed, ECS rolled back to 1 and the failed deployment
        // drained: only the function's record says what happened.
        let mut t = truth(Some(2), revision(1, &pinned(1)), Rollout::Completed);
        t.rolled = Some(Rolled {
            onto: arn(2),
            from: arn(1),
        });
        let candidates = [revision(2, &pinned(2)), revision(1, &pinned(1))];
        let Plan::Nothing { why } = plan(&t, &candidates) else {
            panic!()
        };
        assert!(why.contains("rolled back"), "{why}");
        // The record of an older roll does not block a rollback by retag onto it.
        t.rolled = Some(Rolled {
            onto: arn(2),
            from: arn(0),
        });
        assert_eq!(
            plan(&t, &candidates),
            Plan::Reuse {
                revision: arn(2),
                image: pinned(2)
            }
        );
        // A push of a new digest is deployed whatever the record says.
        t.tag_digest = Some(digest(3));
        assert_eq!(plan(&t, &candidates), Plan::Register { image: pinned(3) });
    }

    #[test]
    fn a_record_left_behind_is_repaired_once_the_service_is_on_the_tag() {
        // Rolled 1 → 2 (recorded), then 2 → 1 whose record failed: the service is on 1.
        let mut t = truth(Some(1), revision(1, &pinned(1)), Rollout::Completed);
        t.rolled = Some(Rolled {
            onto: arn(2),
            from: arn(1),
        });
        assert_eq!(
            repair(&t),
            Some(Rolled {
                onto: arn(1),
                from: arn(2)
            })
        );
        t.rolled = repair(&t);
        assert_eq!(repair(&t), None, "once");
        // Off the tag (deleted, or about to be rolled): nothing to repair yet.
        t.tag_digest = None;
        t.rolled = Some(Rolled {
            onto: arn(2),
            from: arn(1),
        });
        assert_eq!(repair(&t), None);
        t.rolled = None;
        t.tag_digest = Some(digest(1));
        assert_eq!(repair(&t), None, "never rolled: no record to keep");
    }

    #[test]
    fn the_record_is_read_from_the_services_tags() {
        let tags = [
            ("skyhigh:stack", "s"),
            (ROLLED_FROM, "arn:a:1"),
            (ROLLED_ONTO, "arn:a:2"),
        ];
        assert_eq!(
            Rolled::from_tags(tags),
            Some(Rolled {
                onto: "arn:a:2".into(),
                from: "arn:a:1".into()
            })
        );
        assert_eq!(Rolled::from_tags([(ROLLED_ONTO, "arn:a:2")]), None);
    }

    #[test]
    fn what_runs_is_the_primary_deployment_or_the_services_own_revision() {
        let d = |status: &str, n: u32, rollout| Deployment {
            status: status.into(),
            task_definition: arn(n),
            rollout,
        };
        // AWS, mid-rollout: PRIMARY carries the service's revision.
        let aws = [
            d("PRIMARY", 2, Rollout::InProgress),
            d("ACTIVE", 1, Rollout::Completed),
        ];
        assert_eq!(running(&arn(2), &aws), (arn(2), Rollout::InProgress));
        // moto after an UpdateService: PRIMARY keeps the first revision, IN_PROGRESS forever.
        let moto = [d("PRIMARY", 1, Rollout::InProgress)];
        assert_eq!(running(&arn(3), &moto), (arn(3), Rollout::NotListed));
        assert_eq!(running(&arn(1), &moto), (arn(1), Rollout::InProgress));
        assert_eq!(running(&arn(1), &[]), (arn(1), Rollout::NotListed));
    }

    #[test]
    fn the_newest_revisions_of_exactly_the_family() {
        let arns: Vec<String> = [
            "web:9",
            "web:10",
            "web-api:12",
            "web:2",
            "web:11",
            "webx:3",
            "web:1",
        ]
        .iter()
        .map(|s| format!("arn:aws:ecs:us-east-1:1:task-definition/{s}"))
        .collect();
        let got = newest_first(&arns, "web", 3);
        let short: Vec<&str> = got.iter().map(|a| a.rsplit('/').next().unwrap()).collect();
        assert_eq!(short, ["web:11", "web:10", "web:9"]);
    }

    #[test]
    fn older_revisions_are_not_read_for_an_image_first_pushed_after_the_running_one() {
        let arns: Vec<String> = [6, 5, 4, 3].into_iter().map(arn).collect();
        let mut t = truth(Some(9), revision(5, &pinned(1)), Rollout::Completed);
        let read = |t: &Truth| -> Vec<String> {
            worth_reading(&arns, t)
                .iter()
                .map(|a| a.rsplit('/').next().unwrap().to_string())
                .collect()
        };
        assert_eq!(read(&t), ["web:6", "web:4", "web:3"], "times unknown");
        t.running.registered_at = Some(DateTime::from_secs(100));
        assert_eq!(read(&t), ["web:6", "web:4", "web:3"], "push time unknown");
        t.tag_pushed_at = Some(DateTime::from_secs(101));
        assert_eq!(read(&t), ["web:6"], "pushed after: only the newer one");
        t.tag_pushed_at = Some(DateTime::from_secs(100));
        assert_eq!(read(&t), ["web:6", "web:4", "web:3"], "the same second");
        t.tag_pushed_at = Some(DateTime::from_secs(40));
        assert_eq!(
            read(&t),
            ["web:6", "web:4", "web:3"],
            "a retag of an older image"
        );
    }

    #[test]
    fn the_family_is_listed_early_only_on_a_push_of_the_digest_the_tag_holds() {
        let (now, old) = (digest(2), digest(1));
        assert!(list_early(Some(&now), Some(&now)));
        assert!(!list_early(Some(&old), Some(&now)), "a late push");
        assert!(!list_early(None, Some(&now)), "the schedule");
        assert!(!list_early(Some(&now), None), "the tag is gone");
    }

    #[test]
    fn the_newest_is_read_alone_only_when_it_is_newer_than_the_running_revision() {
        let arns: Vec<String> = [3, 2, 1]
            .iter()
            .map(|n| format!("{FAMILY_ARN}:{n}"))
            .collect();
        assert_eq!(read_alone(&arns, &arns[0]), 0, "on the newest: all at once");
        assert_eq!(read_alone(&arns, &arns[1]), 1, "a retry's revision first");
        assert_eq!(
            read_alone(&arns[1..], &arns[0]),
            0,
            "older ones: all at once"
        );
        let lagging = format!("{FAMILY_ARN}:9");
        assert_eq!(
            read_alone(&arns, &lagging),
            0,
            "a list that lags: all older"
        );
        assert_eq!(read_alone(&[], &arns[0]), 0);
    }

    #[test]
    fn the_wanted_image_is_the_running_ones_repository_at_the_tags_digest() {
        assert_eq!(digest_of(&pinned(7)), Some(digest(7)));
        assert_eq!(digest_of(&format!("{URI}:latest")), None);
        let running = revision(1, &format!("{URI}:v1@{}", digest(1)));
        let mut t = truth(Some(2), running, Rollout::Completed);
        assert_eq!(
            wanted(&t),
            Ok(pinned(2)),
            "the tag goes, the digest decides"
        );
        t.running = revision(1, "localhost:5000/sky-high-booker");
        assert_eq!(
            wanted(&t),
            Ok(format!("localhost:5000/sky-high-booker@{}", digest(2)))
        );
    }

    /// One step of a generated history.
    #[derive(Debug, Clone)]
    enum Step {
        /// The tag moves to digest n (a push, or a retag of an older image).
        Tag(u32),
        /// The tag is deleted.
        Untag,
        /// A reconcile runs, and fails where `fault` says.
        Reconcile { fault: Fault },
        /// The circuit breaker rolls the function's last roll back.
        RollBack,
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Fault {
        None,
        /// UpdateService fails (after any registration).
        Update,
        /// The service moved, but its record (TagResource) was not written: the invocation fails.
        Record,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1u32..=4).prop_map(Step::Tag),
            Just(Step::Untag),
            prop_oneof![Just(Fault::None), Just(Fault::Update), Just(Fault::Record)]
                .prop_map(|fault| Step::Reconcile { fault }),
            Just(Step::RollBack),
        ]
    }

    /// A family and a service that follow the plans, as ECS would, and a repository that
    /// keeps each image's first push time, as ECR does; time is the step's number.
    struct Model {
        revisions: Vec<TaskDefinition>,
        service: usize,
        tag: Option<u32>,
        registered: usize,
        rolled: Option<Rolled>,
        now: i64,
        first_pushed: std::collections::BTreeMap<u32, i64>,
    }

    impl Model {
        fn new() -> Model {
            let mut first = revision(1, &format!("{URI}:latest"));
            first.registered_at = Some(DateTime::from_secs(0));
            Model {
                revisions: vec![first],
                service: 0,
                tag: None,
                registered: 0,
                rolled: None,
                now: 0,
                first_pushed: Default::default(),
            }
        }

        /// The tag moves to digest `n`: pushed now, or retagged (then its push time stays).
        fn tag(&mut self, n: u32) {
            self.tag = Some(n);
            self.first_pushed.entry(n).or_insert(self.now);
        }

        fn truth(&self) -> Truth {
            let mut t = truth(
                self.tag,
                self.revisions[self.service].clone(),
                Rollout::NotListed,
            );
            t.tag_pushed_at = self
                .tag
                .and_then(|n| self.first_pushed.get(&n))
                .map(|at| DateTime::from_secs(*at));
            t.rolled = self.rolled.clone();
            t
        }

        fn arn_of(&self, index: usize) -> String {
            self.revisions[index]
                .task_definition_arn()
                .unwrap()
                .to_string()
        }

        /// Whether the service moved back.
        fn roll_back(&mut self) -> bool {
            match &self.rolled {
                Some(r) if self.arn_of(self.service) == r.onto => {
                    self.service = self
                        .revisions
                        .iter()
                        .position(|t| t.task_definition_arn() == Some(&r.from))
                        .unwrap();
                    true
                }
                _ => false,
            }
        }

        /// What `aws::candidates` reads.
        fn candidates(&self) -> Vec<TaskDefinition> {
            let arns: Vec<String> = self
                .revisions
                .iter()
                .map(|r| r.task_definition_arn().unwrap().to_string())
                .collect();
            worth_reading(&newest_first(&arns, "web", LOOKBACK), &self.truth())
                .iter()
                .map(|a| {
                    let n: usize = a.rsplit(':').next().unwrap().parse().unwrap();
                    self.revisions[n - 1].clone()
                })
                .collect()
        }

        fn reconcile(&mut self, fault: Fault) -> Plan {
            let t = self.truth();
            let p = plan(&t, &self.candidates());
            let to = match &p {
                Plan::Nothing { .. } => {
                    if let Some(r) = repair(&t) {
                        self.rolled = Some(r);
                    }
                    return p;
                }
                Plan::Reuse { revision, .. } => self
                    .revisions
                    .iter()
                    .position(|r| r.task_definition_arn() == Some(revision))
                    .unwrap(),
                Plan::Register { image } => {
                    let n = self.revisions.len() as u32 + 1;
                    let mut new = spec(&t.running, Some((t.container, image)));
                    new.task_definition_arn = Some(arn(n));
                    new.registered_at = Some(DateTime::from_secs(self.now));
                    self.revisions.push(new);
                    self.registered += 1;
                    self.revisions.len() - 1
                }
            };
            if fault != Fault::Update {
                let from = self.arn_of(self.service);
                self.service = to;
                if fault != Fault::Record {
                    self.rolled = Some(Rolled {
                        onto: self.arn_of(to),
                        from,
                    });
                }
            }
            p
        }

        fn running_digest(&self) -> Option<String> {
            let image = image_of(&self.revisions[self.service], 1);
            digest_of(image)
        }
    }

    proptest! {
        /// Whatever happens to the tag and however reconciles fail, one clean reconcile puts
        /// the service on the tag's digest; a second changes nothing; and no digest is ever
        /// registered twice.
        #[test]
        fn reconciles_converge_on_the_tag(steps in proptest::collection::vec(step(), 0..40)) {
            let mut m = Model::new();
            let mut deployed = std::collections::BTreeSet::new();
            let mut rolled_back = false;
            for s in steps {
                m.now += 1;
                match s {
                    Step::Tag(n) => m.tag(n),
                    Step::Untag => m.tag = None,
                    Step::Reconcile { fault } => {
                        if let Plan::Reuse { image, .. } | Plan::Register { image } = m.reconcile(fault) {
                            deployed.insert(image);
                        }
                        if fault == Fault::Record {
                            // The invocation failed: Lambda retries it (within minutes).
                            m.reconcile(Fault::None);
                        }
                    }
                    Step::RollBack => {
                        if m.roll_back() {
                            rolled_back = true;
                            // The circuit breaker is not fought: the rolled-back revision stays out.
                            let onto = m.rolled.clone().unwrap().onto;
                            let p = plan(&m.truth(), &m.candidates());
                            prop_assert!(!matches!(&p, Plan::Reuse { revision, .. } if *revision == onto), "{:?}", p);
                        }
                    }
                }
            }
            let before = m.running_digest();
            let last = m.reconcile(Fault::None);
            if let Plan::Reuse { image, .. } | Plan::Register { image } = &last {
                deployed.insert(image.clone());
            }
            match (m.tag, &last) {
                (None, _) => prop_assert_eq!(m.running_digest(), before, "a deleted tag moves nothing"),
                // Only a rollback may leave the service off the tag, and then it says so.
                (Some(_), Plan::Nothing { why }) if why.contains("rolled back") => prop_assert!(rolled_back),
                (Some(n), _) => prop_assert_eq!(m.running_digest(), Some(digest(n))),
            }
            let again = m.reconcile(Fault::None);
            prop_assert!(matches!(again, Plan::Nothing { .. }), "{:?}", again);
            prop_assert!(m.registered <= deployed.len(), "{} registered for {} digests", m.registered, deployed.len());
        }

        /// The plan depends on the truth and the candidates only: the same inputs, the same plan.
        #[test]
        fn deterministic(tag in proptest::option::of(1u32..4), on in 1u32..4, fault in any::<bool>()) {
            let mut m = Model::new();
            m.tag(on);
            m.reconcile(if fault { Fault::Update } else { Fault::None });
            m.tag = tag;
            let (t, c) = (m.truth(), m.candidates());
            prop_assert_eq!(plan(&t, &c), plan(&t, &c));
        }
    }
}
