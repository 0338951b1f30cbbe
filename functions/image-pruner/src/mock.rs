//! Clients answered in-process by aws-smithy-mocks rules, for unit tests of the AWS part
//! (moto never pages DescribeImages and cannot throttle on demand). No retries: a throttle
//! reaches the pruner's own schedule at once.

use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

pub fn ecr(rules: &[&Rule]) -> aws_sdk_ecr::Client {
    use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "mock"))
            .retry_config(aws_sdk_ecr::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(interceptor(rules))
            .build(),
    )
}

pub fn ecs(rules: &[&Rule]) -> aws_sdk_ecs::Client {
    use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "mock"))
            .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(interceptor(rules))
            .build(),
    )
}

/// An awsJson error answer, as ECR sends it (`ThrottlingException`, `ServerException`…).
pub fn error(status: u16, code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).expect("an HTTP status"),
        SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"mocked {code}"}}"#
        )),
    )
}
