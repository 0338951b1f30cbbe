//! Reading the running revision and the images' facts; registering and rolling the new revision.

use crate::decide::{split_image, ImageFacts, Running};
use crate::error::{AwsContext, RedeployError};
use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::TaskDefinition;
use std::collections::HashMap;

/// The service's latest task-definition revision (the one it runs or is rolling out: the
/// provisioner and this function always register, then update), and which container runs an
/// image of `repository`. The family is the service's name, as the provisioner registers it.
pub async fn latest_revision(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    repository: &str,
) -> Result<(TaskDefinition, usize), RedeployError> {
    let out = ecs
        .describe_task_definition()
        .task_definition(family)
        .send()
        .await
        .context("ecs:DescribeTaskDefinition")?;
    let td = out
        .task_definition()
        .cloned()
        .ok_or_else(|| RedeployError::Unusable(format!("no task definition in family {family}")))?;
    let index = td
        .container_definitions()
        .iter()
        .position(|c| {
            split_image(c.image().unwrap_or_default())
                .0
                .ends_with(&format!("/{repository}"))
        })
        .ok_or_else(|| {
            RedeployError::Unusable(format!(
                "no container of {} runs an image of repository {repository}",
                td.task_definition_arn().unwrap_or(family)
            ))
        })?;
    Ok((td, index))
}

pub fn running_of(td: &TaskDefinition, index: usize) -> Running {
    let image = td.container_definitions()[index]
        .image()
        .unwrap_or_default()
        .to_string();
    let digest = split_image(&image).1.map(str::to_string);
    Running {
        image,
        digest,
        facts: None,
    }
}

/// ECR's push time and tags for each digest still in the repository (one call; a second only
/// when one of them is gone, since DescribeImages fails whole on a missing id).
pub async fn image_facts(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    digests: &[&str],
) -> Result<HashMap<String, ImageFacts>, RedeployError> {
    let ids: Vec<ImageIdentifier> = digests
        .iter()
        .map(|d| ImageIdentifier::builder().image_digest(*d).build())
        .collect();
    let out = ecr
        .describe_images()
        .repository_name(repository)
        .set_image_ids(Some(ids))
        .send()
        .await;
    let details = match out {
        Ok(out) => out.image_details().to_vec(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_image_not_found_exception())
                && digests.len() > 1 =>
        {
            let mut found = Vec::new();
            for d in digests {
                let one = ecr
                    .describe_images()
                    .repository_name(repository)
                    .image_ids(ImageIdentifier::builder().image_digest(*d).build())
                    .send()
                    .await;
                match one {
                    Ok(out) => found.extend(out.image_details().to_vec()),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_image_not_found_exception()) => {}
                    Err(e) => return Err(e).context("ecr:DescribeImages"),
                }
            }
            found
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_image_not_found_exception()) =>
        {
            Vec::new()
        }
        Err(e) => return Err(e).context("ecr:DescribeImages"),
    };
    Ok(details
        .into_iter()
        .filter_map(|d| {
            Some((
                d.image_digest()?.to_string(),
                ImageFacts {
                    pushed_at: d.image_pushed_at().map(|t| t.secs()).unwrap_or_default(),
                    tags: d.image_tags().to_vec(),
                },
            ))
        })
        .collect())
}

/// A revision identical to `td` but for the image of container `index` (unit-tested: every
/// setting of the running revision must survive).
pub fn register_request(
    ecs: &aws_sdk_ecs::Client,
    td: &TaskDefinition,
    index: usize,
    image: &str,
) -> RegisterTaskDefinitionFluentBuilder {
    let mut containers = td.container_definitions().to_vec();
    containers[index].image = Some(image.to_string());
    ecs.register_task_definition()
        .family(td.family().unwrap_or_default())
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
}

/// Registers the revision and rolls the service onto it (a rolling deployment guarded by the
/// circuit breaker the provisioner configured). Returns the new revision's ARN.
pub async fn roll(
    ecs: &aws_sdk_ecs::Client,
    td: &TaskDefinition,
    index: usize,
    image: &str,
    cluster: &str,
    service: &str,
) -> Result<String, RedeployError> {
    let out = register_request(ecs, td, index, image)
        .send()
        .await
        .context("ecs:RegisterTaskDefinition")?;
    let arn = out
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_string();
    ecs.update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(&arn)
        .send()
        .await
        .context("ecs:UpdateService")?;
    Ok(arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        Compatibility, ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver, NetworkMode,
        PortMapping,
    };

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
        let input = register_request(
            &ecs,
            &td,
            1,
            "1.dkr.ecr.us-east-1.amazonaws.com/sky@sha256:new",
        )
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
        assert_eq!(
            containers[1].image(),
            Some("1.dkr.ecr.us-east-1.amazonaws.com/sky@sha256:new")
        );
        assert_eq!(containers[1].environment()[0].value(), Some("production"));
        assert_eq!(containers[1].port_mappings()[0].container_port(), Some(80));
    }
}
