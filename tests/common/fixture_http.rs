//! A tiny HTTP server on the test cluster's bridge address (10.213.0.1, `pfhost` on the nodes)
//! that answers fixed bodies per path and records what it was asked (body included), so the
//! real agents on the nodes can probe documented API shapes of servers this machine cannot run.
//! A stateful server also changes some answers once a request it was told about succeeds, the
//! way a POST to a real server changes what later GETs return.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The host side of the test cluster's bridge, as the nodes see it.
pub const BRIDGE_ADDR: &str = "10.213.0.1";

/// (path with query, HTTP status, body).
pub type Route = (String, u16, String);

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The request body as sent (lossily UTF-8), empty for a GET.
    pub body: String,
}

impl Seen {
    /// The body as `application/x-www-form-urlencoded` pairs, decoded.
    pub fn form(&self) -> Vec<(String, String)> {
        if self.body.is_empty() {
            return Vec::new();
        }
        self.body
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (form_decode(k), form_decode(v))
            })
            .collect()
    }
}

/// What a successful (2xx) request with this method and path changes: each route in `set`
/// replaces the route of the same path (or is added).
#[derive(Debug, Clone)]
pub struct Transition {
    pub method: String,
    pub path: String,
    pub set: Vec<Route>,
}

impl Transition {
    pub fn on_post(path: &str, set: Vec<Route>) -> Transition {
        Transition {
            method: "POST".into(),
            path: path.into(),
            set,
        }
    }
}

pub struct FixtureServer {
    /// `http://10.213.0.1:PORT`, reachable from every node.
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// What every connection shares: the current answers and what changes them.
struct State {
    routes: Mutex<Vec<Route>>,
    delays: Vec<(String, Duration)>,
    transitions: Vec<Transition>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FixtureServer {
    /// `routes`: (path with query, HTTP status, body). Unknown paths answer 404.
    pub fn start(routes: Vec<Route>) -> FixtureServer {
        FixtureServer::serve(routes, Vec::new(), Vec::new())
    }

    /// Like `start`, but the paths in `delays` answer only after their delay (a server that
    /// accepts the connection and then hangs).
    pub fn start_delayed(routes: Vec<Route>, delays: Vec<(String, Duration)>) -> FixtureServer {
        FixtureServer::serve(routes, delays, Vec::new())
    }

    /// Like `start`, and each request matching a transition (method and path) that is answered
    /// 2xx switches the routes the transition names, for every later request.
    pub fn start_stateful(routes: Vec<Route>, transitions: Vec<Transition>) -> FixtureServer {
        FixtureServer::serve(routes, Vec::new(), transitions)
    }

    fn serve(
        routes: Vec<Route>,
        delays: Vec<(String, Duration)>,
        transitions: Vec<Transition>,
    ) -> FixtureServer {
        let listener = TcpListener::bind((BRIDGE_ADDR, 0)).expect("bind on the bridge address");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            routes: Mutex::new(routes),
            delays,
            transitions,
            seen: seen.clone(),
        });
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = state.clone();
                std::thread::spawn(move || answer(stream, &state));
            }
        });
        FixtureServer { url, seen }
    }

    pub fn paths(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.path.clone())
            .collect()
    }

    /// The requests made with `method`, in order.
    pub fn requests(&self, method: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method)
            .cloned()
            .collect()
    }
}

fn answer(mut stream: TcpStream, state: &State) {
    let Some(seen) = read_request(&stream) else {
        return;
    };
    state.seen.lock().unwrap().push(seen.clone());
    if let Some((_, d)) = state.delays.iter().find(|(p, _)| *p == seen.path) {
        std::thread::sleep(*d);
    }
    let (status, body) = {
        let mut routes = state.routes.lock().unwrap();
        let (status, body) = routes
            .iter()
            .find(|(p, _, _)| *p == seen.path)
            .map(|(_, s, b)| (*s, b.clone()))
            .unwrap_or((404, "not found".to_string()));
        // Switched before answering, so a request made after this answer sees the new state.
        if (200..300).contains(&status) {
            for t in state
                .transitions
                .iter()
                .filter(|t| t.method == seen.method && t.path == seen.path)
            {
                for new in &t.set {
                    match routes.iter_mut().find(|r| r.0 == new.0) {
                        Some(r) => *r = new.clone(),
                        None => routes.push(new.clone()),
                    }
                }
            }
        }
        (status, body)
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut authorization = None;
    let mut content_type = None;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let v = v.trim().to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "authorization" => authorization = Some(v),
                "content-type" => content_type = Some(v),
                "content-length" => length = v.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length.min(1024 * 1024)];
    let _ = reader.read_exact(&mut body);
    Some(Seen {
        method,
        path,
        authorization,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
