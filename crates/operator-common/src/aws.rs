//! AWS SDK configuration, loaded once per execution environment and only when first needed:
//! loading it reads the system trust store, which would otherwise dominate the cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The shared SDK configuration. Honours the standard environment (`AWS_REGION`,
/// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, credentials), which is how tests and the
/// local demo point the functions at moto server.
pub async fn config() -> &'static SdkConfig {
    CONFIG
        .get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).load())
        .await
}
