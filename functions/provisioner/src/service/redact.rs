//! What the logs may show of a task definition or a service: the variables' names, never
//! their values.
//! Environment values are often credentials in all but name, and a secret's `valueFrom` says
//! where to read one; plans are logged with their task definitions (`plan = ?actions`), so
//! the task definition's own `Debug` is the one place to keep them out; the service's
//! properties (`ServiceSpec`) hold the same maps, so its `Debug` is redacted the same way.

use super::plan::TaskSpec;
use super::properties::ServiceSpec;
use std::collections::BTreeMap;
use std::fmt;

/// A map shown by its keys alone.
pub struct Names<'a>(pub &'a BTreeMap<String, String>);

impl fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl fmt::Debug for TaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so that a new field cannot be added without deciding how it shows.
        let TaskSpec {
            family,
            cpu,
            memory,
            execution_role_arn,
            task_role_arn,
            container_name,
            image,
            container_port,
            environment,
            secrets,
            log_group,
            log_region,
        } = self;
        f.debug_struct("TaskSpec")
            .field("family", family)
            .field("cpu", cpu)
            .field("memory", memory)
            .field("execution_role_arn", execution_role_arn)
            .field("task_role_arn", task_role_arn)
            .field("container_name", container_name)
            .field("image", image)
            .field("container_port", container_port)
            .field("environment", &Names(environment))
            .field("secrets", &Names(secrets))
            .field("log_group", log_group)
            .field("log_region", log_region)
            .finish()
    }
}

impl fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so that a new field cannot be added without deciding how it shows.
        let ServiceSpec {
            cluster,
            name,
            repository_uri,
            image_tag,
            cpu,
            memory,
            container_port,
            desired_count,
            min_capacity,
            max_capacity,
            cpu_target_percent,
            memory_target_percent,
            subnets,
            security_groups,
            assign_public_ip,
            target_group_arn,
            execution_role_arn,
            task_role_arn,
            log_retention_days,
            environment,
            secrets,
            grace_period_seconds,
            minimum_healthy_percent,
            maximum_percent,
            wait_for_steady_state,
            cluster_strategy,
        } = self;
        f.debug_struct("ServiceSpec")
            .field("cluster", cluster)
            .field("name", name)
            .field("repository_uri", repository_uri)
            .field("image_tag", image_tag)
            .field("cpu", cpu)
            .field("memory", memory)
            .field("container_port", container_port)
            .field("desired_count", desired_count)
            .field("min_capacity", min_capacity)
            .field("max_capacity", max_capacity)
            .field("cpu_target_percent", cpu_target_percent)
            .field("memory_target_percent", memory_target_percent)
            .field("subnets", subnets)
            .field("security_groups", security_groups)
            .field("assign_public_ip", assign_public_ip)
            .field("target_group_arn", target_group_arn)
            .field("execution_role_arn", execution_role_arn)
            .field("task_role_arn", task_role_arn)
            .field("log_retention_days", log_retention_days)
            .field("environment", &Names(environment))
            .field("secrets", &Names(secrets))
            .field("grace_period_seconds", grace_period_seconds)
            .field("minimum_healthy_percent", minimum_healthy_percent)
            .field("maximum_percent", maximum_percent)
            .field("wait_for_steady_state", wait_for_steady_state)
            .field("cluster_strategy", cluster_strategy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::plan::Action;
    use crate::service::properties::tests::spec_with;
    use serde_json::json;

    fn task() -> TaskSpec {
        TaskSpec {
            family: "web".into(),
            cpu: "256".into(),
            memory: "512".into(),
            execution_role_arn: "arn:aws:iam::123456789012:role/exec".into(),
            task_role_arn: None,
            container_name: "web".into(),
            image: "repo:latest".into(),
            container_port: 80,
            environment: BTreeMap::from([("DB_PASSWORD".into(), "SECRET-VALUE-123".into())]),
            secrets: BTreeMap::from([(
                "API_KEY".into(),
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:SECRET-ARN-456".into(),
            )]),
            log_group: "/ecs/web".into(),
            log_region: "us-east-1".into(),
        }
    }

    #[test]
    fn a_task_definition_shows_names_and_never_values() {
        let action = Action::RegisterTaskDefinition(Box::new(task()));
        for shown in [format!("{action:?}"), format!("{action:#?}")] {
            assert!(
                shown.contains("DB_PASSWORD") && shown.contains("API_KEY"),
                "{shown}"
            );
            assert!(
                shown.contains("repo:latest") && shown.contains("/ecs/web"),
                "{shown}"
            );
            assert!(!shown.contains("SECRET-VALUE-123"), "{shown}");
            assert!(!shown.contains("SECRET-ARN-456"), "{shown}");
        }
    }

    #[test]
    fn a_service_shows_names_and_never_values() {
        let spec = spec_with(json!({
            "Environment": {"DB_PASSWORD": "SECRET-VALUE-123"},
            "Secrets": {"API_KEY": "arn:aws:secretsmanager:us-east-1:123456789012:secret:SECRET-ARN-456"},
        }));
        // Alone and inside what holds it (an update keeps the old properties beside the new).
        let update = (Some(spec.clone()), spec);
        for shown in [format!("{update:?}"), format!("{update:#?}")] {
            assert!(
                shown.contains("DB_PASSWORD") && shown.contains("API_KEY"),
                "{shown}"
            );
            assert!(
                shown.contains("sky-high-booker") && shown.contains("subnet-a"),
                "{shown}"
            );
            assert!(!shown.contains("SECRET-VALUE-123"), "{shown}");
            assert!(!shown.contains("SECRET-ARN-456"), "{shown}");
        }
    }
}
