//! A lean HTTP/1.1 load generator for loopback benchmarks: a fixed number of keep-alive
//! connections, each sending pre-encoded requests one after the other (closed loop) until a
//! deadline or a request budget, timing every request.
//!
//! It writes each request with one `write` and parses only the status line and
//! `Content-Length` of the answer, so that on a small machine it takes as little CPU as
//! possible from the server it measures. It does not speak chunked encoding, TLS or HTTP/2:
//! the servers it talks to answer with a length or no body.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::mix::Request;

/// One keep-alive connection.
#[derive(Debug)]
pub struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    body: std::ops::Range<usize>,
}

/// The parts of an answer the benchmark looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
}

impl Connection {
    /// A connection to `addr`, opened now.
    ///
    /// # Errors
    /// When the connection cannot be opened.
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { addr, stream: Some(stream), buf: vec![0; 16 * 1024], body: 0..0 })
    }

    /// Sends one whole request and reads its answer; reconnects first if the server closed the
    /// connection after the previous answer.
    ///
    /// # Errors
    /// I/O errors, and answers this client cannot read.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Answer> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let outcome = self.exchange(request).await;
        if outcome.is_err() {
            self.stream = None;
        }
        outcome
    }

    /// The body of the last answer.
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body.clone()]
    }

    async fn exchange(&mut self, request: &[u8]) -> io::Result<Answer> {
        let stream = self.stream.as_mut().ok_or_else(|| io::Error::other("not connected"))?;
        stream.write_all(request).await?;
        let mut filled = 0;
        let head_end = loop {
            if let Some(at) = find(&self.buf[..filled], b"\r\n\r\n") {
                break at + 4;
            }
            filled += read_more(stream, &mut self.buf, filled).await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("the answer's head is not UTF-8"))?;
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status line"))?;
        let mut length = None;
        let mut closes = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().map_err(|_| bad("bad content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("chunked answers are not supported"));
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                closes = true;
            }
        }
        let has_body = !(status == 204 || status == 304 || (100..200).contains(&status));
        let length = if has_body { length.ok_or_else(|| bad("an answer without content-length"))? } else { 0 };
        let end = head_end + length;
        while filled < end {
            filled += read_more(stream, &mut self.buf, filled).await?;
        }
        if filled > end {
            return Err(bad("bytes after the answer"));
        }
        self.body = head_end..end;
        if closes {
            self.stream = None;
        }
        Ok(Answer { status })
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>, filled: usize) -> io::Result<usize> {
    if filled == buf.len() {
        buf.resize(buf.len() * 2, 0);
    }
    match stream.read(&mut buf[filled..]).await? {
        0 => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection")),
        n => Ok(n),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// `GET path` on a fresh connection; the status and body.
///
/// # Errors
/// As [`Connection::send`].
pub async fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, Vec<u8>)> {
    let mut connection = Connection::open(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let answer = connection.send(request.as_bytes()).await?;
    Ok((answer.status, connection.body().to_vec()))
}

/// How hard and how long to push.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub duration: Duration,
    /// A bound on requests whatever the duration.
    pub max_requests: u64,
}

/// What one run saw.
#[derive(Debug, Default)]
pub struct Report {
    pub requests: u64,
    /// Events in requests answered `202` or `204`.
    pub events: u64,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    pub statuses: BTreeMap<u16, u64>,
    pub io_errors: u64,
    /// The first unexpected answer's body, for the log.
    pub first_error: Option<String>,
    /// Latency of every answered request, sorted (microseconds).
    latencies_us: Vec<u32>,
}

impl Report {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency below which a fraction `q` of requests were answered.
    pub fn latency(&self, q: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies_us.len() as f64 * q).ceil() as usize).clamp(1, self.latencies_us.len());
        Duration::from_micros(u64::from(self.latencies_us[rank - 1]))
    }

    /// Answers other than `202`/`204`, as `status×count` (empty when none).
    pub fn unexpected(&self) -> String {
        let mut parts: Vec<String> =
            self.statuses.iter().filter(|(s, _)| !matches!(s, 202 | 204)).map(|(s, n)| format!("{s}×{n}")).collect();
        if self.io_errors > 0 {
            parts.push(format!("I/O errors×{}", self.io_errors));
        }
        parts.join(", ")
    }
}

/// Sends `requests` (cycled) to `addr` under `load` and reports. Connections are opened before
/// the clock starts; each connection walks the pool from its own offset.
///
/// # Panics
/// When a connection cannot be opened, or more than 1 % of requests fail at the I/O level.
pub async fn run(addr: SocketAddr, requests: Arc<[Request]>, load: Load) -> Report {
    let issued = Arc::new(AtomicU64::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(load.connections + 1));
    let mut tasks = Vec::with_capacity(load.connections);
    for index in 0..load.connections {
        let (requests, issued, start) = (Arc::clone(&requests), Arc::clone(&issued), Arc::clone(&start));
        let mut connection = Connection::open(addr).await.expect("open a connection to the server");
        tasks.push(tokio::spawn(async move {
            let mut report = Report { latencies_us: Vec::with_capacity(1 << 16), ..Report::default() };
            let mut next = index * requests.len() / load.connections;
            start.wait().await;
            let deadline = Instant::now() + load.duration;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < load.max_requests {
                let request = &requests[next % requests.len()];
                next += 1;
                let sent = Instant::now();
                match connection.send(&request.bytes).await {
                    Ok(answer) => {
                        let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                        report.latencies_us.push(micros);
                        report.requests += 1;
                        *report.statuses.entry(answer.status).or_default() += 1;
                        if matches!(answer.status, 202 | 204) {
                            report.events += request.events;
                        } else if report.first_error.is_none() {
                            report.first_error = Some(String::from_utf8_lossy(connection.body()).into_owned());
                        }
                    }
                    Err(e) => {
                        report.io_errors += 1;
                        if report.first_error.is_none() {
                            report.first_error = Some(e.to_string());
                        }
                    }
                }
            }
            report
        }));
    }
    start.wait().await;
    let started = Instant::now();
    let mut total = Report::default();
    for task in tasks {
        let part = task.await.expect("a load task panicked");
        total.requests += part.requests;
        total.events += part.events;
        total.io_errors += part.io_errors;
        for (status, n) in part.statuses {
            *total.statuses.entry(status).or_default() += n;
        }
        total.first_error = total.first_error.or(part.first_error);
        total.latencies_us.extend(part.latencies_us);
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    assert!(
        total.io_errors * 100 <= total.requests.max(1),
        "{} of {} requests failed: {:?}",
        total.io_errors,
        total.requests,
        total.first_error
    );
    total
}
