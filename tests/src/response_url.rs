//! Stands in for the presigned S3 URL CloudFormation gives each request: records every PUT.

use crate::http::{HttpResponse, Server};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One response a function sent.
#[derive(Debug, Clone)]
pub struct Received {
    pub content_type: Option<String>,
    pub content_length: Option<usize>,
    pub body: Value,
    pub raw_len: usize,
}

#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<BTreeMap<String, Vec<Received>>>>);

pub struct ResponseEndpoint {
    server: Server,
    inbox: Inbox,
}

impl ResponseEndpoint {
    pub async fn start() -> ResponseEndpoint {
        let inbox = Inbox::default();
        let store = inbox.clone();
        let server = Server::start(move |req| {
            let store = store.clone();
            async move {
                if req.method != "PUT" {
                    return HttpResponse::status(405);
                }
                let received = Received {
                    content_type: req.headers.get("content-type").cloned(),
                    content_length: req
                        .headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok()),
                    body: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
                    raw_len: req.body.len(),
                };
                store
                    .0
                    .lock()
                    .unwrap()
                    .entry(req.path)
                    .or_default()
                    .push(received);
                HttpResponse::ok("")
            }
        })
        .await
        .expect("bind a loopback port");
        ResponseEndpoint { server, inbox }
    }

    /// A fresh URL for one request (its path keys the inbox).
    pub fn url(&self, key: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{key}?X-Amz-Signature=local",
            self.server.port
        )
    }

    /// Every response received for `key`, in order.
    pub fn received(&self, key: &str) -> Vec<Received> {
        self.inbox
            .0
            .lock()
            .unwrap()
            .get(&format!("/{key}?X-Amz-Signature=local"))
            .cloned()
            .unwrap_or_default()
    }
}
