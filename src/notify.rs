//! `--notify URL`: POST the run's JSON document to a webhook. Delivery is best effort: a webhook
//! that fails is reported on stderr (and in `last-run.json`) and never changes the exit code.
//!
//! The URL may carry credentials (user:password@ or a token in the query); only the redacted
//! form is ever printed or recorded.

use anyhow::{bail, Result};
use reqwest::Url;
use serde::Serialize;
use std::time::Duration;

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before the second and third attempts.
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Outcome {
    /// Redacted: no user info, query or fragment.
    pub url: String,
    pub delivered: bool,
    pub attempts: u32,
    /// The last HTTP status received, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The URL without what may be secret: user info, query and fragment.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(unparsable URL)".to_string(),
    }
}

/// Refuses what can never be delivered, before any node is contacted.
pub fn check_url(url: &str) -> Result<()> {
    match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => bail!("--notify {}: only http:// and https:// URLs", redact(url)),
        // The parser's message names no part of the URL, so no secret leaks through it.
        Err(e) => bail!("--notify: not a URL: {e}"),
    }
}

/// Whether another attempt can succeed where this one failed.
fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
}

/// The error and its causes, without the URL reqwest would otherwise put in front.
fn reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {}s", TIMEOUT.as_secs());
    }
    without_url(e)
}

/// A reqwest error and its causes in one line, without the URL it would put in front (a URL may
/// carry credentials).
pub(crate) fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// POSTs `body` (the JSON report) with up to three attempts. Prints one line on stderr when it
/// could not be delivered.
pub async fn send(url: &str, body: Vec<u8>) -> Outcome {
    let shown = redact(url);
    let mut outcome = Outcome {
        url: shown.clone(),
        delivered: false,
        attempts: 0,
        http_status: None,
        error: None,
    };
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("pfctl/", env!("CARGO_PKG_VERSION")))
        // A redirect would resend the report, and the URL's credentials, somewhere unnamed.
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            outcome.error = Some(reason(e));
            report_failure(&outcome);
            return outcome;
        }
    };
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(BACKOFF[attempt as usize - 1]).await;
        }
        outcome.attempts = attempt + 1;
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                outcome.http_status = Some(resp.status().as_u16());
                outcome.delivered = true;
                outcome.error = None;
                return outcome;
            }
            Ok(resp) => {
                let status = resp.status();
                outcome.http_status = Some(status.as_u16());
                outcome.error = Some(format!("HTTP {status}"));
                if !retryable(status) {
                    break;
                }
            }
            Err(e) => outcome.error = Some(reason(e)),
        }
    }
    report_failure(&outcome);
    outcome
}

fn report_failure(o: &Outcome) {
    let n = o.attempts;
    eprintln!(
        "pfctl: notify {}: {} (after {n} attempt{})",
        o.url,
        o.error.as_deref().unwrap_or("not delivered"),
        if n == 1 { "" } else { "s" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_query_never_shown() {
        let r = redact("https://bot:s3cret@hooks.example.com:8443/x/y?token=abc#frag");
        assert_eq!(r, "https://hooks.example.com:8443/x/y");
        assert!(check_url("ftp://u:s3cret@h/")
            .unwrap_err()
            .to_string()
            .contains("ftp://h/"));
        let e = check_url("http://u:s3cret@[::1").unwrap_err().to_string();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(check_url("https://hooks.example.com/a?k=v").is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_webhook_is_an_outcome_not_an_error() {
        // A port that was just free: the connection is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://user:pw@127.0.0.1:{port}/hook?t=1");
        let o = send(&url, b"{}".to_vec()).await;
        assert!(!o.delivered);
        assert_eq!(o.attempts, 3);
        assert_eq!(o.url, format!("http://127.0.0.1:{port}/hook"));
        let err = o.error.unwrap();
        assert!(!err.contains("pw") && !err.contains("t=1"), "{err}");
    }
}
