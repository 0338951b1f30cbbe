//! The local stand-ins for what moto cannot play: CloudFormation (requests and the presigned
//! response URL), the Lambda Runtime API, and the network template.yaml would create. Used by
//! the integration tests, the local demo and the benchmarks.

pub mod cfn;
pub mod ec2;
pub mod http;
pub mod moto;
pub mod outputs_stack;
pub mod response_url;
pub mod runtime_api;
pub mod scenarios;
pub mod stack;
pub mod strict;
pub mod template;
pub mod world;
