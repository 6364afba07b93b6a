//! A tiny HTTP server on the test cluster's bridge address (10.213.0.1, `pfhost` on the nodes)
//! that answers fixed bodies per path and records what it was asked, so the real agents on the
//! nodes can probe documented API shapes of servers this machine cannot run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The host side of the test cluster's bridge, as the nodes see it.
pub const BRIDGE_ADDR: &str = "10.213.0.1";

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

pub struct FixtureServer {
    /// `http://10.213.0.1:PORT`, reachable from every node.
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FixtureServer {
    /// `routes`: (path with query, HTTP status, body). Unknown paths answer 404.
    pub fn start(routes: Vec<(String, u16, String)>) -> FixtureServer {
        FixtureServer::start_delayed(routes, Vec::new())
    }

    /// Like `start`, but the paths in `delays` answer only after their delay (a server that
    /// accepts the connection and then hangs).
    pub fn start_delayed(
        routes: Vec<(String, u16, String)>,
        delays: Vec<(String, Duration)>,
    ) -> FixtureServer {
        let listener = TcpListener::bind((BRIDGE_ADDR, 0)).expect("bind on the bridge address");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let routes = routes.clone();
                let delays = delays.clone();
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let path = parts.next().unwrap_or("").to_string();
                    let mut authorization = None;
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            match k.trim().to_ascii_lowercase().as_str() {
                                "authorization" => authorization = Some(v.trim().to_string()),
                                "content-length" => length = v.trim().parse().unwrap_or(0),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    log.lock().unwrap().push(Seen {
                        method,
                        path: path.clone(),
                        authorization,
                    });
                    if let Some((_, d)) = delays.iter().find(|(p, _)| *p == path) {
                        std::thread::sleep(*d);
                    }
                    let (status, body) = routes
                        .iter()
                        .find(|(p, _, _)| *p == path)
                        .map(|(_, s, b)| (*s, b.clone()))
                        .unwrap_or((404, "not found".to_string()));
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
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
}
