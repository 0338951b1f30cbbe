//! Reading what the decision needs from ECR and ECS, and carrying out the plan.

use crate::decide::{media, Image, InUse, Kind, Manifest, Manifests, References};
use crate::error::{AwsContext, PruneError, Result};
use crate::paging::Tokens;
use crate::schedule::{Budget, Pace};
use crate::settings::Settings;
use aws_config::SdkConfig;
use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::{ImageIdentifier, Tag};
use aws_sdk_ecs::types::{DesiredStatus, SortOrder};
use operator_common::error::AwsError;
use operator_common::image::ImageRef;
use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};
use tokio::time::Instant;

/// BatchDeleteImage takes at most 100 image ids per call.
pub const DELETE_BATCH: usize = 100;
/// BatchGetImage takes at most 100 image ids per call.
pub const GET_BATCH: usize = 100;
/// DescribeTasks takes at most 100 tasks per call.
const DESCRIBE_TASKS_BATCH: usize = 100;

/// The clients the pruner uses; every one counts its requests.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ecr: aws_sdk_ecr::Client,
    pub ecs: aws_sdk_ecs::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            ecr: operator_common::counted_client!(aws_sdk_ecr, config),
            ecs: operator_common::counted_client!(aws_sdk_ecs, config),
        }
    }
}

// ---- Reading ----

/// DescribeImages' record → what the decision needs. The SDK's record (scan findings, sizes,
/// pull times, media type strings) is dropped page by page, so that 100,000 images fit in the
/// function's memory.
fn image_of(d: aws_sdk_ecr::types::ImageDetail) -> Option<Image> {
    let kind = Kind::of(d.image_manifest_media_type(), d.artifact_media_type());
    let pushed_at = d
        .image_pushed_at()
        .and_then(|t| t.to_millis().ok())
        .unwrap_or(i64::MAX);
    let mut tags = d.image_tags.unwrap_or_default();
    // The deserializer grows the list by pushing: room for 4 tags where most images have 1.
    tags.shrink_to_fit();
    Some(Image {
        digest: d.image_digest?,
        tags,
        pushed_at,
        kind,
        subject: d.subject_manifest_digest,
    })
}

/// Every image of the repository, read 1,000 a page (DescribeImages' maximum).
pub async fn read_images(ecr: &aws_sdk_ecr::Client, repository: &str) -> Result<Vec<Image>> {
    const OPERATION: &str = "ecr:DescribeImages";
    let mut pages = ecr
        .describe_images()
        .repository_name(repository)
        .max_results(1000)
        .into_paginator()
        .send();
    let mut tokens = Tokens::new(OPERATION);
    let mut images = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.context(OPERATION)?;
        tokens.check(page.next_token())?;
        let details = page.image_details.unwrap_or_default();
        images.extend(details.into_iter().filter_map(image_of));
    }
    Ok(images)
}

/// The tasks of the service whose desired status is RUNNING.
async fn list_tasks(ecs: &aws_sdk_ecs::Client, s: &Settings) -> Result<Vec<String>> {
    const OPERATION: &str = "ecs:ListTasks";
    let mut pages = ecs
        .list_tasks()
        .cluster(&s.cluster_name)
        .service_name(&s.service_name)
        .desired_status(DesiredStatus::Running)
        .max_results(100)
        .into_paginator()
        .send();
    let mut tokens = Tokens::new(OPERATION);
    let mut tasks = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.context(OPERATION)?;
        tokens.check(page.next_token())?;
        tasks.extend(page.task_arns.unwrap_or_default());
    }
    Ok(tasks)
}

/// Task definitions of a family prefix, newest first, until `enough` says the revisions so far
/// suffice (a family needs only its first few).
async fn list_task_definitions(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    mut enough: impl FnMut(&[String]) -> bool,
) -> Result<Vec<String>> {
    const OPERATION: &str = "ecs:ListTaskDefinitions";
    let mut pages = ecs
        .list_task_definitions()
        .family_prefix(family)
        .sort(SortOrder::Desc)
        .max_results(100)
        .into_paginator()
        .send();
    let mut tokens = Tokens::new(OPERATION);
    let mut arns = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.context(OPERATION)?;
        tokens.check(page.next_token())?;
        arns.extend(page.task_definition_arns.unwrap_or_default());
        if enough(&arns) {
            break;
        }
    }
    Ok(arns)
}

/// `arn:…:task-definition/FAMILY:REVISION` (or `FAMILY:REVISION`) → FAMILY.
pub fn family_of(task_definition: &str) -> Option<&str> {
    let name = task_definition
        .rsplit_once(":task-definition/")
        .map_or(task_definition, |(_, n)| n);
    let (family, revision) = name.rsplit_once(':')?;
    (!family.is_empty() && revision.parse::<u32>().is_ok()).then_some(family)
}

/// Adds what the container image `image` names in `repository` to `refs`: its digest (ECS
/// runs the digest when both are given), else its tag (`latest` when neither). Images of other
/// repositories add nothing; the registry host is not compared, which errs on the side of
/// keeping. A reference that cannot be read and may be of this repository is an error: nothing
/// is deleted on a partial view of what is in use.
fn add_ref(refs: &mut References, image: &str, repository: &str) -> Result<()> {
    match ImageRef::parse(image) {
        Ok(r) if r.repository == repository => {
            match (&r.digest, r.tag_or_latest()) {
                (Some(d), _) => refs.digests.insert(d.clone()),
                (None, Some(t)) => refs.tags.insert(t.to_string()),
                (None, None) => false,
            };
            Ok(())
        }
        Err(e) if image.contains(repository) => Err(PruneError::UnreadableReference(format!(
            "{e}; it may name an image of {repository}: nothing is deleted until it is fixed"
        ))),
        Ok(_) | Err(_) => Ok(()),
    }
}

/// What the pruner read.
#[derive(Debug, Default)]
pub struct Observed {
    pub images: Vec<Image>,
    pub in_use: InUse,
    pub service_found: bool,
    /// Task definitions described: the current ones and those kept for rollback.
    pub current_task_definitions: BTreeSet<String>,
    pub rollback_task_definitions: BTreeSet<String>,
}

/// The task definitions the service runs (deployments and running tasks, with the digests the
/// tasks report), or None when the service does not exist.
async fn read_running(
    ecs: &aws_sdk_ecs::Client,
    s: &Settings,
) -> Result<Option<(BTreeSet<String>, References)>> {
    let described = ecs
        .describe_services()
        .cluster(&s.cluster_name)
        .services(&s.service_name)
        .send()
        .await;
    let service = match described {
        Ok(out) => out
            .services()
            .iter()
            .find(|svc| svc.status() != Some("INACTIVE"))
            .cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_cluster_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(e).context("ecs:DescribeServices").map_err(Into::into),
    };
    let Some(service) = service else {
        return Ok(None);
    };
    let mut task_definitions: BTreeSet<String> = service
        .deployments()
        .iter()
        .filter_map(|d| d.task_definition())
        .chain(service.task_definition())
        .map(str::to_string)
        .collect();
    let mut refs = References::default();

    let tasks = list_tasks(ecs, s).await?;
    for batch in tasks.chunks(DESCRIBE_TASKS_BATCH) {
        let out = ecs
            .describe_tasks()
            .cluster(&s.cluster_name)
            .set_tasks(Some(batch.to_vec()))
            .send()
            .await
            .context("ecs:DescribeTasks")?;
        for task in out.tasks() {
            if let Some(td) = task.task_definition_arn() {
                task_definitions.insert(td.to_string());
            }
            for c in task.containers() {
                if let Some(image) = c.image() {
                    add_ref(&mut refs, image, &s.repository_name)?;
                }
                if let Some(digest) = c.image_digest() {
                    // The digest ECS resolved: protected whatever the repository, which
                    // cannot delete an image of another repository anyway.
                    refs.digests.insert(digest.to_string());
                }
            }
        }
    }
    Ok(Some((task_definitions, refs)))
}

/// The newest `keep` revisions of the families of `current`, not counting the current ones.
async fn rollback_revisions(
    ecs: &aws_sdk_ecs::Client,
    current: &BTreeSet<String>,
    keep: usize,
) -> Result<BTreeSet<String>> {
    let mut kept = BTreeSet::new();
    if keep == 0 {
        return Ok(kept);
    }
    let families: BTreeSet<&str> = current.iter().filter_map(|td| family_of(td)).collect();
    for family in families {
        let previous = |arns: &[String]| -> Vec<String> {
            arns.iter()
                .filter(|a| family_of(a) == Some(family) && !current.contains(*a))
                .take(keep)
                .cloned()
                .collect()
        };
        // familyPrefix is a prefix: other families are filtered out, and paging stops as soon
        // as enough previous revisions of this very family are in.
        let arns = list_task_definitions(ecs, family, |arns| previous(arns).len() >= keep).await?;
        kept.extend(previous(&arns));
    }
    Ok(kept)
}

/// The container images of task definitions, described concurrently, each once.
async fn images_of(
    ecs: &aws_sdk_ecs::Client,
    task_definitions: &BTreeSet<String>,
) -> Result<Vec<(String, Vec<String>)>> {
    let mut set = tokio::task::JoinSet::new();
    for td in task_definitions {
        let (ecs, td) = (ecs.clone(), td.clone());
        set.spawn(async move {
            let out = ecs
                .describe_task_definition()
                .task_definition(&td)
                .send()
                .await
                .context("ecs:DescribeTaskDefinition")?;
            let images = out
                .task_definition()
                .map(|t| {
                    t.container_definitions()
                        .iter()
                        .filter_map(|c| c.image().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Ok::<_, PruneError>((td, images))
        });
    }
    let mut all = Vec::with_capacity(task_definitions.len());
    while let Some(joined) = set.join_next().await {
        let described = joined.map_err(|e| {
            PruneError::Aws(AwsError::new("ecs:DescribeTaskDefinition", e.to_string()))
        })??;
        all.push(described);
    }
    Ok(all)
}

/// Reads the images and everything that references them. Any failure fails the whole read:
/// the pruner never decides on a partial view of what is in use.
pub async fn read(clients: &Clients, s: &Settings) -> Result<Observed> {
    let (images, running) = tokio::try_join!(
        read_images(&clients.ecr, &s.repository_name),
        read_running(&clients.ecs, s)
    )?;
    let mut observed = Observed {
        images,
        ..Observed::default()
    };
    let Some((current, running_refs)) = running else {
        return Ok(observed);
    };
    observed.service_found = true;
    observed.in_use.running = running_refs;
    let rollback = rollback_revisions(&clients.ecs, &current, s.keep_rollback_revisions).await?;
    let all: BTreeSet<String> = current.union(&rollback).cloned().collect();
    for (td, images) in images_of(&clients.ecs, &all).await? {
        let refs = if current.contains(&td) {
            &mut observed.in_use.running
        } else {
            &mut observed.in_use.rollback
        };
        for image in images {
            add_ref(refs, &image, &s.repository_name)?;
        }
    }
    observed.current_task_definitions = current;
    observed.rollback_task_definitions = rollback;
    Ok(observed)
}

/// BatchGetImage of `batch`, accepting every manifest type as it is (moto ignores
/// acceptedMediaTypes: checked on the request).
fn get_manifests(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    batch: &[String],
) -> aws_sdk_ecr::operation::batch_get_image::builders::BatchGetImageFluentBuilder {
    let ids = batch
        .iter()
        .map(|d| ImageIdentifier::builder().image_digest(d).build())
        .collect();
    ecr.batch_get_image()
        .repository_name(repository)
        .set_image_ids(Some(ids))
        .set_accepted_media_types(Some(media::ACCEPTED.map(String::from).to_vec()))
}

/// The manifests of `digests`, read with BatchGetImage in calls of at most [`GET_BATCH`] ids.
/// A manifest that could not be read (gone since, or refused) is left out: the decision then
/// keeps what it cannot judge. moto names no digest in its failures, so what is missing is
/// what did not come back.
pub async fn read_manifests(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    digests: &[String],
) -> Result<Manifests> {
    let mut read = Manifests::new();
    for batch in digests.chunks(GET_BATCH) {
        let out = get_manifests(ecr, repository, batch)
            .send()
            .await
            .context("ecr:BatchGetImage")?;
        for image in out.images() {
            let digest = image.image_id().and_then(|i| i.image_digest());
            let manifest = image.image_manifest().and_then(Manifest::parse);
            if let (Some(digest), Some(manifest)) = (digest, manifest) {
                if batch.iter().any(|d| d == digest) {
                    read.insert(digest.to_string(), manifest);
                }
            }
        }
        for f in out.failures() {
            tracing::warn!(
                digest = f
                    .image_id()
                    .and_then(|i| i.image_digest())
                    .unwrap_or_default(),
                code = f.failure_code().map(|c| c.as_str()).unwrap_or_default(),
                reason = f.failure_reason().unwrap_or_default(),
                "manifest not read"
            );
        }
    }
    Ok(read)
}

// ---- The record of the last prune (a tag on the repository) ----

/// When the last completed prune started, from the repository's tag; None when there is no
/// (readable) record.
pub async fn last_run_started(
    ecr: &aws_sdk_ecr::Client,
    repository_arn: &str,
) -> Result<Option<i64>> {
    let out = ecr
        .list_tags_for_resource()
        .resource_arn(repository_arn)
        .send()
        .await
        .context("ecr:ListTagsForResource")?;
    let value = out
        .tags()
        .iter()
        .find(|t| t.key() == crate::gate::LAST_RUN_STARTED_TAG)
        .map(|t| t.value());
    let started = value.and_then(crate::gate::parse_time);
    if let (Some(v), None) = (value, started) {
        tracing::warn!(value = v, "unreadable record of the last prune: ignored");
    }
    Ok(started)
}

/// Records that a prune which started at `started_millis` completed.
pub async fn record_run(
    ecr: &aws_sdk_ecr::Client,
    repository_arn: &str,
    started_millis: i64,
) -> Result<()> {
    let tag = Tag::builder()
        .key(crate::gate::LAST_RUN_STARTED_TAG)
        .value(crate::gate::format_time(started_millis))
        .build()
        .map_err(|e| PruneError::Aws(AwsError::new("ecr:TagResource", e.to_string())))?;
    ecr.tag_resource()
        .resource_arn(repository_arn)
        .tags(tag)
        .send()
        .await
        .context("ecr:TagResource")?;
    Ok(())
}

// ---- Acting ----

/// What the deletions did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Deletion {
    /// The size of each BatchDeleteImage call, in the order they started (a throttled call
    /// made again counts again).
    pub calls: Vec<usize>,
    /// Images deleted: asked for and not reported as a failure (moto lists no id for an
    /// untagged image it deletes, so the answer's imageIds cannot be counted).
    pub deleted: usize,
    /// Images already gone (ImageNotFound): fine, someone else (or a lost answer's first
    /// attempt) deleted them.
    pub not_found: usize,
    /// Other failures, `digest: code: reason` (e.g. an image a manifest list references).
    pub failures: Vec<String>,
    /// Calls still throttled after the SDK's own attempts, waited for and made again.
    pub throttled: usize,
    /// Images of the plan not asked for: the invocation's time ran out. The next run
    /// deletes them.
    pub left: usize,
}

impl Deletion {
    fn count(
        &mut self,
        asked: usize,
        out: &aws_sdk_ecr::operation::batch_delete_image::BatchDeleteImageOutput,
    ) {
        let mut failed = 0;
        for f in out.failures() {
            failed += 1;
            let digest = f
                .image_id()
                .and_then(|i| i.image_digest())
                .unwrap_or_default();
            match f.failure_code() {
                Some(aws_sdk_ecr::types::ImageFailureCode::ImageNotFound) => self.not_found += 1,
                code => self.failures.push(format!(
                    "{digest}: {}: {}",
                    code.map(|c| c.as_str()).unwrap_or("unknown"),
                    f.failure_reason().unwrap_or_default()
                )),
            }
        }
        self.deleted += asked.saturating_sub(failed);
    }
}

/// ThrottlingException is ECR's; the others are other AWS services' names for the same.
fn is_throttling<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some(
            "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
        )
    )
}

/// Deletes the digests of each phase in turn, in BatchDeleteImage calls of at most
/// [`DELETE_BATCH`] ids that never mix phases (indexes go before the manifests they name), at
/// the pace [`Pace`] sets (at most `in_flight` calls at once), while `budget` leaves time for
/// a call. A throttled call is made again; any other failed call stops the deletions with its
/// error.
pub async fn delete(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    phases: &[&[String]],
    in_flight: usize,
    budget: Budget,
) -> Result<Deletion> {
    const OPERATION: &str = "ecr:BatchDeleteImage";
    let mut done = Deletion::default();
    let mut pace = Pace::new(in_flight);
    for (p, phase) in phases.iter().enumerate() {
        let batches: Vec<&[String]> = phase.chunks(DELETE_BATCH).collect();
        let mut queue: VecDeque<usize> = (0..batches.len()).collect();
        let mut running = tokio::task::JoinSet::new();
        let mut out_of_time = false;
        loop {
            while !out_of_time && running.len() < pace.window() {
                let Some(&b) = queue.front() else { break };
                let now = Instant::now();
                if pace.resume_at().is_some_and(|r| now < r) {
                    break;
                }
                if !budget.allows_call_at(now) {
                    out_of_time = true;
                    break;
                }
                queue.pop_front();
                done.calls.push(batches[b].len());
                let ids = batches[b]
                    .iter()
                    .map(|d| ImageIdentifier::builder().image_digest(d).build())
                    .collect();
                let request = ecr
                    .batch_delete_image()
                    .repository_name(repository)
                    .set_image_ids(Some(ids));
                running.spawn(async move { (b, request.send().await) });
            }
            if running.is_empty() {
                if out_of_time || queue.is_empty() {
                    break;
                }
                // Only a throttle's wait holds the next call back.
                match pace.resume_at() {
                    Some(r) if budget.allows_call_at(r) => tokio::time::sleep_until(r).await,
                    Some(_) => out_of_time = true,
                    None => {}
                }
                continue;
            }
            let Some(joined) = running.join_next().await else {
                continue;
            };
            let (b, result) = joined.map_err(|e| AwsError::new(OPERATION, e.to_string()))?;
            match result {
                Ok(out) => {
                    done.count(batches[b].len(), &out);
                    pace.on_success();
                }
                Err(e) if is_throttling(&e) => {
                    done.throttled += 1;
                    pace.on_throttle(Instant::now());
                    queue.push_front(b);
                }
                Err(e) => {
                    Err::<(), _>(e).context(OPERATION)?;
                }
            }
        }
        if out_of_time {
            done.left = queue.iter().map(|&b| batches[b].len()).sum::<usize>()
                + phases[p + 1..]
                    .iter()
                    .map(|later| later.len())
                    .sum::<usize>();
            break;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_asked_for_by_digest_accepting_indexes_as_they_are() {
        let ecr = aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::Config::builder()
                .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
                .build(),
        );
        let batch = vec!["sha256:01".to_string(), "sha256:02".to_string()];
        let request = get_manifests(&ecr, "sky-high-booker", &batch);
        let input = request.as_input();
        assert_eq!(
            input.get_repository_name().as_deref(),
            Some("sky-high-booker")
        );
        let ids: Vec<_> = input
            .get_image_ids()
            .iter()
            .flatten()
            .map(|i| (i.image_digest(), i.image_tag()))
            .collect();
        assert_eq!(
            ids,
            vec![(Some("sha256:01"), None), (Some("sha256:02"), None)]
        );
        let accepted = input.get_accepted_media_types().clone().unwrap_or_default();
        for t in [
            media::OCI_INDEX,
            media::DOCKER_MANIFEST_LIST,
            media::OCI_MANIFEST,
            media::DOCKER_MANIFEST,
        ] {
            assert!(accepted.iter().any(|a| a == t), "{t}");
        }
    }

    #[test]
    fn families_come_from_task_definition_arns() {
        assert_eq!(
            family_of("arn:aws:ecs:us-east-1:123456789012:task-definition/sky-web:12"),
            Some("sky-web")
        );
        assert_eq!(family_of("sky-web:3"), Some("sky-web"));
        assert_eq!(family_of("sky-web"), None);
        assert_eq!(
            family_of("arn:aws:ecs:us-east-1:1:task-definition/x:latest"),
            None
        );
    }

    /// The digests and tags `image` names in `repository`.
    fn named(image: &str, repository: &str) -> (Vec<String>, Vec<String>) {
        let mut refs = References::default();
        add_ref(&mut refs, image, repository).unwrap();
        (
            refs.digests.into_iter().collect(),
            refs.tags.into_iter().collect(),
        )
    }

    #[test]
    fn container_images_name_images_of_the_repository_by_digest_or_tag() {
        let repo = "sky-high-booker";
        let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let d = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
        let digest = |d: &str| (vec![d.to_string()], vec![]);
        let tag = |t: &str| (vec![], vec![t.to_string()]);
        let nothing = (vec![], vec![]);
        assert_eq!(named(&format!("{host}/{repo}@{d}"), repo), digest(d));
        assert_eq!(named(&format!("{host}/{repo}:v2@{d}"), repo), digest(d));
        assert_eq!(named(&format!("{host}/{repo}:v2"), repo), tag("v2"));
        assert_eq!(named(&format!("{host}/{repo}"), repo), tag("latest"));
        assert_eq!(named(&format!("localhost:5000/{repo}:v1"), repo), tag("v1"));
        assert_eq!(named(&format!("{repo}:v3"), repo), tag("v3"));
        assert_eq!(named(&format!("{host}/other:v2"), repo), nothing);
        assert_eq!(named(&format!("{host}/{repo}-2:v2"), repo), nothing);
        assert_eq!(named(&format!("{host}/team/{repo}:v2"), repo), nothing);
        assert_eq!(
            named(&format!("{host}/team/{repo}:v2"), &format!("team/{repo}")),
            tag("v2")
        );
        assert_eq!(named("public.ecr.aws/nginx/nginx:1.27", repo), nothing);
        // Unreadable: ignored when it cannot be of the repository, else nothing is deleted.
        assert_eq!(named("public.ecr.aws/nginx/nginx:-bad", repo), nothing);
        for bad in [
            format!("{host}/{repo}:-v2"),
            format!("{host}/{repo}:{}", "v".repeat(129)),
        ] {
            let e = add_ref(&mut References::default(), &bad, repo).unwrap_err();
            assert!(matches!(e, PruneError::UnreadableReference(_)), "{e}");
        }
    }

    // ---- Paging and deleting, against aws-smithy-mocks ----

    use crate::mock;
    use crate::schedule::{MAX_IN_FLIGHT, RESERVE};
    use aws_sdk_ecr::operation::batch_delete_image::BatchDeleteImageOutput;
    use aws_sdk_ecr::operation::describe_images::DescribeImagesOutput;
    use aws_sdk_ecr::types::ImageDetail;
    use aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput;
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_smithy_mocks::{mock, MockResponse};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn detail(i: usize) -> ImageDetail {
        let b = ImageDetail::builder()
            .image_digest(format!("sha256:{i:064x}"))
            .image_pushed_at(aws_smithy_types::DateTime::from_millis(i as i64 * 1000))
            .image_manifest_media_type(media::DOCKER_MANIFEST)
            .image_size_in_bytes(1_000_000)
            .registry_id("123456789012");
        if i % 2 == 0 {
            b.image_tags(format!("build-{i}")).build()
        } else {
            b.build()
        }
    }

    /// The token and page size of each request.
    type Asked = Arc<Mutex<Vec<(Option<String>, Option<i32>)>>>;

    /// DescribeImages answering `pages` (sizes), with the token of page n being "t{n}", and
    /// remembering the token and page size each request carried.
    fn describe_images(pages: Vec<usize>, asked: Asked) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_ecr::Client::describe_images).then_compute_output(move |input| {
            asked
                .lock()
                .unwrap()
                .push((input.next_token().map(str::to_string), input.max_results()));
            let page: usize = input.next_token().map_or(0, |t| t[1..].parse().unwrap());
            let start: usize = pages[..page].iter().sum();
            let details = (start..start + pages[page]).map(detail).collect();
            let next = (page + 1 < pages.len()).then(|| format!("t{}", page + 1));
            DescribeImagesOutput::builder()
                .set_image_details(Some(details))
                .set_next_token(next)
                .build()
        })
    }

    #[tokio::test]
    async fn every_describe_images_page_is_read_into_the_compact_form() {
        let asked = Arc::new(Mutex::new(vec![]));
        let rule = describe_images(vec![1000, 1000, 1000, 7], asked.clone());
        let ecr = mock::ecr(&[&rule]);
        let images = read_images(&ecr, "sky-high-booker").await.unwrap();
        assert_eq!(images.len(), 3_007);
        assert_eq!(
            *asked.lock().unwrap(),
            vec![
                (None, Some(1000)),
                (Some("t1".into()), Some(1000)),
                (Some("t2".into()), Some(1000)),
                (Some("t3".into()), Some(1000)),
            ],
            "each page once, in order, 1,000 at a time; the last page has no token"
        );
        assert_eq!(
            images[2],
            Image {
                digest: format!("sha256:{:064x}", 2),
                tags: vec!["build-2".into()],
                pushed_at: 2_000,
                kind: Kind::of(Some(media::DOCKER_MANIFEST), None),
                subject: None,
            }
        );
        assert!(images[3].tags.is_empty());
        assert_eq!(images[3_006].digest, format!("sha256:{:064x}", 3_006));
    }

    #[tokio::test]
    async fn a_single_page_and_an_empty_repository_take_one_call() {
        for (pages, images) in [(vec![0], 0), (vec![999], 999)] {
            let asked = Arc::new(Mutex::new(vec![]));
            let rule = describe_images(pages, asked.clone());
            let read = read_images(&mock::ecr(&[&rule]), "r").await.unwrap();
            assert_eq!((read.len(), asked.lock().unwrap().len()), (images, 1));
        }
    }

    #[tokio::test]
    async fn a_page_token_handed_back_again_is_an_error_not_an_endless_or_a_short_listing() {
        // "a" then "a" again (the SDK's paginator would end the listing there, as if
        // complete), and the cycle "a" → "b" → "a" (it would never end).
        for tokens in [vec!["a", "a"], vec!["a", "b", "a"]] {
            let calls = Arc::new(Mutex::new(0usize));
            let counter = calls.clone();
            let rule = mock!(aws_sdk_ecr::Client::describe_images).then_compute_output(move |_| {
                let mut n = counter.lock().unwrap();
                let next = tokens.get(*n).map(|t| t.to_string());
                *n += 1;
                DescribeImagesOutput::builder()
                    .image_details(detail(*n))
                    .set_next_token(next.or(Some("unreachable".into())))
                    .build()
            });
            let e = read_images(&mock::ecr(&[&rule]), "r").await.unwrap_err();
            assert!(
                matches!(
                    e,
                    PruneError::PagingLoop {
                        operation: "ecr:DescribeImages",
                        ..
                    }
                ),
                "{e}"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_page_fails_the_whole_listing() {
        let calls = Arc::new(Mutex::new(0usize));
        let counter = calls.clone();
        let rule = mock!(aws_sdk_ecr::Client::describe_images).then_compute_response(move |_| {
            let mut n = counter.lock().unwrap();
            *n += 1;
            if *n == 1 {
                MockResponse::Output(
                    DescribeImagesOutput::builder()
                        .image_details(detail(0))
                        .next_token("t1")
                        .build(),
                )
            } else {
                MockResponse::Http(mock::error(500, "ServerException"))
            }
        });
        let e = read_images(&mock::ecr(&[&rule]), "r").await.unwrap_err();
        assert!(
            e.to_string()
                .contains("ecr:DescribeImages failed: ServerException"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn running_tasks_are_listed_over_every_page() {
        let rule = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(|input| {
            let (arns, next) = match input.next_token() {
                None => ((0..100).collect::<Vec<_>>(), Some("p2")),
                Some("p2") => ((100..200).collect(), Some("p3")),
                _ => ((200..201).collect(), None),
            };
            assert_eq!(input.desired_status(), Some(&DesiredStatus::Running));
            ListTasksOutput::builder()
                .set_task_arns(Some(arns.iter().map(|i| format!("task/{i}")).collect()))
                .set_next_token(next.map(str::to_string))
                .build()
        });
        let s = crate::settings::Settings::example();
        let tasks = list_tasks(&mock::ecs(&[&rule]), &s).await.unwrap();
        assert_eq!(tasks.len(), 201);
        assert_eq!(
            (tasks[0].as_str(), tasks[200].as_str()),
            ("task/0", "task/200")
        );
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn rollback_revisions_stop_paging_once_enough_are_in() {
        let rule = mock!(aws_sdk_ecs::Client::list_task_definitions).then_compute_output(|input| {
            let page: u32 = input.next_token().map_or(0, |t| t.parse().unwrap());
            // Newest first: 50 revisions of another family sharing the prefix, then ours.
            let arns = (0..10)
                .map(|i| {
                    let n = 100 - page * 10 - i;
                    if page < 5 {
                        format!("arn:aws:ecs:us-east-1:1:task-definition/sky-web-2:{n}")
                    } else {
                        format!("arn:aws:ecs:us-east-1:1:task-definition/sky-web:{n}")
                    }
                })
                .collect();
            ListTaskDefinitionsOutput::builder()
                .set_task_definition_arns(Some(arns))
                .next_token((page + 1).to_string())
                .build()
        });
        let ecs = mock::ecs(&[&rule]);
        let current =
            BTreeSet::from(["arn:aws:ecs:us-east-1:1:task-definition/sky-web:50".to_string()]);
        let kept = rollback_revisions(&ecs, &current, 3).await.unwrap();
        let kept: Vec<&str> = kept.iter().filter_map(|a| a.rsplit(':').next()).collect();
        assert_eq!(kept, ["47", "48", "49"]);
        assert_eq!(
            rule.num_calls(),
            6,
            "five pages of the other family, then one of ours"
        );
    }

    fn digests(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("sha256:{prefix}{i:04}")).collect()
    }

    /// BatchDeleteImage: `script(call number)` says whether that call is throttled; the others
    /// delete what they are asked. Remembers the first id of each call.
    fn batch_delete(
        throttled: impl Fn(usize) -> bool + Send + Sync + 'static,
        firsts: Arc<Mutex<Vec<String>>>,
    ) -> aws_smithy_mocks::Rule {
        let n = Arc::new(Mutex::new(0usize));
        mock!(aws_sdk_ecr::Client::batch_delete_image).then_compute_response(move |input| {
            let call = {
                let mut n = n.lock().unwrap();
                *n += 1;
                *n
            };
            assert!(input.image_ids().len() <= DELETE_BATCH);
            if throttled(call) {
                return MockResponse::Http(mock::error(400, "ThrottlingException"));
            }
            let first = input.image_ids()[0]
                .image_digest()
                .unwrap_or_default()
                .to_string();
            firsts.lock().unwrap().push(first);
            MockResponse::Output(
                BatchDeleteImageOutput::builder()
                    .set_image_ids(Some(input.image_ids().to_vec()))
                    .build(),
            )
        })
    }

    #[tokio::test]
    async fn deletions_go_100_a_call_and_every_index_before_any_other_manifest() {
        let firsts = Arc::new(Mutex::new(vec![]));
        let rule = batch_delete(|_| false, firsts.clone());
        let (indexes, rest) = (digests("i", 150), digests("m", 250));
        let done = delete(
            &mock::ecr(&[&rule]),
            "r",
            &[&indexes, &rest],
            MAX_IN_FLIGHT,
            Budget::unlimited(),
        )
        .await
        .unwrap();
        assert_eq!(done.calls, [100, 50, 100, 100, 50]);
        assert_eq!(
            (done.deleted, done.not_found, done.throttled, done.left),
            (400, 0, 0, 0)
        );
        let firsts = firsts.lock().unwrap();
        let phase_of = |d: &String| d.as_bytes()[7];
        let order: Vec<u8> = firsts.iter().map(phase_of).collect();
        assert!(order[..2].iter().all(|&p| p == b'i'), "{firsts:?}");
        assert!(order[2..].iter().all(|&p| p == b'm'), "{firsts:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_waits_and_is_made_again() {
        let firsts = Arc::new(Mutex::new(vec![]));
        // The first three calls are throttled (also after the SDK's attempts): they are made
        // again after a wait, fewer at a time.
        let rule = batch_delete(|call| call <= 3, firsts.clone());
        let ids = digests("m", 450);
        let started = Instant::now();
        let done = delete(
            &mock::ecr(&[&rule]),
            "r",
            &[&[], &ids],
            MAX_IN_FLIGHT,
            Budget::unlimited(),
        )
        .await
        .unwrap();
        assert_eq!((done.deleted, done.throttled, done.left), (450, 3, 0));
        assert_eq!(done.calls.len(), 5 + 3);
        let mut deleted = firsts.lock().unwrap().clone();
        deleted.sort();
        assert_eq!(
            deleted,
            ids.iter().step_by(100).cloned().collect::<Vec<_>>()
        );
        // tokio's paused clock (virtual time): the calls were made again after a wait.
        assert!(started.elapsed() >= crate::schedule::FIRST_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn deletions_stop_in_time_for_the_answer_and_say_what_is_left() {
        let firsts = Arc::new(Mutex::new(vec![]));
        let rule = batch_delete(|call| call == 1, firsts.clone());
        let ids = digests("m", 500);
        // Time for the first calls, not for the wait after the throttle.
        let budget = Budget::until(Instant::now() + RESERVE + Duration::from_millis(500));
        let done = delete(
            &mock::ecr(&[&rule]),
            "r",
            &[&[], &ids],
            MAX_IN_FLIGHT,
            budget,
        )
        .await
        .unwrap();
        assert_eq!(done.calls, [100, 100, 100, 100]);
        assert_eq!((done.deleted, done.throttled, done.left), (300, 1, 200));
        // An index phase cut short leaves the other manifests for the next run too.
        let rule = batch_delete(|_| true, Arc::new(Mutex::new(vec![])));
        let budget = Budget::until(Instant::now() + RESERVE);
        let done = delete(
            &mock::ecr(&[&rule]),
            "r",
            &[&digests("i", 30), &ids],
            MAX_IN_FLIGHT,
            budget,
        )
        .await
        .unwrap();
        assert_eq!((done.calls.len(), done.deleted, done.left), (1, 0, 530));
        // No time at all: nothing is asked.
        let done = delete(
            &mock::ecr(&[&rule]),
            "r",
            &[&[], &ids],
            MAX_IN_FLIGHT,
            Budget::until(Instant::now()),
        )
        .await
        .unwrap();
        assert_eq!((done.calls.len(), done.left), (0, 500));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever ECR throttles, with time enough every id is deleted once, every index
        /// before any other manifest, in calls of at most 100; each throttle costs one call.
        #[test]
        fn with_time_enough_every_id_is_deleted_whatever_is_throttled(
            indexes in 0usize..250,
            rest in 0usize..650,
            in_flight in 1usize..6,
            throttled in proptest::collection::vec(proptest::bool::ANY, 0..20),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            let firsts = Arc::new(Mutex::new(vec![]));
            let script = throttled.clone();
            let rule = batch_delete(move |call| script.get(call - 1).copied().unwrap_or(false), firsts.clone());
            let (i, r) = (digests("i", indexes), digests("m", rest));
            let done = runtime
                .block_on(delete(&mock::ecr(&[&rule]), "r", &[&i, &r], in_flight, Budget::unlimited()))
                .unwrap();
            proptest::prop_assert_eq!((done.deleted, done.left), (indexes + rest, 0));
            let calls_needed = indexes.div_ceil(100) + rest.div_ceil(100);
            proptest::prop_assert_eq!(done.calls.len(), calls_needed + done.throttled);
            proptest::prop_assert!(done.calls.iter().all(|&c| c <= DELETE_BATCH));
            let firsts = firsts.lock().unwrap();
            let mut seen = firsts.clone();
            seen.sort();
            seen.dedup();
            proptest::prop_assert_eq!(seen.len(), calls_needed, "each batch deleted once");
            let last_index = firsts.iter().rposition(|d| d.as_bytes()[7] == b'i');
            let first_rest = firsts.iter().position(|d| d.as_bytes()[7] == b'm');
            if let (Some(a), Some(b)) = (last_index, first_rest) {
                proptest::prop_assert!(a < b, "{firsts:?}");
            }
        }
    }

    #[tokio::test]
    async fn another_failure_stops_the_deletions_with_its_error() {
        let rule = mock!(aws_sdk_ecr::Client::batch_delete_image)
            .then_http_response(|| mock::error(400, "RepositoryNotFoundException"));
        let e = delete(
            &mock::ecr(&[&rule]),
            "r",
            &[&[], &digests("m", 10)],
            MAX_IN_FLIGHT,
            Budget::unlimited(),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("ecr:BatchDeleteImage failed: RepositoryNotFoundException"),
            "{e}"
        );
    }
}
