//! What the operator's Lambda functions share: the CloudFormation custom-resource protocol,
//! typed reading of string-valued properties and settings, AWS client configuration and logging.

pub mod aws;
pub mod custom_resource;
pub mod error;
pub mod events;
pub mod http;
pub mod image;
pub mod logging;
pub mod metrics;
pub mod properties;
pub mod runner;
pub mod settings;
