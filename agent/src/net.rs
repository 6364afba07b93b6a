//! `net.probe` (TCP connect), `http.get` and `http.post` (a tiny HTTP/1.1 client, http:// only)
//! as seen from this node. Failures are answers: every outcome lands in the result's `error` text.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use pfproto::action::{HttpPost, HttpPostParams, MAX_FORM_BYTES, MAX_FORM_FIELDS};
use pfproto::probe::{
    BasicAuth, HttpGet, HttpGetParams, NetProbe, NetProbeParams, NetResult, NetTarget,
    HTTP_SNIPPET_BYTES, MAX_HTTP_BODY_BYTES, MAX_HTTP_TIMEOUT_MS, MAX_NET_TIMEOUT_MS,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Used when a request says `timeout_ms: 0`.
const DEFAULT_NET_TIMEOUT_MS: u64 = 3_000;
const DEFAULT_HTTP_TIMEOUT_MS: u64 = 10_000;
/// Response head and body are each read up to this many bytes.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = MAX_HTTP_BODY_BYTES + 1;

pub fn clamp_timeout(ms: u64, default: u64, max: u64) -> u64 {
    if ms == 0 {
        default
    } else {
        ms.min(max)
    }
}

pub async fn probe(p: NetProbeParams) -> NetProbe {
    let timeout_ms = clamp_timeout(p.timeout_ms, DEFAULT_NET_TIMEOUT_MS, MAX_NET_TIMEOUT_MS);
    let tasks: Vec<_> = p
        .targets
        .into_iter()
        .map(|t| tokio::spawn(probe_one(t, timeout_ms)))
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await.unwrap_or_else(|e| NetResult {
            error: Some(format!("probe failed: {e}")),
            ..Default::default()
        }));
    }
    NetProbe { results }
}

async fn probe_one(t: NetTarget, timeout_ms: u64) -> NetResult {
    let start = Instant::now();
    let outcome =
        tokio::time::timeout(Duration::from_millis(timeout_ms), connect(&t.host, t.port)).await;
    let error = match outcome {
        Ok(Ok(_stream)) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!("timed out after {timeout_ms}ms")),
    };
    NetResult {
        ok: error.is_none(),
        ms: start.elapsed().as_millis() as u64,
        host: t.host,
        port: t.port,
        error,
    }
}

/// Resolves `host` and tries its addresses in turn; the error is the last address's.
async fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let host_only = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host_only, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {}", os_text(&e)))?
        .collect();
    let mut last = format!("cannot resolve {host}: no addresses");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = connect_error(&e),
        }
    }
    Err(last)
}

pub fn connect_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "refused".into(),
        Some(libc::EHOSTUNREACH) => "no route to host".into(),
        Some(libc::ENETUNREACH) => "network unreachable".into(),
        Some(libc::ETIMEDOUT) => "timed out".into(),
        Some(libc::ECONNRESET) => "reset".into(),
        _ => os_text(e),
    }
}

/// The OS's text without Rust's " (os error N)" suffix.
fn os_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

// ---- http.get / http.post ----

pub async fn http_get(p: HttpGetParams) -> HttpGet {
    let auth = p.basic_auth.as_ref();
    exchange(
        &p.url,
        |url| Ok(build_request(url, auth)),
        p.max_body_bytes,
        p.timeout_ms,
    )
    .await
}

/// Sends the form once: a POST may change the server, so nothing is retried.
pub async fn http_post(p: &HttpPostParams) -> HttpPost {
    exchange(
        &p.url,
        |url| Ok(build_post(url, p.auth.as_ref(), &form_body(&p.form)?)),
        p.max_body_bytes,
        p.timeout_ms,
    )
    .await
}

/// One request and its answer within the (clamped) timeout; every failure lands in `error`.
async fn exchange(
    url: &str,
    request: impl FnOnce(&Url) -> Result<Vec<u8>, String>,
    max_body_bytes: Option<usize>,
    timeout_ms: u64,
) -> HttpGet {
    let timeout_ms = clamp_timeout(timeout_ms, DEFAULT_HTTP_TIMEOUT_MS, MAX_HTTP_TIMEOUT_MS);
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    let limit = max_body_bytes
        .unwrap_or(HTTP_SNIPPET_BYTES)
        .min(MAX_HTTP_BODY_BYTES);
    let attempt = async {
        let url = parse_url(url)?;
        let req = request(&url)?;
        fetch(&url, &req, limit, deadline, timeout_ms).await
    };
    let mut out = match attempt.await {
        Ok(r) => r,
        Err(e) => HttpGet {
            error: Some(e),
            ..Default::default()
        },
    };
    out.ms = start.elapsed().as_millis() as u64;
    out
}

#[derive(Debug, PartialEq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// What goes in the Host header: the URL's authority.
    pub authority: String,
    pub path: String,
}

pub fn parse_url(url: &str) -> Result<Url, String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err("https is not supported by the agent's probe".into());
    }
    if !lower.starts_with("http://") {
        return Err(format!(
            "unsupported URL '{url}': only http:// URLs are supported"
        ));
    }
    let rest = &url["http://".len()..];
    let rest = rest.split('#').next().unwrap_or("");
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported; use basic_auth".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6
            .find(']')
            .ok_or_else(|| format!("bad host in URL '{url}'"))?;
        let port = match &v6[end + 1..] {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("bad host in URL '{url}'"))?,
            ),
        };
        (v6[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in URL '{url}'"));
    }
    let port = match port {
        None | Some("") => 80,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("bad port in URL '{url}'"))?,
    };
    if path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!("bad path in URL '{url}'"));
    }
    Ok(Url {
        host,
        port,
        authority: authority.to_string(),
        path,
    })
}

pub fn build_request(url: &Url, auth: Option<&BasicAuth>) -> Vec<u8> {
    let mut req = head("GET", url, auth);
    req.push_str("\r\n");
    req.into_bytes()
}

/// A form POST: `body` is already `application/x-www-form-urlencoded`.
pub fn build_post(url: &Url, auth: Option<&BasicAuth>, body: &str) -> Vec<u8> {
    let mut req = head("POST", url, auth);
    req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    req.push_str(body);
    req.into_bytes()
}

/// The request line and headers, without the blank line that ends them.
fn head(method: &str, url: &Url, auth: Option<&BasicAuth>) -> String {
    let mut req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pfagent/{}\r\nAccept: */*\r\nConnection: close\r\n",
        url.path,
        url.authority,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(a) = auth {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", a.user, a.password));
        req.push_str("Authorization: Basic ");
        req.push_str(&token);
        req.push_str("\r\n");
    }
    req
}

/// `k=v&k2=v2`, bounded so one request cannot make the agent send without limit.
pub fn form_body(form: &[(String, String)]) -> Result<String, String> {
    if form.len() > MAX_FORM_FIELDS {
        return Err(format!(
            "the form has {} fields; at most {MAX_FORM_FIELDS} are sent",
            form.len()
        ));
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    if body.len() > MAX_FORM_BYTES {
        return Err(format!(
            "the form is {} bytes encoded; at most {MAX_FORM_BYTES} are sent",
            body.len()
        ));
    }
    Ok(body)
}

/// The WHATWG `application/x-www-form-urlencoded` byte serializer (what browsers and curl's
/// `--data-urlencode` send): space is `+`, alphanumerics and `*-._` stay, the rest is `%XX`.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn fetch(
    url: &Url,
    req: &[u8],
    limit: usize,
    deadline: tokio::time::Instant,
    timeout_ms: u64,
) -> Result<HttpGet, String> {
    let no_answer = || format!("no answer within {timeout_ms}ms");
    let mut stream = tokio::time::timeout_at(deadline, connect(&url.host, url.port))
        .await
        .map_err(|_| no_answer())??;
    tokio::time::timeout_at(deadline, stream.write_all(req))
        .await
        .map_err(|_| no_answer())?
        .map_err(|e| format!("sending the request failed: {}", connect_error(&e)))?;

    let mut buf = Vec::with_capacity(8 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut read_error = None;
    let mut timed_out = false;
    loop {
        if let Progress::Complete = progress(&buf) {
            break;
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => {
                timed_out = true;
                break;
            }
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => {
                read_error = Some(connect_error(&e));
                break;
            }
        }
    }
    if buf.is_empty() {
        return Err(if timed_out {
            no_answer()
        } else if let Some(e) = read_error {
            format!("the server closed the connection without answering ({e})")
        } else {
            "the server closed the connection without answering".to_string()
        });
    }
    let resp = match parse_response(&buf) {
        Ok(r) => r,
        Err(ParseError::Incomplete) if buf.len() >= MAX_HEAD => {
            return Err("malformed HTTP response: the head exceeds 64 KiB".into())
        }
        Err(ParseError::Incomplete) if timed_out => return Err(no_answer()),
        Err(ParseError::Incomplete) => {
            return Err("the server closed the connection in the middle of its answer".into())
        }
        Err(ParseError::Malformed(m)) => return Err(format!("malformed HTTP response: {m}")),
    };
    let mut body = resp.body;
    let truncated = body.len() > limit;
    body.truncate(limit);
    let error = if timed_out {
        Some(format!("the body did not finish within {timeout_ms}ms"))
    } else {
        None
    };
    Ok(HttpGet {
        status: Some(resp.status),
        body_snippet: String::from_utf8_lossy(&body).into_owned(),
        truncated,
        ms: 0,
        error,
    })
}

#[derive(Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Decoded (de-chunked) body, at most [`MAX_BODY`] bytes.
    pub body: Vec<u8>,
}

#[derive(Debug, PartialEq)]
pub enum ParseError {
    /// The head has not ended yet.
    Incomplete,
    Malformed(String),
}

#[derive(Debug, PartialEq)]
enum Progress {
    /// Keep reading.
    More,
    /// Everything needed has arrived.
    Complete,
}

/// Whether `buf` holds as much of the response as will be used.
fn progress(buf: &[u8]) -> Progress {
    if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
        // Not HTTP (an SSH banner, a TLS alert): no point waiting for more.
        return Progress::Complete;
    }
    let Some((head_len, head)) = split_head(buf) else {
        return if buf.len() >= MAX_HEAD {
            Progress::Complete
        } else {
            Progress::More
        };
    };
    let Ok(head) = head else {
        return Progress::Complete;
    };
    let body = &buf[head_len..];
    if body.len() >= MAX_BODY || !has_body(head.status) {
        return Progress::Complete;
    }
    if is_chunked(&head.headers) {
        return match dechunk(body) {
            (_, true) => Progress::Complete,
            (_, false) => Progress::More,
        };
    }
    match content_length(&head.headers) {
        Some(n) if body.len() as u64 >= n => Progress::Complete,
        _ => Progress::More,
    }
}

struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

/// Finds the end of the head (skipping interim 1xx responses). `None` while it is incomplete.
fn split_head(buf: &[u8]) -> Option<(usize, Result<Head, String>)> {
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4);
        let end = end.or_else(|| rest.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))?;
        let head = parse_head(&rest[..end]);
        match head {
            Ok(h) if (100..200).contains(&h.status) && h.status != 101 => start += end,
            other => return Some((start + end, other)),
        }
    }
}

fn parse_head(head: &[u8]) -> Result<Head, String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let status_line = lines.next().unwrap_or("").trim_end();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/") {
        return Err(format!(
            "not an HTTP status line: '{}'",
            cut(status_line, 80)
        ));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| format!("bad status line: '{}'", cut(status_line, 80)))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Head { status, headers })
}

pub fn parse_response(buf: &[u8]) -> Result<Response, ParseError> {
    let (head_len, head) = match split_head(buf) {
        Some(h) => h,
        None if buf.starts_with(b"HTTP/") || b"HTTP/".starts_with(&buf[..buf.len().min(5)]) => {
            return Err(ParseError::Incomplete)
        }
        None => {
            let line = String::from_utf8_lossy(&buf[..buf.len().min(80)]).into_owned();
            let line = line.lines().next().unwrap_or("").to_string();
            return Err(ParseError::Malformed(format!(
                "not an HTTP status line: '{line}'"
            )));
        }
    };
    let head = head.map_err(ParseError::Malformed)?;
    let raw = &buf[head_len..];
    let mut body = if !has_body(head.status) {
        Vec::new()
    } else if is_chunked(&head.headers) {
        dechunk(raw).0
    } else {
        match content_length(&head.headers) {
            Some(n) => raw[..raw.len().min(n as usize)].to_vec(),
            None => raw.to_vec(),
        }
    };
    body.truncate(MAX_BODY);
    Ok(Response {
        status: head.status,
        headers: head.headers,
        body,
    })
}

fn has_body(status: u16) -> bool {
    !(status == 204 || status == 304 || (100..200).contains(&status))
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"))
}

fn content_length(headers: &[(String, String)]) -> Option<u64> {
    headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
}

/// Decodes as much of a chunked body as has arrived; true once the last chunk was seen.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            // Not chunked after all: keep what we have.
            return (out, true);
        };
        raw = &raw[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        if out.len() >= MAX_BODY || take < size || raw.len() < size + 2 {
            let full = out.len() >= MAX_BODY;
            return (out, full);
        }
        raw = &raw[size + 2..];
    }
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://10.0.0.1:8080/api/v1?x=1#frag").unwrap();
        assert_eq!(
            u,
            Url {
                host: "10.0.0.1".into(),
                port: 8080,
                authority: "10.0.0.1:8080".into(),
                path: "/api/v1?x=1".into()
            }
        );
        let u = parse_url("http://couchbase.local").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("couchbase.local", 80, "/")
        );
        let u = parse_url("HTTP://[::1]:5984?q").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 5984, "/?q")
        );
        assert_eq!(
            parse_url("https://x/").unwrap_err(),
            "https is not supported by the agent's probe"
        );
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://h:99999/").is_err());
        assert!(parse_url("http://u:p@h/").is_err());
    }

    #[test]
    fn request_has_host_close_and_basic_auth() {
        let u = parse_url("http://h:81/x").unwrap();
        let auth = BasicAuth {
            user: "Aladdin".into(),
            password: "open sesame".into(),
        };
        let r = String::from_utf8(build_request(&u, Some(&auth))).unwrap();
        assert!(r.starts_with("GET /x HTTP/1.1\r\nHost: h:81\r\n"), "{r}");
        assert!(r.contains("\r\nConnection: close\r\n"));
        assert!(r.contains("\r\nAuthorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
        let r = String::from_utf8(build_request(&u, None)).unwrap();
        assert!(!r.contains("Authorization"));
    }

    #[test]
    fn post_sends_the_form_urlencoded_with_its_length() {
        let u = parse_url("http://h:8093/query/service").unwrap();
        let auth = BasicAuth {
            user: "isadmin".into(),
            password: "p w0rd".into(),
        };
        let body = form_body(&[
            (
                "statement".into(),
                "BUILD INDEX ON `content`(`idx_a`,`idx_b`)".into(),
            ),
            ("knownNodes".into(), "ns_1@a.isnet,ns_1@b.isnet".into()),
            ("ejectedNodes".into(), String::new()),
        ])
        .unwrap();
        assert_eq!(
            body,
            "statement=BUILD+INDEX+ON+%60content%60%28%60idx_a%60%2C%60idx_b%60%29\
             &knownNodes=ns_1%40a.isnet%2Cns_1%40b.isnet&ejectedNodes="
        );
        let r = String::from_utf8(build_post(&u, Some(&auth), &body)).unwrap();
        assert!(
            r.starts_with("POST /query/service HTTP/1.1\r\nHost: h:8093\r\n"),
            "{r}"
        );
        assert!(r.contains("\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
        assert!(r.contains(&format!("\r\nContent-Length: {}\r\n\r\n", body.len())));
        assert!(r.contains("\r\nAuthorization: Basic aXNhZG1pbjpwIHcwcmQ=\r\n"));
        assert!(r.ends_with(&format!("\r\n\r\n{body}")));
        assert_eq!(form_encode("é~"), "%C3%A9%7E");
    }

    #[test]
    fn oversized_forms_are_refused() {
        let many: Vec<(String, String)> = (0..=MAX_FORM_FIELDS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        assert!(form_body(&many).unwrap_err().contains("at most 64"));
        let big = vec![("k".to_string(), "x".repeat(MAX_FORM_BYTES))];
        assert!(form_body(&big).unwrap_err().contains("bytes encoded"));
    }

    #[tokio::test]
    async fn post_to_a_bad_url_is_an_answer_not_a_panic() {
        let p = HttpPostParams {
            url: "https://h/".into(),
            timeout_ms: 100,
            ..Default::default()
        };
        let r = http_post(&p).await;
        assert_eq!(r.status, None);
        assert!(r.error.unwrap().contains("https is not supported"));
    }

    #[test]
    fn content_length_response() {
        let raw =
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloEXTRA";
        assert_eq!(progress(raw), Progress::Complete);
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.body, b"hello");
        assert!(r.headers.contains(&("x-a".into(), "b".into())));
        assert_eq!(
            progress(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"),
            Progress::More
        );
    }

    #[test]
    fn chunked_response() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n";
        assert_eq!(progress(raw), Progress::Complete);
        assert_eq!(parse_response(raw).unwrap().body, b"Wikipedia");
        let partial = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npe";
        assert_eq!(progress(partial), Progress::More);
        assert_eq!(parse_response(partial).unwrap().body, b"Wikipe");
    }

    #[test]
    fn until_eof_interim_and_bodiless() {
        let raw = b"HTTP/1.0 200 OK\r\n\r\nall of it";
        assert_eq!(progress(raw), Progress::More);
        assert_eq!(parse_response(raw).unwrap().body, b"all of it");
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno";
        let r = parse_response(raw).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (401, &b"no"[..]));
        assert_eq!(
            progress(b"HTTP/1.1 204 No Content\r\n\r\n"),
            Progress::Complete
        );
        let r = parse_response(b"HTTP/1.1 200 OK\n\nbare newlines").unwrap();
        assert_eq!(r.body, b"bare newlines");
    }

    #[test]
    fn garbage_and_incomplete() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 O"),
            Err(ParseError::Incomplete)
        );
        assert_eq!(parse_response(b"HTT"), Err(ParseError::Incomplete));
        assert!(matches!(
            parse_response(b"SSH-2.0-OpenSSH_9.6\r\n"),
            Err(ParseError::Malformed(m)) if m.contains("SSH-2.0")
        ));
        assert!(matches!(
            parse_response(b"HTTP/1.1 abc OK\r\n\r\n"),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn connect_errors_are_short() {
        let e = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(connect_error(&e), "refused");
        let e = std::io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        assert_eq!(connect_error(&e), "no route to host");
    }

    #[test]
    fn timeouts_are_clamped() {
        assert_eq!(clamp_timeout(0, 3000, 10_000), 3000);
        assert_eq!(clamp_timeout(50_000, 3000, 10_000), 10_000);
        assert_eq!(clamp_timeout(300, 3000, 10_000), 300);
    }
}
