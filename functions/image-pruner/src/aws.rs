//! Reading what the decision needs from ECR and ECS, and carrying out the plan.

use crate::decide::{media, Image, InUse, Manifest, Manifests, References};
use crate::error::{AwsContext, PruneError, Result};
use crate::paging::{collect, collect_all, Page, Pages};
use crate::settings::PrunerSettings;
use aws_config::SdkConfig;
use aws_sdk_ecr::types::{ImageIdentifier, Tag};
use aws_sdk_ecs::types::{DesiredStatus, SortOrder};
use operator_common::error::AwsError;
use serde::Serialize;
use std::collections::BTreeSet;
use std::future::Future;

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

/// DescribeImages of one repository, 1000 per page (the maximum).
pub struct DescribeImages<'a> {
    pub ecr: &'a aws_sdk_ecr::Client,
    pub repository: &'a str,
}

fn image_of(d: &aws_sdk_ecr::types::ImageDetail) -> Option<Image> {
    Some(Image {
        digest: d.image_digest()?.to_string(),
        tags: d.image_tags().to_vec(),
        pushed_at: d
            .image_pushed_at()
            .and_then(|t| t.to_millis().ok())
            .unwrap_or(i64::MAX),
        manifest_media_type: d.image_manifest_media_type().map(str::to_string),
        artifact_media_type: d.artifact_media_type().map(str::to_string),
        subject: d.subject_manifest_digest().map(str::to_string),
    })
}

impl Pages for DescribeImages<'_> {
    type Item = Image;
    const OPERATION: &'static str = "ecr:DescribeImages";
    fn page(&mut self, token: Option<String>) -> impl Future<Output = Result<Page<Image>>> + Send {
        let request = self
            .ecr
            .describe_images()
            .repository_name(self.repository)
            .max_results(1000)
            .set_next_token(token);
        async move {
            let out = request.send().await.context(Self::OPERATION)?;
            Ok(Page {
                items: out.image_details().iter().filter_map(image_of).collect(),
                next_token: out.next_token().map(str::to_string),
            })
        }
    }
}

/// ListTasks of the service whose desired status is RUNNING.
struct ListTasks<'a> {
    ecs: &'a aws_sdk_ecs::Client,
    cluster: &'a str,
    service: &'a str,
}

impl Pages for ListTasks<'_> {
    type Item = String;
    const OPERATION: &'static str = "ecs:ListTasks";
    fn page(&mut self, token: Option<String>) -> impl Future<Output = Result<Page<String>>> + Send {
        let request = self
            .ecs
            .list_tasks()
            .cluster(self.cluster)
            .service_name(self.service)
            .desired_status(DesiredStatus::Running)
            .max_results(100)
            .set_next_token(token);
        async move {
            let out = request.send().await.context(Self::OPERATION)?;
            Ok(Page {
                items: out.task_arns().to_vec(),
                next_token: out.next_token().map(str::to_string),
            })
        }
    }
}

/// ListTaskDefinitions of a family prefix, newest first.
struct ListTaskDefinitions<'a> {
    ecs: &'a aws_sdk_ecs::Client,
    family: &'a str,
}

impl Pages for ListTaskDefinitions<'_> {
    type Item = String;
    const OPERATION: &'static str = "ecs:ListTaskDefinitions";
    fn page(&mut self, token: Option<String>) -> impl Future<Output = Result<Page<String>>> + Send {
        let request = self
            .ecs
            .list_task_definitions()
            .family_prefix(self.family)
            .sort(SortOrder::Desc)
            .max_results(100)
            .set_next_token(token);
        async move {
            let out = request.send().await.context(Self::OPERATION)?;
            Ok(Page {
                items: out.task_definition_arns().to_vec(),
                next_token: out.next_token().map(str::to_string),
            })
        }
    }
}

/// `arn:…:task-definition/FAMILY:REVISION` (or `FAMILY:REVISION`) → FAMILY.
pub fn family_of(task_definition: &str) -> Option<&str> {
    let name = task_definition
        .rsplit_once(":task-definition/")
        .map_or(task_definition, |(_, n)| n);
    let (family, revision) = name.rsplit_once(':')?;
    (!family.is_empty() && revision.parse::<u32>().is_ok()).then_some(family)
}

/// How a container image names an image of `repository`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    Digest(String),
    Tag(String),
}

/// `HOST/NAME@sha256:…` → its digest; `HOST/NAME:TAG` → its tag (`latest` when none);
/// images of other repositories → None. The registry host is not compared: a reference
/// with the same repository name errs on the side of keeping.
pub fn image_ref(image: &str, repository: &str) -> Option<ImageRef> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let after_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match name[after_slash..].rfind(':') {
        Some(i) => (&name[..after_slash + i], Some(&name[after_slash + i + 1..])),
        None => (name, None),
    };
    let path = match path.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => path,
    };
    if path != repository {
        return None;
    }
    Some(match (digest, tag) {
        (Some(d), _) => ImageRef::Digest(d.to_string()),
        (None, Some(t)) => ImageRef::Tag(t.to_string()),
        (None, None) => ImageRef::Tag("latest".into()),
    })
}

fn add_ref(refs: &mut References, image: &str, repository: &str) {
    match image_ref(image, repository) {
        Some(ImageRef::Digest(d)) => {
            refs.digests.insert(d);
        }
        Some(ImageRef::Tag(t)) => {
            refs.tags.insert(t);
        }
        None => {}
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

/// Every image of the repository.
pub async fn read_images(ecr: &aws_sdk_ecr::Client, repository: &str) -> Result<Vec<Image>> {
    collect_all(&mut DescribeImages { ecr, repository }).await
}

/// The task definitions the service runs (deployments and running tasks, with the digests the
/// tasks report), or None when the service does not exist.
async fn read_running(
    ecs: &aws_sdk_ecs::Client,
    s: &PrunerSettings,
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

    let tasks = collect_all(&mut ListTasks {
        ecs,
        cluster: &s.cluster_name,
        service: &s.service_name,
    })
    .await?;
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
                    add_ref(&mut refs, image, &s.repository_name);
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
        let (arns, _) = collect(&mut ListTaskDefinitions { ecs, family }, |arns| {
            previous(arns).len() >= keep
        })
        .await?;
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
pub async fn read(clients: &Clients, s: &PrunerSettings) -> Result<Observed> {
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
            add_ref(refs, &image, &s.repository_name);
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
    /// The size of each BatchDeleteImage call, in order.
    pub calls: Vec<usize>,
    /// Images deleted: asked for and not reported as a failure (moto lists no id for an
    /// untagged image it deletes, so the answer's imageIds cannot be counted).
    pub deleted: usize,
    /// Images already gone (ImageNotFound): fine, someone else (or a lost answer's first
    /// attempt) deleted them.
    pub not_found: usize,
    /// Other failures, `digest: code: reason` (e.g. an image a manifest list references).
    pub failures: Vec<String>,
}

/// Deletes the digests of each phase in turn, in BatchDeleteImage calls of at most
/// [`DELETE_BATCH`] ids that never mix phases (indexes go before the manifests they name).
pub async fn delete(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    phases: &[&[String]],
) -> Result<Deletion> {
    let mut done = Deletion::default();
    for batch in phases.iter().flat_map(|p| p.chunks(DELETE_BATCH)) {
        let ids = batch
            .iter()
            .map(|d| ImageIdentifier::builder().image_digest(d).build())
            .collect();
        let out = ecr
            .batch_delete_image()
            .repository_name(repository)
            .set_image_ids(Some(ids))
            .send()
            .await
            .context("ecr:BatchDeleteImage")?;
        done.calls.push(batch.len());
        let mut failed = 0;
        for f in out.failures() {
            failed += 1;
            let digest = f
                .image_id()
                .and_then(|i| i.image_digest())
                .unwrap_or_default();
            match f.failure_code() {
                Some(aws_sdk_ecr::types::ImageFailureCode::ImageNotFound) => done.not_found += 1,
                code => done.failures.push(format!(
                    "{digest}: {}: {}",
                    code.map(|c| c.as_str()).unwrap_or("unknown"),
                    f.failure_reason().unwrap_or_default()
                )),
            }
        }
        done.deleted += batch.len().saturating_sub(failed);
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

    #[test]
    fn container_images_name_images_of_the_repository_by_digest_or_tag() {
        let repo = "sky-high-booker";
        let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let d = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
        assert_eq!(
            image_ref(&format!("{host}/{repo}@{d}"), repo),
            Some(ImageRef::Digest(d.into()))
        );
        assert_eq!(
            image_ref(&format!("{host}/{repo}:v2@{d}"), repo),
            Some(ImageRef::Digest(d.into()))
        );
        assert_eq!(
            image_ref(&format!("{host}/{repo}:v2"), repo),
            Some(ImageRef::Tag("v2".into()))
        );
        assert_eq!(
            image_ref(&format!("{host}/{repo}"), repo),
            Some(ImageRef::Tag("latest".into()))
        );
        assert_eq!(
            image_ref(&format!("localhost:5000/{repo}:v1"), repo),
            Some(ImageRef::Tag("v1".into()))
        );
        assert_eq!(image_ref(&format!("{host}/other:v2"), repo), None);
        assert_eq!(image_ref(&format!("{host}/{repo}-2:v2"), repo), None);
        assert_eq!(image_ref(&format!("{host}/team/{repo}:v2"), repo), None);
        assert_eq!(
            image_ref(&format!("{host}/team/{repo}:v2"), &format!("team/{repo}")),
            Some(ImageRef::Tag("v2".into()))
        );
        assert_eq!(image_ref("public.ecr.aws/nginx/nginx:1.27", repo), None);
    }
}
