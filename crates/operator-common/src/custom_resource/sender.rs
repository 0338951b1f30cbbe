use super::Response;
use aws_smithy_types::body::SdkBody;
use http_body_util::BodyExt;
use std::time::Duration;

/// The response could not be delivered after every attempt. Its text never holds the presigned
/// URL's query (its signature lets anyone answer for the resource): only the host is named.
#[derive(Debug, thiserror::Error)]
#[error("could not deliver the response to CloudFormation after {attempts} attempts: {last_error}")]
pub struct SendError {
    pub attempts: u32,
    pub last_error: String,
}

/// PUTs responses to the presigned ResponseURL, a bounded number of times, each with a timeout,
/// through the process's one HTTPS client ([`crate::http::client`]).
#[derive(Debug, Clone)]
pub struct ResponseSender {
    pub attempts: u32,
    pub attempt_timeout: Duration,
    pub backoff: Duration,
}

impl Default for ResponseSender {
    fn default() -> Self {
        // Worst case about 3 × 10 s + 1 s + 2 s: the runner keeps that much of the deadline free.
        ResponseSender {
            attempts: 3,
            attempt_timeout: Duration::from_secs(10),
            backoff: Duration::from_secs(1),
        }
    }
}

/// The URL's host (and port), the only part of a presigned URL that may be shown.
fn host_of(url: &http::Uri) -> String {
    url.authority()
        .map_or_else(|| "(no host)".into(), |a| a.as_str().to_string())
}

/// `<Code>` and `<Message>` of an S3 error document. The rest is never shown: S3's
/// SignatureDoesNotMatch answer echoes the canonical request, query string included.
fn s3_error(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(16 * 1024)]);
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&format!("</{name}>"))?;
        Some(text[start..end].chars().take(200).collect::<String>())
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => "(no S3 error code in the answer)".into(),
    }
}

/// One PUT: the S3 error or the transport's error chain, neither naming the URL.
async fn put(url: &http::Uri, body: &[u8], timeout: Duration) -> Result<(), String> {
    // S3 checks the presigned signature against an EMPTY Content-Type.
    let request = http::Request::put(url.clone())
        .header(http::header::CONTENT_TYPE, "")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(SdkBody::from(body.to_vec()))
        .map_err(|e| format!("invalid request: {e}"))?;
    let exchange = async {
        let response = crate::http::client()
            .request(request)
            .await
            .map_err(|e| crate::http::error_chain(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(format!("HTTP {status}: {}", s3_error(&answer)))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
    }
}

impl ResponseSender {
    /// The longest `send` can take.
    pub fn worst_case(&self) -> Duration {
        let backoffs: Duration = (1..self.attempts)
            .map(|i| self.backoff * 2u32.pow(i - 1))
            .sum();
        self.attempt_timeout * self.attempts + backoffs
    }

    pub async fn send(&self, url: &str, response: &Response) -> Result<(), SendError> {
        let body = response.to_body();
        let url: http::Uri = match url.parse() {
            Ok(url) => url,
            Err(_) => {
                let last_error = "the ResponseURL is not a valid URL".to_string();
                tracing::error!(error = %last_error, "cannot answer CloudFormation");
                return Err(SendError {
                    attempts: 0,
                    last_error,
                });
            }
        };
        let host = host_of(&url);
        let mut last_error = String::new();
        for attempt in 1..=self.attempts {
            match put(&url, &body, self.attempt_timeout).await {
                Ok(()) => {
                    tracing::info!(
                        status = ?response.status,
                        physical_resource_id = %response.physical_resource_id,
                        reason = response.reason.as_deref().unwrap_or(""),
                        attempt,
                        "answered CloudFormation"
                    );
                    return Ok(());
                }
                Err(e) => last_error = format!("PUT to {host}: {e}"),
            }
            tracing::warn!(attempt, attempts = self.attempts, error = %last_error, "response PUT failed");
            if attempt < self.attempts {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
        }
        tracing::error!(error = %last_error, "gave up answering CloudFormation");
        Err(SendError {
            attempts: self.attempts,
            last_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_resource::Status;
    use std::collections::BTreeMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Recognisable parts of a presigned URL's query: none may appear in a log line or an error.
    const SIGNATURE: &str = "5ec2e7f1a9d0c0ffee5ec2e7f1a9d0c0ffee5ec2e7f1a9d0c0ffee5ec2e7f1a9d0";
    const CREDENTIAL: &str = "ASIAQUERYLEAKCANARY7";
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEQueryLeakCanaryToken";

    fn presigned(port: u16) -> String {
        format!(
            "http://127.0.0.1:{port}/arn%3Aaws%3Acloudformation%3Aus-east-1%3A1%3Astack/s/1%7CRepo%7Creq-1\
             ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261127T094000Z&X-Amz-Expires=7200\
             &X-Amz-SignedHeaders=host&X-Amz-Credential={CREDENTIAL}%2F20261127%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Security-Token={TOKEN}&X-Amz-Signature={SIGNATURE}"
        )
    }

    fn response() -> Response {
        Response {
            status: Status::Success,
            reason: None,
            physical_resource_id: "repo".into(),
            stack_id: "stack".into(),
            request_id: "req-1".into(),
            logical_resource_id: "Repo".into(),
            no_echo: false,
            data: BTreeMap::new(),
        }
    }

    /// Sends to `url` with every log line of the process (all levels, all crates) captured;
    /// returns the error's Display and Debug and the log text.
    async fn deliver(url: &str, attempt_timeout: Duration) -> (String, String) {
        let logs = crate::logging::Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(logs.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let sender = ResponseSender {
            attempts: 2,
            attempt_timeout,
            backoff: Duration::from_millis(10),
        };
        let error = sender.send(url, &response()).await.unwrap_err();
        let text = format!("{error}\n{error:?}");
        let logs = logs.text();
        assert!(
            logs.contains("response PUT failed") && logs.contains("gave up answering"),
            "the failure is logged: {logs}"
        );
        (text, logs)
    }

    fn assert_no_query(url: &str, error: &str, logs: &str) {
        let query = url.split_once('?').unwrap().1;
        for secret in [SIGNATURE, CREDENTIAL, TOKEN, query, "X-Amz-"] {
            assert!(
                !error.contains(secret),
                "the error shows {secret:?}: {error}"
            );
            assert!(
                !logs.contains(secret),
                "a log line shows {secret:?}: {logs}"
            );
        }
        assert!(
            error.contains("127.0.0.1"),
            "the error names the host: {error}"
        );
    }

    /// A server answering every request with `status` and `body`, after reading the request.
    async fn answering(status: &'static str, body: String) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let _ = socket.read(&mut buf).await;
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_refused_delivery_never_shows_the_presigned_query() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = presigned(port);
        let (error, logs) = deliver(&url, Duration::from_secs(5)).await;
        assert!(error.to_lowercase().contains("refused"), "{error}");
        assert_no_query(&url, &error, &logs);
    }

    #[tokio::test]
    async fn a_403_that_echoes_the_request_never_shows_the_presigned_query() {
        // What S3 answers a bad signature: its canonical request, query string included.
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code>\
             <Message>The request signature we calculated does not match the signature you provided.</Message>\
             <CanonicalRequest>PUT\n/\n{}\nhost:127.0.0.1</CanonicalRequest>\
             <SignatureProvided>{SIGNATURE}</SignatureProvided></Error>",
            presigned(1).split_once('?').unwrap().1
        );
        let port = answering("403 Forbidden", body).await;
        let url = presigned(port);
        let (error, logs) = deliver(&url, Duration::from_secs(5)).await;
        assert!(
            error.contains("403") && error.contains("SignatureDoesNotMatch"),
            "{error}"
        );
        assert_no_query(&url, &error, &logs);
    }

    #[tokio::test]
    async fn a_delivery_that_times_out_never_shows_the_presigned_query() {
        // Accepts and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let url = presigned(port);
        let (error, logs) = deliver(&url, Duration::from_millis(300)).await;
        assert!(error.contains("no answer within"), "{error}");
        assert_no_query(&url, &error, &logs);
        held.abort();
    }

    #[test]
    fn only_the_code_and_message_of_an_s3_error_are_kept() {
        let body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message>\
                     <X-Amz-Expires>7200</X-Amz-Expires></Error>";
        assert_eq!(s3_error(body), "AccessDenied: Request has expired");
        assert_eq!(
            s3_error(b"<html>bad gateway</html>"),
            "(no S3 error code in the answer)"
        );
    }
}
