//! Application probes: questions whose answer is the same from every node (RabbitMQ and Couchbase
//! cluster state, Dex, the TLS certificate, the compose file). They run once per healthcheck,
//! through the first node whose agent answers, alongside that node's own collection.

use super::collect::timed;
use super::{compose, couchbase, rabbitmq, Finding};
use crate::profile::Profile;
use crate::report::Status;
use crate::rpc::AgentConn;
use pfproto::method;
use pfproto::probe::{FileRead, FilesReadParams, HttpGet, HttpGetParams, MAX_HTTP_BODY_BYTES};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

pub const CLUSTER: &str = "cluster";

#[derive(Debug)]
pub struct AppObs {
    /// The node the probes ran from.
    pub node: String,
    pub compose: Option<Vec<Result<FileRead, String>>>,
    pub dex: Option<Result<HttpGet, String>>,
    pub tls: Option<TlsObs>,
    pub rabbitmq: Option<rabbitmq::Obs>,
    pub couchbase: Option<couchbase::Obs>,
}

#[derive(Debug)]
pub struct TlsObs {
    pub cert: Result<FileRead, String>,
    pub config: Result<FileRead, String>,
}

/// Slack on top of a probe's own timeout before the controller stops waiting.
const SLACK: Duration = Duration::from_secs(2);

pub async fn collect(
    conn: &AgentConn,
    profile: &Profile,
    node: &str,
    timings: &Mutex<BTreeMap<&'static str, u64>>,
) -> AppObs {
    let read = |path: &str, keys: Option<Vec<String>>| {
        let params = FilesReadParams {
            path: path.to_string(),
            keys,
            private: false,
        };
        timed::<FileRead>(
            conn,
            method::FILES_READ,
            serde_json::to_value(params).unwrap_or_default(),
            super::collect::CALL_DEADLINE,
            timings,
            "app.files",
        )
    };
    let compose = async {
        match &profile.compose {
            Some(c) => {
                let mut out = Vec::new();
                for f in &c.files {
                    out.push(read(f, None).await);
                }
                Some(out)
            }
            None => None,
        }
    };
    let dex = async {
        let d = profile.dex.as_ref()?;
        Some(
            http_get(
                conn,
                &discovery_url(&d.url),
                d.timeout_ms,
                None,
                64 * 1024,
                timings,
                "dex",
            )
            .await,
        )
    };
    let tls = async {
        let t = profile.tls.as_ref()?;
        let (cert, config) = tokio::join!(
            read(&t.cert, None),
            read(&t.config, Some(vec![t.name_key.clone()]))
        );
        Some(TlsObs { cert, config })
    };
    let rabbit = async {
        let c = profile.rabbitmq.as_ref()?;
        Some(rabbitmq::collect(conn, c, timings).await)
    };
    let couch = async {
        let c = profile.couchbase.as_ref()?;
        Some(couchbase::collect(conn, c, timings).await)
    };
    let (compose, dex, tls, rabbitmq, couchbase) = tokio::join!(compose, dex, tls, rabbit, couch);
    AppObs {
        node: node.to_string(),
        compose,
        dex,
        tls,
        rabbitmq,
        couchbase,
    }
}

/// One `http.get` through the agent, bounded by the probe's timeout plus slack. A password sent
/// with it never comes back in the answer's error text or a refusal's body.
pub async fn http_get(
    conn: &AgentConn,
    url: &str,
    timeout_ms: u64,
    basic_auth: Option<pfproto::probe::BasicAuth>,
    max_body_bytes: usize,
    timings: &Mutex<BTreeMap<&'static str, u64>>,
    label: &'static str,
) -> Result<HttpGet, String> {
    let secret = basic_auth.as_ref().map(|a| a.password.clone());
    let params = HttpGetParams {
        url: url.to_string(),
        timeout_ms,
        basic_auth,
        max_body_bytes: Some(max_body_bytes.min(MAX_HTTP_BODY_BYTES)),
    };
    let r = timed::<HttpGet>(
        conn,
        method::HTTP_GET,
        serde_json::to_value(params).unwrap_or_default(),
        Duration::from_millis(timeout_ms) + SLACK,
        timings,
        label,
    )
    .await;
    redact(r, secret.as_deref())
}

/// Replaces `secret` in what may be shown: error texts, and the body of an answer other than 200
/// (servers echo requests back); a 200 body is data, parsed rather than shown.
pub fn redact(r: Result<HttpGet, String>, secret: Option<&str>) -> Result<HttpGet, String> {
    let Some(s) = secret.filter(|s| !s.is_empty()) else {
        return r;
    };
    let hide = |t: &str| t.replace(s, "<redacted>");
    match r {
        Ok(mut h) => {
            if h.status != Some(200) {
                h.body_snippet = hide(&h.body_snippet);
            }
            h.error = h.error.as_deref().map(hide);
            Ok(h)
        }
        Err(e) => Err(hide(&e)),
    }
}

/// Where an API password comes from, one rule for every section: `password_env` first (the
/// secret stays out of the inventory), then `password`. `Ok(None)`: neither is configured.
/// Returns the password and, for messages, its source. `env` looks variables up (tests pass
/// their own).
pub fn api_password(
    password: Option<&str>,
    password_env: Option<&str>,
    section: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, String> {
    if let Some(var) = password_env {
        return match env(var) {
            Some(p) if !p.is_empty() => Ok(Some((
                p,
                format!("the password from ${var} (password_env)"),
            ))),
            _ => Err(format!(
                "password_env names {var}, which is not set in pfctl's environment: export {var} \
                 before running pfctl, or set password in the inventory \
                 ([clusters.NAME.overrides.{section}] password = \"...\")"
            )),
        };
    }
    Ok(password
        .filter(|p| !p.is_empty())
        .map(|p| (p.to_string(), "the configured password".to_string())))
}

fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Ids of the application checks each profile section enables.
fn families(profile: &Profile) -> Vec<(&'static str, bool, &'static [&'static str])> {
    vec![
        ("compose", profile.compose.is_some(), &["compose.valid"]),
        ("dex", profile.dex.is_some(), &["dex.discovery"]),
        ("tls", profile.tls.is_some(), &["tls.certificate"]),
        ("rabbitmq", profile.rabbitmq.is_some(), rabbitmq::CHECKS),
        ("couchbase", profile.couchbase.is_some(), couchbase::CHECKS),
    ]
}

/// `app`: the probes' answers, `None` when no node's agent could run them.
pub fn analyze(app: Option<&AppObs>, profile: &Profile, now_unix: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(app) = app else {
        for (section, enabled, ids) in families(profile) {
            for id in ids {
                out.push(if enabled {
                    Finding::new(
                        id,
                        CLUSTER,
                        Status::Unknown,
                        "no node's agent answered to run the probe from",
                    )
                } else {
                    not_configured(id, section, profile)
                });
            }
        }
        return out;
    };
    let from = json!({"probed_from": app.node});
    for (section, enabled, ids) in families(profile) {
        if !enabled {
            out.extend(ids.iter().map(|id| not_configured(id, section, profile)));
        }
    }
    if let (Some(c), Some(files)) = (&profile.compose, &app.compose) {
        out.push(compose::analyze(c, files));
    }
    if let (Some(d), Some(r)) = (&profile.dex, &app.dex) {
        out.push(dex(d.issuer.as_deref(), r));
    }
    if let (Some(t), Some(o)) = (&profile.tls, &app.tls) {
        out.push(tls(t, o, now_unix));
    }
    if let (Some(c), Some(o)) = (&profile.rabbitmq, &app.rabbitmq) {
        out.extend(rabbitmq::analyze(o, c));
    }
    if let (Some(c), Some(o)) = (&profile.couchbase, &app.couchbase) {
        out.extend(couchbase::analyze(o, c));
    }
    for f in &mut out {
        if f.status != Status::Skip {
            merge_evidence(&mut f.evidence, &from);
        }
    }
    out
}

/// The message the healthy-cluster view filters on: a section the profile does not have.
pub const NOT_CONFIGURED: &str = "not configured in profile";

fn not_configured(id: &'static str, section: &str, profile: &Profile) -> Finding {
    Finding::new(
        id,
        CLUSTER,
        Status::Skip,
        format!("{NOT_CONFIGURED} {} (no [{section}] section)", profile.name),
    )
}

fn merge_evidence(evidence: &mut Value, extra: &Value) {
    match (evidence, extra) {
        (Value::Object(e), Value::Object(x)) => {
            for (k, v) in x {
                e.entry(k.clone()).or_insert(v.clone());
            }
        }
        (e @ Value::Null, x) => *e = x.clone(),
        _ => {}
    }
}

fn dex(issuer: Option<&str>, r: &Result<HttpGet, String>) -> Finding {
    let f = |s, m: String| Finding::new("dex.discovery", CLUSTER, s, m);
    let h = match r {
        Ok(h) => h,
        Err(e) => return f(Status::Unknown, e.clone()),
    };
    match h.status {
        Some(200) => {}
        Some(code) => {
            let s = if code >= 500 {
                Status::Fail
            } else {
                Status::Warn
            };
            return f(
                s,
                format!(
                    "discovery document: HTTP {code}: {}",
                    snippet(&h.body_snippet)
                ),
            );
        }
        None => {
            let e = h.error.clone().unwrap_or_else(|| "no answer".into());
            let s = if e.contains("within") {
                Status::Unknown
            } else {
                Status::Fail
            };
            return f(s, format!("dex down: {e}"));
        }
    }
    let doc: Value = match serde_json::from_str(&h.body_snippet) {
        Ok(v) => v,
        Err(e) => {
            return f(
                Status::Fail,
                format!("discovery document is not JSON ({e})"),
            )
        }
    };
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    match (doc["issuer"].as_str(), issuer) {
        (None, _) => f(Status::Fail, "discovery document has no issuer".to_string()),
        (Some(i), Some(want)) if !same(i, want) => f(
            Status::Warn,
            format!("dex answers as issuer {i}, the profile expects {want}: logins redirect to the wrong place"),
        ),
        (Some(i), _) => f(Status::Ok, format!("issuer {i} in {} ms", h.ms)),
    }
}

fn snippet(s: &str) -> String {
    s.chars().take(200).collect()
}

fn tls(t: &crate::profile::TlsExpect, o: &TlsObs, now_unix: i64) -> Finding {
    let f = |s, m: String| Finding::new("tls.certificate", CLUSTER, s, m);
    let cert = match &o.cert {
        Ok(r) if !r.exists => return f(Status::Fail, format!("{} is missing", t.cert)),
        Ok(r) => match (&r.content, &r.error) {
            (Some(c), _) => c,
            (None, e) => {
                return f(
                    Status::Fail,
                    format!("{}: {}", t.cert, e.as_deref().unwrap_or("unreadable")),
                )
            }
        },
        Err(e) => return f(Status::Unknown, e.clone()),
    };
    let want = match &o.config {
        Ok(r) => r.values.get(&t.name_key).cloned(),
        Err(_) => None,
    };
    let info = match crate::tls::inspect(cert) {
        Ok(i) => i,
        Err(e) => return f(Status::Fail, format!("{}: {e}", t.cert)),
    };
    let days_left = (info.not_after - now_unix).div_euclid(86_400);
    let evidence = json!({
        "subject": info.subject, "names": info.names, "not_after_unix": info.not_after,
        "days_left": days_left, "expected_name": want,
    });
    let named = want.as_deref().map(|w| info.matches(w));
    let (status, msg) = if info.not_after <= now_unix {
        (Status::Fail, format!("expired {} days ago", -days_left))
    } else if info.not_before > now_unix {
        (Status::Fail, "not valid yet (check the clocks)".to_string())
    } else if named == Some(false) {
        (
            Status::Fail,
            format!(
                "does not name {} {} (names: {})",
                t.name_key,
                want.as_deref().unwrap_or_default(),
                info.names.join(", ")
            ),
        )
    } else if named.is_none() {
        (
            Status::Warn,
            format!(
                "{} not found in {}: the name cannot be checked; expires in {days_left} days",
                t.name_key, t.config
            ),
        )
    } else if days_left < t.warn_days {
        (Status::Warn, format!("expires in {days_left} days"))
    } else {
        (
            Status::Ok,
            format!(
                "names {}, expires in {days_left} days",
                want.as_deref().unwrap_or_default()
            ),
        )
    };
    f(status, msg).with(evidence)
}
