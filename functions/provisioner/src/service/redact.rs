//! What the logs may show of a task definition: the variables' names, never their values.
//! Environment values are often credentials in all but name, and a secret's `valueFrom` says
//! where to read one; plans are logged with their task definitions (`plan = ?actions`), so
//! the task definition's own `Debug` is the one place to keep them out.

use super::plan::TaskSpec;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::plan::Action;

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
}
