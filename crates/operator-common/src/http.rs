//! One HTTPS client per process, shared by every AWS SDK client and by the custom-resource
//! answer's PUT: one TLS configuration whose roots are compiled in (webpki-roots, Mozilla's
//! list), so the process never reads a trust store. Reading the system's (rustls-native-certs:
//! ~290 files in /etc/ssl/certs, parsed) was most of a cold invocation's extra time, and the
//! answer's client used to read it a second time (see README, "Cold start").

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as StdError;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long a TCP (and TLS) connection may take to open, for the SDK and for the answer's PUT.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Idle pooled connections are dropped after this (the SDK's own default).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The hyper client every request of this process goes through.
pub type Https = Client<HttpsConnector<TcpConnector>, SdkBody>;

/// The process's TLS configuration: rustls with aws-lc-rs (the SDK's own provider) and the
/// compiled-in Mozilla roots. Built once; cheap (no file is read, no certificate parsed).
pub fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("aws-lc-rs supports rustls's default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

fn build(connect_timeout: Option<Duration>) -> Https {
    let mut tcp = TcpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(connect_timeout);
    let mut tls = (*tls_config()).clone();
    tls.alpn_protocols.clear(); // set by the connector builder below
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(https)
}

/// The process's client, with [`CONNECT_TIMEOUT`]. Clones share its connection pool.
pub fn client() -> &'static Https {
    static CLIENT: OnceLock<Https> = OnceLock::new();
    CLIENT.get_or_init(|| build(Some(CONNECT_TIMEOUT)))
}

/// A client with another connect timeout (an SDK client configured differently); one per
/// distinct timeout, all on the same TLS configuration.
fn client_with(connect_timeout: Option<Duration>) -> Https {
    if connect_timeout == Some(CONNECT_TIMEOUT) {
        return client().clone();
    }
    static OTHERS: Mutex<Vec<(Option<Duration>, Https)>> = Mutex::new(Vec::new());
    let mut others = OTHERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, c)) = others.iter().find(|(t, _)| *t == connect_timeout) {
        return c.clone();
    }
    let c = build(connect_timeout);
    others.push((connect_timeout, c.clone()));
    c
}

/// The AWS SDK's HTTP client on the process's [`client`]: set it on the SDK config
/// (`http_client(operator_common::http::sdk_client())`) and no client reads a trust store.
pub fn sdk_client() -> SharedHttpClient {
    SharedHttpClient::new(SdkClient)
}

#[derive(Debug, Clone, Copy)]
struct SdkClient;

impl HttpClient for SdkClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The SDK asks for a connector per attempt; connect timeouts are the only setting this
        // client honours (attempt and operation timeouts are the orchestrator's).
        SharedHttpConnector::new(SdkConnector(client_with(settings.connect_timeout())))
    }
}

#[derive(Debug)]
struct SdkConnector(Https);

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let response = self.0.request(request);
        HttpConnectorFuture::new(async move {
            match response.await {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e)),
            }
        })
    }
}

fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    std::iter::successors(Some(error), |&e| e.source()).find_map(|e| e.downcast_ref::<E>())
}

/// The SDK's retry classes for a failed request, as its own hyper client assigns them: a
/// connection that could not be opened, or that closed under the request, is retried.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if error.is_connect() {
        return ConnectorError::io(error.into());
    }
    match find::<hyper::Error>(&error) {
        Some(h) if h.is_timeout() => ConnectorError::timeout(error.into()),
        Some(h) if h.is_user() => ConnectorError::user(error.into()),
        Some(h) if h.is_closed() || h.is_canceled() || h.is_incomplete_message() => {
            ConnectorError::io(error.into())
        }
        _ if find::<std::io::Error>(&error).is_some() => ConnectorError::io(error.into()),
        _ => ConnectorError::other(error.into(), None),
    }
}

/// An error and its sources, one line (`a: b: c`).
pub fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let part = e.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roots_are_compiled_in_and_offer_both_http_versions() {
        let config = tls_config();
        // Mozilla's list holds well over 100 roots; none is read from the system.
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(
            Arc::ptr_eq(&config, &tls_config()),
            "one TLS configuration per process"
        );
        let _ = client();
        assert!(Arc::ptr_eq(&config, &tls_config()));
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let request = http::Request::get(format!("http://127.0.0.1:{port}/"))
            .body(SdkBody::empty())
            .unwrap();
        let error = client().request(request).await.unwrap_err();
        let classified = classify(error);
        assert!(classified.is_io(), "{classified:?}");
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        #[derive(Debug, thiserror::Error)]
        #[error("connect failed")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(error_chain(&Outer(inner)), "connect failed: refused");
    }
}
