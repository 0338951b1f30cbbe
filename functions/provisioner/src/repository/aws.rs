//! Reading and changing the repository through ECR.

use super::plan::{Action, Plan, RepositoryState};
use crate::error::{AwsContext, ProvisionError, Result};
use crate::ownership::Owner;
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Repository, Tag};
use aws_sdk_ecr::Client;
use operator_common::custom_resource::Success;
use std::collections::BTreeMap;

/// The tag the image pruner reads its keep count from.
pub const KEEP_IMAGES_TAG: &str = "skyhigh:keep-images";

fn state_of(
    repo: &Repository,
    has_images: Option<bool>,
    ownership: crate::ownership::Ownership,
) -> RepositoryState {
    RepositoryState {
        ownership,
        name: repo.repository_name().unwrap_or_default().to_string(),
        arn: repo.repository_arn().unwrap_or_default().to_string(),
        uri: repo.repository_uri().unwrap_or_default().to_string(),
        scan_on_push: repo
            .image_scanning_configuration()
            .is_some_and(|c| c.scan_on_push()),
        tag_mutability: repo
            .image_tag_mutability()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
        has_images,
    }
}

/// The repository as ECR has it, or None. `with_images` also asks whether it holds any image.
pub async fn read(
    ecr: &Client,
    name: &str,
    with_images: bool,
    owner: &Owner,
) -> Result<Option<RepositoryState>> {
    let described = ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await;
    let repo = match described {
        Ok(out) => out.repositories().first().cloned(),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_repository_not_found_exception() || s.is_invalid_parameter_exception()
            }) =>
        {
            None
        }
        Err(e) => {
            return Err(e)
                .context("ecr:DescribeRepositories")
                .map_err(Into::into)
        }
    };
    let Some(repo) = repo else { return Ok(None) };
    // DescribeRepositories does not return tags.
    let tags = ecr
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().unwrap_or_default())
        .send()
        .await
        .context("ecr:ListTagsForResource")?;
    let ownership = owner.judge(
        &tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    );
    if !ownership.is_ours() {
        // Nothing more to read of a repository that will not be touched.
        return Ok(Some(state_of(&repo, None, ownership)));
    }
    let has_images = if with_images {
        let images = ecr
            .list_images()
            .repository_name(name)
            .max_results(1)
            .send()
            .await
            .context("ecr:ListImages")?;
        Some(!images.image_ids().is_empty())
    } else {
        None
    };
    Ok(Some(state_of(&repo, has_images, ownership)))
}

fn keep_tag(keep_images: u32) -> Tag {
    Tag::builder()
        .key(KEEP_IMAGES_TAG)
        .value(keep_images.to_string())
        .build()
        .expect("key and value are set")
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

/// Carries out the plan and reports the resource's Data.
pub async fn act(
    ecr: &Client,
    plan: &Plan,
    current: Option<RepositoryState>,
    owner: &Owner,
) -> Result<Success> {
    let mut state = current;
    let mut reason = None;
    for action in &plan.actions {
        match action {
            Action::Create(spec) => {
                let created = ecr
                    .create_repository()
                    .repository_name(&spec.name)
                    .image_tag_mutability(ImageTagMutability::from(spec.tag_mutability.as_str()))
                    .image_scanning_configuration(
                        ImageScanningConfiguration::builder()
                            .scan_on_push(spec.scan_on_push)
                            .build(),
                    )
                    .set_tags(Some(
                        std::iter::once(keep_tag(spec.keep_images))
                            .chain(owner.tags().iter().map(|(k, v)| tag(k, v)))
                            .collect(),
                    ))
                    .send()
                    .await;
                let repo = match created {
                    Ok(out) => out.repository().cloned(),
                    // A concurrent or retried Create got there first: adopt it.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_repository_already_exists_exception()) =>
                    {
                        None
                    }
                    Err(e) => return Err(e).context("ecr:CreateRepository").map_err(Into::into),
                };
                state = match repo {
                    Some(r) => Some(state_of(&r, None, crate::ownership::Ownership::Ours)),
                    None => read(ecr, &spec.name, false, owner).await?,
                };
                if let Some(other) = state.as_ref().filter(|s| !s.ownership.is_ours()) {
                    return Err(ProvisionError::Refused(other.ownership.refusal(
                        &format!("ECR repository {}", other.name),
                        "RepositoryName",
                    )));
                }
            }
            Action::SetScanOnPush { name, enabled } => {
                ecr.put_image_scanning_configuration()
                    .repository_name(name)
                    .image_scanning_configuration(
                        ImageScanningConfiguration::builder()
                            .scan_on_push(*enabled)
                            .build(),
                    )
                    .send()
                    .await
                    .context("ecr:PutImageScanningConfiguration")?;
            }
            Action::SetTagMutability { name, mutability } => {
                ecr.put_image_tag_mutability()
                    .repository_name(name)
                    .image_tag_mutability(ImageTagMutability::from(mutability.as_str()))
                    .send()
                    .await
                    .context("ecr:PutImageTagMutability")?;
            }
            Action::TagKeepImages { keep_images, .. } => {
                let arn = state.as_ref().map(|s| s.arn.clone()).unwrap_or_default();
                ecr.tag_resource()
                    .resource_arn(arn)
                    .tags(keep_tag(*keep_images))
                    .send()
                    .await
                    .context("ecr:TagResource")?;
            }
            Action::Delete { name, force } => {
                let deleted = ecr
                    .delete_repository()
                    .repository_name(name)
                    .force(*force)
                    .send()
                    .await;
                match deleted {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_repository_not_found_exception()) => {}
                    // An image was pushed since we looked: keep it rather than lose it.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_repository_not_empty_exception()) =>
                    {
                        reason = Some(format!("repository {name} received images while being deleted, so it was retained"));
                    }
                    Err(e) => return Err(e).context("ecr:DeleteRepository").map_err(Into::into),
                }
                return Ok(Success {
                    physical_id: plan.physical_id.clone(),
                    data: BTreeMap::new(),
                    reason,
                });
            }
            Action::Retain { reason: why, .. } => reason = Some(why.clone()),
        }
    }
    let data = state
        .map(|s| {
            BTreeMap::from([
                ("RepositoryName".to_string(), s.name),
                ("RepositoryArn".to_string(), s.arn),
                ("RepositoryUri".to_string(), s.uri),
            ])
        })
        .unwrap_or_default();
    Ok(Success {
        physical_id: plan.physical_id.clone(),
        data,
        reason,
    })
}
