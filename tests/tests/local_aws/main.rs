//! The integration tests against the local AWS, one test binary: they share one moto server
//! and one strict layer (each test names its resources after its own `World`), and the
//! workspace links the SDKs into one test executable instead of one per file (disk and link
//! time; CI's disk is small). Two stay their own binaries: `log_redaction.rs` installs the
//! process-wide log subscriber, and `strict.rs` tests what happens to the first of a kind in an
//! account (the service-linked roles), which other tests here would already have made.

mod autoscaler;
mod autoscaler_delivery;
mod cluster;
mod dashboard;
mod environment;
mod events;
mod image_pruner;
mod image_pruner_delivery;
mod load_balancer;
mod network;
mod protocol;
mod redeployer;
mod redeployer_delivery;
mod repository;
mod service;
mod status;
mod template_expanded;
