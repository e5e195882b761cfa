//! The spool: accepted events on disk until they are in the store.
//!
//! An accepted request becomes one *record* appended to the open *segment* file. A dedicated
//! writer thread takes every record waiting, writes them, calls `fdatasync` once, and only then
//! acknowledges them (group commit): a `202` means the events survive a crash. A segment is
//! closed after `flush_interval` or `segment_max_bytes` and handed to the batcher, which inserts
//! it and deletes it. Files are `NNNNNNNNNNNNNNNNNNNN.open` (being written), `.ready` (closed)
//! and `.inflight` (the batcher may have inserted part of it: replay must skip what is stored).
//!
//! Record framing: `len: u32 LE | crc32: u32 LE | payload`, where the payload is
//! `receipt_ms: u64 LE | count: u32 LE | count × (row_len: u32 LE | EventRow (RowBinary))`. A
//! crash can leave a torn last record in an `.open` segment; recovery keeps every record before
//! it — exactly the ones that were acknowledged — and truncates the rest. Each row carries its
//! length so that the batcher can keep a row as the bytes it was spooled in, reading only its
//! leading columns (see [`SpooledEvent`]). Segments of the first format (`LARDSPL1`, rows
//! without lengths), which an upgrade can find in the spool, are still read.
//!
//! The spool also tracks which visitors have events not yet in the store, and since when, for
//! the pending snapshots collectors share (see `coordination`).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use larder_store::StoreError;
use larder_store::rowbinary::{Reader, Row, Writer};
use larder_store::rows::EventRow;
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::visitor::key_runs;

const MAGIC: &[u8; 8] = b"LARDSPL2";
/// The first format, whose rows carry no length: read, never written.
const MAGIC_V1: &[u8; 8] = b"LARDSPL1";
const RECORD_HEADER: usize = 8;
/// Largest record: far above any request the body limit lets in.
const MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;

/// What can go wrong with the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool holds `spool_max_bytes` already: the store has been away too long.
    #[error("the spool is full")]
    Full,
    #[error("spool I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The writer thread has stopped (shutdown).
    #[error("the spool is closed")]
    Closed,
    /// A closed segment does not decode; it is moved aside, not deleted.
    #[error("spool segment {0} is corrupt: {1}")]
    Corrupt(String, String),
}

/// One spooled event: when its request was accepted, the columns the batcher works with, and
/// the whole row as the RowBinary it was spooled in — a slice of its segment's bytes, not a
/// copy. A flush of a backlog holds tens of thousands of events, and a row decoded into its
/// strings takes about five times the memory of its bytes, and time to decode and encode again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpooledEvent {
    pub receipt_ms: u64,
    pub event_id: uuid::Uuid,
    pub site: Arc<str>,
    pub timestamp: u32,
    pub visitor_id: u64,
    /// Assigned by the batcher (the spooled row has none): written over the row's own when the
    /// row is encoded for the store.
    pub session_id: u64,
    encoded: Bytes,
    /// Where the row's `session_id` column starts in `encoded`.
    session_at: usize,
}

impl SpooledEvent {
    /// Reads the leading columns of one encoded row (`event_id`, `site`, `timestamp`, `name`,
    /// `visitor_id`, `session_id`: the order of [`EventRow::COLUMNS`]).
    fn from_encoded(receipt_ms: u64, encoded: Bytes, sites: &mut HashSet<Arc<str>>) -> Result<Self, StoreError> {
        let mut r = Reader::new(&encoded);
        let event_id = r.uuid()?;
        let site = r.str()?;
        let site = match sites.get(site) {
            Some(known) => Arc::clone(known),
            None => {
                let new: Arc<str> = Arc::from(site);
                sites.insert(Arc::clone(&new));
                new
            }
        };
        let timestamp = r.u32()?;
        r.str()?;
        let visitor_id = r.u64()?;
        let session_at = r.position();
        let session_id = r.u64()?;
        Ok(Self { receipt_ms, event_id, site, timestamp, visitor_id, session_id, encoded, session_at })
    }

    /// The event of a row accepted at `receipt_ms`.
    ///
    /// # Errors
    /// None in practice: the row is encoded here and read back.
    pub fn from_row(receipt_ms: u64, row: &EventRow) -> Result<Self, StoreError> {
        let mut w = Writer::default();
        row.encode(&mut w);
        Self::from_encoded(receipt_ms, Bytes::from(w.0), &mut HashSet::new())
    }

    /// The row's RowBinary size.
    pub fn encoded_len(&self) -> usize {
        self.encoded.len()
    }

    /// Appends the row as RowBinary, with its assigned session. (An event not read from a
    /// spool, such as the default, has no row: only its session is written, which the store
    /// refuses, rather than a panic.)
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (head, rest) = self.encoded.split_at(self.session_at.min(self.encoded.len()));
        out.extend_from_slice(head);
        out.extend_from_slice(&self.session_id.to_le_bytes());
        out.extend_from_slice(rest.get(8..).unwrap_or_default());
    }

    /// The whole row, decoded, with its assigned session.
    ///
    /// # Errors
    /// [`StoreError::Decode`] when the spooled bytes are not a row.
    pub fn row(&self) -> Result<EventRow, StoreError> {
        let mut row = EventRow::decode(&mut Reader::new(&self.encoded))?;
        row.session_id = self.session_id;
        Ok(row)
    }
}

/// Encodes one accepted request as a record payload.
pub fn encode_record(receipt_ms: u64, rows: &[EventRow]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(12 + rows.len() * 300));
    w.u64(receipt_ms);
    w.u32(u32::try_from(rows.len()).unwrap_or(u32::MAX));
    for row in rows {
        let at = w.0.len();
        w.u32(0);
        row.encode(&mut w);
        let len = u32::try_from(w.0.len() - at - 4).unwrap_or(u32::MAX);
        w.0[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    w.0
}

/// Decodes the record at `range` of a segment (`first_format`: rows without lengths).
fn decode_record(
    segment: &Bytes,
    (start, end): (usize, usize),
    first_format: bool,
    sites: &mut HashSet<Arc<str>>,
    out: &mut Vec<SpooledEvent>,
) -> Result<(), StoreError> {
    let mut r = Reader::new(&segment[start..end]);
    let receipt_ms = r.u64()?;
    let count = r.u32()?;
    for _ in 0..count {
        let event = if first_format {
            SpooledEvent::from_row(receipt_ms, &EventRow::decode(&mut r)?)?
        } else {
            let len = r.u32()? as usize;
            let at = start + r.position();
            r.bytes(len)?;
            SpooledEvent::from_encoded(receipt_ms, segment.slice(at..at + len), sites)?
        };
        out.push(event);
    }
    Ok(())
}

/// A closed segment waiting for the batcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub seq: u64,
    /// Whether an insert of it may have started before (replay must skip stored events).
    pub inflight: bool,
    pub min_receipt_ms: u64,
    pub max_receipt_ms: u64,
    pub events: u64,
    pub bytes: u64,
}

/// What is not yet in the store, for the pending snapshot and the size cap.
#[derive(Debug, Default)]
struct Pending {
    /// Receipts taken by requests whose visitors are not registered yet (a multiset): a
    /// snapshot cannot claim to cover them.
    admitted: BTreeMap<u64, usize>,
    /// (visitor key, receipt) of every unflushed event (a multiset).
    keys: BTreeMap<(u64, u64), u32>,
    /// Closed segments by sequence number.
    segments: BTreeMap<u64, Segment>,
    bytes: u64,
}

impl Pending {
    fn release_admission(&mut self, receipt_ms: u64) {
        if let Some(n) = self.admitted.get_mut(&receipt_ms) {
            *n -= 1;
            if *n == 0 {
                self.admitted.remove(&receipt_ms);
            }
        }
    }

    /// Adds `count` events of the visitor `key` received at `receipt_ms`.
    fn add_key(&mut self, key: u64, receipt_ms: u64, count: u32) {
        *self.keys.entry((key, receipt_ms)).or_default() += count;
    }

    /// Removes `count` events of the visitor `key` received at `receipt_ms`.
    fn remove_key(&mut self, key: u64, receipt_ms: u64, count: u32) {
        if let Some(n) = self.keys.get_mut(&(key, receipt_ms)) {
            *n = n.saturating_sub(count);
            if *n == 0 {
                self.keys.remove(&(key, receipt_ms));
            }
        }
    }
}

/// What a collector still holds: every event it accepted before `as_of_ms` is either in the
/// store or listed here by visitor key with the receipt of its oldest pending event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSnapshot {
    pub as_of_ms: u64,
    pub keys: Vec<(u64, u64)>,
}

struct Shared {
    dir: PathBuf,
    pending: Mutex<Pending>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    max_bytes: u64,
    ready: tokio::sync::mpsc::UnboundedSender<Segment>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock cannot leave `Pending` half-updated in a way that
        // loses data (the files are the truth), so a poisoned lock is taken over.
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update_gauges(&self, pending: &Pending) {
        self.metrics.spool_bytes.set(i64::try_from(pending.bytes).unwrap_or(i64::MAX));
        self.metrics.spool_segments.set(i64::try_from(pending.segments.len()).unwrap_or(i64::MAX));
    }
}

/// A receipt time reserved by a request; until its visitors are registered, no snapshot can
/// claim to cover it.
#[derive(Debug)]
pub struct Admission {
    receipt_ms: u64,
    /// Visitor keys registered for this request's events, with their number of events.
    keys: Vec<(u64, u32)>,
    registered: bool,
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Admission {
    /// When the request was accepted (ms since the epoch): its events' receipt time.
    pub fn receipt_ms(&self) -> u64 {
        self.receipt_ms
    }

    /// Registers the visitors of the request's rows: each visitor key with its number of events
    /// (see [`key_runs`]).
    pub fn register(&mut self, rows: &[EventRow]) {
        if let Some(shared) = &self.shared {
            let runs = key_runs(rows.iter().map(|r| (r.site.as_str(), r.visitor_id, ())));
            let keys: Vec<(u64, u32)> = runs.into_iter().map(|(key, (), count)| (key, count)).collect();
            let mut pending = shared.lock();
            keys.iter().for_each(|(key, count)| pending.add_key(*key, self.receipt_ms, *count));
            if !self.registered {
                pending.release_admission(self.receipt_ms);
            }
            self.registered = true;
            self.keys.extend(keys);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut pending = shared.lock();
            if self.registered {
                for (key, count) in &self.keys {
                    pending.remove_key(*key, self.receipt_ms, *count);
                }
            } else {
                pending.release_admission(self.receipt_ms);
            }
        }
    }
}

enum Message {
    Append {
        receipt_ms: u64,
        keys: Vec<(u64, u32)>,
        payload: Vec<u8>,
        events: u32,
        ack: oneshot::Sender<Result<(), SpoolError>>,
    },
    Rotate {
        ack: oneshot::Sender<()>,
    },
}

/// The spool's handle; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

/// The receiving end of closed segments, for the batcher.
pub type SegmentQueue = tokio::sync::mpsc::UnboundedReceiver<Segment>;

/// Segment sizing and timing.
#[derive(Debug, Clone, Copy)]
pub struct SpoolLimits {
    pub max_bytes: u64,
    pub segment_max_bytes: u64,
    pub flush_interval: Duration,
}

impl Spool {
    /// Opens the spool in `dir` (creating it), recovers what a previous run left, and starts
    /// the writer thread. Recovered segments are the first ones the queue yields.
    ///
    /// # Errors
    /// I/O errors while creating or scanning the directory.
    pub fn open(
        dir: &Path,
        limits: SpoolLimits,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
    ) -> Result<(Self, SegmentQueue), SpoolError> {
        std::fs::create_dir_all(dir)?;
        std::fs::create_dir_all(dir.join("quarantine"))?;
        let (ready_tx, ready_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            pending: Mutex::new(Pending::default()),
            clock,
            metrics,
            max_bytes: limits.max_bytes,
            ready: ready_tx,
        });
        let recovered = recover(dir)?;
        let next_seq = recovered.iter().map(|s| s.seq + 1).max().unwrap_or(1);
        let spool = Self { shared: Arc::clone(&shared), tx: mpsc::channel().0 };
        for segment in &recovered {
            // Their visitors are pending again: read them so that snapshots list them.
            let events = match spool.read(segment) {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, segment = segment.seq, "cannot read a recovered segment");
                    Vec::new()
                }
            };
            let mut pending = shared.lock();
            for (key, receipt_ms, count) in key_runs(events.iter().map(|e| (&*e.site, e.visitor_id, e.receipt_ms))) {
                pending.add_key(key, receipt_ms, count);
            }
            pending.bytes += record_bytes(segment);
            pending.segments.insert(segment.seq, segment.clone());
            shared.update_gauges(&pending);
        }
        drop(spool);
        if !recovered.is_empty() {
            let events: u64 = recovered.iter().map(|s| s.events).sum();
            tracing::info!(segments = recovered.len(), events, "spool recovered unflushed events");
        }
        for segment in recovered {
            let _ = shared.ready.send(segment);
        }
        let (tx, rx) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || writer_loop(&writer_shared, &rx, limits, next_seq))?;
        Ok((Self { shared, tx }, ready_rx))
    }

    /// Reserves a receipt time for a request, unless the spool is full.
    ///
    /// # Errors
    /// [`SpoolError::Full`].
    pub fn admit(&self) -> Result<Admission, SpoolError> {
        let mut pending = self.shared.lock();
        if pending.bytes >= self.shared.max_bytes {
            return Err(SpoolError::Full);
        }
        // Taken under the lock, so a snapshot taken at the same time cannot claim to cover it.
        let receipt_ms = self.shared.clock.now_ms();
        *pending.admitted.entry(receipt_ms).or_default() += 1;
        Ok(Admission { receipt_ms, keys: Vec::new(), registered: false, shared: Some(Arc::clone(&self.shared)) })
    }

    /// Appends one request's record and waits until it is on disk. Register the events'
    /// visitors on the admission first.
    ///
    /// # Errors
    /// [`SpoolError::Full`] when it would pass the cap, I/O errors, [`SpoolError::Closed`].
    pub async fn append(&self, mut admission: Admission, payload: Vec<u8>, events: u32) -> Result<(), SpoolError> {
        {
            let mut pending = self.shared.lock();
            if pending.bytes + payload.len() as u64 > self.shared.max_bytes {
                return Err(SpoolError::Full);
            }
            pending.bytes += (payload.len() + RECORD_HEADER) as u64;
        }
        // From here the writer owns the admission's registration, whatever happens to this
        // future: it keeps the keys if the record is written and removes them if not.
        admission.shared = None;
        let (ack, done) = oneshot::channel();
        let receipt_ms = admission.receipt_ms;
        let keys = std::mem::take(&mut admission.keys);
        let registered = admission.registered;
        let message = Message::Append { receipt_ms, keys, payload, events, ack };
        if let Err(mpsc::SendError(message)) = self.tx.send(message) {
            let mut pending = self.shared.lock();
            if let Message::Append { keys, payload, .. } = message {
                if registered {
                    keys.iter().for_each(|(key, count)| pending.remove_key(*key, receipt_ms, *count));
                } else {
                    pending.release_admission(receipt_ms);
                }
                pending.bytes = pending.bytes.saturating_sub((payload.len() + RECORD_HEADER) as u64);
            }
            return Err(SpoolError::Closed);
        }
        done.await.map_err(|_| SpoolError::Closed)?
    }

    /// Closes the open segment now (shutdown, tests).
    pub async fn rotate(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Rotate { ack }).is_ok() {
            let _ = done.await;
        }
    }

    /// What this collector still holds (see [`PendingSnapshot`]).
    pub fn snapshot(&self) -> PendingSnapshot {
        let pending = self.shared.lock();
        let now = self.shared.clock.now_ms();
        let as_of_ms = pending.admitted.keys().next().map_or(now, |oldest| (*oldest).min(now));
        let mut keys: Vec<(u64, u64)> = Vec::new();
        for (key, receipt) in pending.keys.keys() {
            // Sorted by key then receipt: the first entry of each key is its oldest.
            if keys.last().is_none_or(|(last, _)| last != key) {
                keys.push((*key, *receipt));
            }
        }
        PendingSnapshot { as_of_ms, keys }
    }

    /// Forgets flushed events' visitors: (visitor key, receipt, number of events).
    pub fn release(&self, flushed: &[(u64, u64, u32)]) {
        let mut pending = self.shared.lock();
        for (key, receipt, count) in flushed {
            pending.remove_key(*key, *receipt, *count);
        }
    }

    /// Receipt time of the oldest event not yet in the store.
    pub fn oldest_receipt_ms(&self) -> Option<u64> {
        let pending = self.shared.lock();
        let admitted = pending.admitted.keys().next().copied();
        let registered = pending.keys.keys().map(|(_, receipt)| *receipt).min();
        admitted.into_iter().chain(registered).min()
    }

    /// Bytes of events not yet in the store.
    pub fn pending_bytes(&self) -> u64 {
        self.shared.lock().bytes
    }

    /// Closed segments waiting for the store.
    pub fn pending_segments(&self) -> usize {
        self.shared.lock().segments.len()
    }

    fn path(&self, seq: u64, ext: &str) -> PathBuf {
        self.shared.dir.join(format!("{seq:020}.{ext}"))
    }

    /// Marks a segment as possibly partly inserted: a crash from here on means replay with
    /// de-duplication.
    ///
    /// # Errors
    /// I/O errors.
    pub fn mark_inflight(&self, segment: &mut Segment) -> Result<(), SpoolError> {
        if !segment.inflight {
            std::fs::rename(self.path(segment.seq, "ready"), self.path(segment.seq, "inflight"))?;
            sync_dir(&self.shared.dir)?;
            segment.inflight = true;
            if let Some(s) = self.shared.lock().segments.get_mut(&segment.seq) {
                s.inflight = true;
            }
        }
        Ok(())
    }

    /// Reads a closed segment's events.
    ///
    /// # Errors
    /// I/O errors, or [`SpoolError::Corrupt`].
    pub fn read(&self, segment: &Segment) -> Result<Vec<SpooledEvent>, SpoolError> {
        let path = self.path(segment.seq, if segment.inflight { "inflight" } else { "ready" });
        let mut bytes = Vec::new();
        File::open(&path)?.read_to_end(&mut bytes)?;
        let name = path.display().to_string();
        let scan = scan_records(&bytes).map_err(|why| SpoolError::Corrupt(name.clone(), why))?;
        if scan.valid_len != bytes.len() {
            return Err(SpoolError::Corrupt(name, "a record fails its checksum".into()));
        }
        let bytes = Bytes::from(bytes);
        let mut events = Vec::with_capacity(usize::try_from(segment.events).unwrap_or(0));
        let mut sites = HashSet::new();
        for range in scan.records {
            decode_record(&bytes, range, scan.first_format, &mut sites, &mut events)
                .map_err(|why| SpoolError::Corrupt(name.clone(), why.to_string()))?;
        }
        Ok(events)
    }

    /// Forgets a segment whose events are all in the store.
    ///
    /// # Errors
    /// I/O errors.
    pub fn complete(&self, segment: &Segment) -> Result<(), SpoolError> {
        let path = self.path(segment.seq, if segment.inflight { "inflight" } else { "ready" });
        std::fs::remove_file(&path)?;
        let mut pending = self.shared.lock();
        if let Some(done) = pending.segments.remove(&segment.seq) {
            pending.bytes = pending.bytes.saturating_sub(record_bytes(&done));
        }
        self.shared.update_gauges(&pending);
        Ok(())
    }

    /// Moves a segment the store refuses aside, keeping it for an operator; it stops counting
    /// against the spool.
    ///
    /// # Errors
    /// I/O errors.
    pub fn quarantine(&self, segment: &Segment) -> Result<PathBuf, SpoolError> {
        let from = self.path(segment.seq, if segment.inflight { "inflight" } else { "ready" });
        let to = self.shared.dir.join("quarantine").join(format!("{:020}.segment", segment.seq));
        std::fs::rename(&from, &to)?;
        let mut pending = self.shared.lock();
        if let Some(done) = pending.segments.remove(&segment.seq) {
            pending.bytes = pending.bytes.saturating_sub(record_bytes(&done));
        }
        self.shared.metrics.quarantined_segments.inc();
        self.shared.update_gauges(&pending);
        Ok(to)
    }
}

struct OpenSegment {
    seq: u64,
    file: File,
    bytes: u64,
    events: u64,
    opened: Instant,
    min_receipt_ms: u64,
    max_receipt_ms: u64,
}

fn writer_loop(shared: &Arc<Shared>, rx: &mpsc::Receiver<Message>, limits: SpoolLimits, mut next_seq: u64) {
    let mut open: Option<OpenSegment> = None;
    loop {
        let wait = match &open {
            Some(segment) => limits.flush_interval.saturating_sub(segment.opened.elapsed()),
            None => Duration::from_secs(3600),
        };
        let mut messages = VecDeque::new();
        match rx.recv_timeout(wait) {
            Ok(first) => {
                messages.push_back(first);
                while messages.len() < 4096 {
                    match rx.try_recv() {
                        Ok(more) => messages.push_back(more),
                        Err(_) => break,
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                close_segment(shared, &mut open);
                return;
            }
        }
        let mut appends = Vec::new();
        let mut rotations = Vec::new();
        for message in messages {
            match message {
                Message::Append { receipt_ms, keys, payload, events, ack } => {
                    appends.push((receipt_ms, keys, payload, events, ack));
                }
                Message::Rotate { ack } => rotations.push(ack),
            }
        }
        if !appends.is_empty() {
            commit(shared, &mut open, &mut next_seq, appends);
        }
        let due = open
            .as_ref()
            .is_some_and(|s| s.bytes >= limits.segment_max_bytes || s.opened.elapsed() >= limits.flush_interval);
        if due || !rotations.is_empty() {
            close_segment(shared, &mut open);
        }
        for ack in rotations {
            let _ = ack.send(());
        }
    }
}

type Append = (u64, Vec<(u64, u32)>, Vec<u8>, u32, oneshot::Sender<Result<(), SpoolError>>);

/// Appends one framed record (see the module documentation) to a segment's bytes.
fn push_record(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Writes records, syncs once, acknowledges.
fn commit(shared: &Arc<Shared>, open: &mut Option<OpenSegment>, next_seq: &mut u64, appends: Vec<Append>) {
    let mut buffer = Vec::with_capacity(appends.iter().map(|a| a.2.len() + RECORD_HEADER).sum());
    for (_, _, payload, _, _) in &appends {
        push_record(&mut buffer, payload);
    }
    let outcome = (|| -> std::io::Result<()> {
        if open.is_none() {
            let seq = *next_seq;
            *next_seq += 1;
            let path = shared.dir.join(format!("{seq:020}.open"));
            let mut file = OpenOptions::new().create_new(true).append(true).open(&path)?;
            file.write_all(MAGIC)?;
            file.sync_all()?;
            sync_dir(&shared.dir)?;
            *open = Some(OpenSegment {
                seq,
                file,
                bytes: MAGIC.len() as u64,
                events: 0,
                opened: Instant::now(),
                min_receipt_ms: u64::MAX,
                max_receipt_ms: 0,
            });
        }
        let Some(segment) = open.as_mut() else { return Err(std::io::Error::other("no open segment")) };
        let before = segment.bytes;
        let written = segment.file.write_all(&buffer).and_then(|()| segment.file.sync_data());
        if let Err(e) = written {
            // Keep the segment consistent: nothing of this group counts as written.
            let _ = segment.file.set_len(before);
            return Err(e);
        }
        segment.bytes += buffer.len() as u64;
        Ok(())
    })();
    let mut pending = shared.lock();
    match outcome {
        Ok(()) => {
            if let Some(segment) = open.as_mut() {
                for (receipt_ms, _, _, events, _) in &appends {
                    segment.min_receipt_ms = segment.min_receipt_ms.min(*receipt_ms);
                    segment.max_receipt_ms = segment.max_receipt_ms.max(*receipt_ms);
                    segment.events += u64::from(*events);
                }
            }
            shared.update_gauges(&pending);
            drop(pending);
            for (_, _, _, _, ack) in appends {
                let _ = ack.send(Ok(()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "spool write failed; requests answered with an error");
            for (receipt_ms, keys, payload, _, _) in &appends {
                if keys.is_empty() {
                    pending.release_admission(*receipt_ms);
                }
                keys.iter().for_each(|(key, count)| pending.remove_key(*key, *receipt_ms, *count));
                pending.bytes = pending.bytes.saturating_sub((payload.len() + RECORD_HEADER) as u64);
            }
            drop(pending);
            let kind = e.kind();
            for (_, _, _, _, ack) in appends {
                let _ = ack.send(Err(SpoolError::Io(std::io::Error::new(kind, "spool write failed"))));
            }
        }
    }
}

/// Closes the open segment (if it has records) and hands it to the batcher.
fn close_segment(shared: &Arc<Shared>, open: &mut Option<OpenSegment>) {
    let Some(segment) = open.take() else { return };
    let from = shared.dir.join(format!("{:020}.open", segment.seq));
    let to = shared.dir.join(format!("{:020}.ready", segment.seq));
    drop(segment.file);
    if let Err(e) = std::fs::rename(&from, &to).and_then(|()| sync_dir(&shared.dir)) {
        // The records are synced in the `.open` file; the next start recovers it.
        tracing::error!(error = %e, "cannot close a spool segment; it will be recovered at the next start");
        return;
    }
    let closed = Segment {
        seq: segment.seq,
        inflight: false,
        min_receipt_ms: segment.min_receipt_ms,
        max_receipt_ms: segment.max_receipt_ms,
        events: segment.events,
        bytes: segment.bytes,
    };
    {
        let mut pending = shared.lock();
        pending.segments.insert(closed.seq, closed.clone());
        shared.update_gauges(&pending);
    }
    let _ = shared.ready.send(closed);
}

/// The bytes of a segment's records, as counted against the cap (the file header is not).
fn record_bytes(segment: &Segment) -> u64 {
    segment.bytes.saturating_sub(MAGIC.len() as u64)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

struct Scan {
    /// Byte ranges of valid record payloads.
    records: Vec<(usize, usize)>,
    /// Length of the valid prefix (header and whole records).
    valid_len: usize,
    min_receipt_ms: u64,
    max_receipt_ms: u64,
    events: u64,
    /// Written in the first format (`LARDSPL1`).
    first_format: bool,
}

/// Walks a segment's records, stopping at the first that is torn or fails its checksum.
fn scan_records(bytes: &[u8]) -> Result<Scan, String> {
    let header = bytes.get(..MAGIC.len());
    if header != Some(MAGIC) && header != Some(MAGIC_V1) {
        return Err("not a spool segment (bad header)".into());
    }
    let mut scan = Scan {
        records: Vec::new(),
        valid_len: MAGIC.len(),
        min_receipt_ms: u64::MAX,
        max_receipt_ms: 0,
        events: 0,
        first_format: header == Some(MAGIC_V1),
    };
    let mut pos = MAGIC.len();
    while pos + RECORD_HEADER <= bytes.len() {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]);
        let crc = u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]);
        let start = pos + RECORD_HEADER;
        let Some(end) = start.checked_add(len as usize).filter(|end| *end <= bytes.len() && len <= MAX_RECORD_BYTES)
        else {
            break;
        };
        let payload = &bytes[start..end];
        if crc32fast::hash(payload) != crc || payload.len() < 12 {
            break;
        }
        let receipt = u64::from_le_bytes(payload[..8].try_into().unwrap_or([0; 8]));
        let count = u32::from_le_bytes(payload[8..12].try_into().unwrap_or([0; 4]));
        scan.min_receipt_ms = scan.min_receipt_ms.min(receipt);
        scan.max_receipt_ms = scan.max_receipt_ms.max(receipt);
        scan.events += u64::from(count);
        scan.records.push((start, end));
        pos = end;
        scan.valid_len = end;
    }
    Ok(scan)
}

/// Finds the segments a previous run left: `.open` ones are truncated to their valid prefix
/// and closed; empty ones are removed.
fn recover(dir: &Path) -> Result<Vec<Segment>, SpoolError> {
    let mut found: Vec<(u64, String)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some((stem, ext)) = name.split_once('.') else { continue };
        if stem.len() == 20
            && stem.bytes().all(|b| b.is_ascii_digit())
            && matches!(ext, "open" | "ready" | "inflight")
            && let Ok(seq) = stem.parse::<u64>()
        {
            found.push((seq, ext.to_owned()));
        }
    }
    found.sort();
    let mut segments = Vec::new();
    for (seq, ext) in found {
        let path = dir.join(format!("{seq:020}.{ext}"));
        let mut bytes = Vec::new();
        File::open(&path)?.read_to_end(&mut bytes)?;
        let scan = match scan_records(&bytes) {
            Ok(scan) => scan,
            Err(why) if ext == "open" && bytes.len() < MAGIC.len() => {
                tracing::warn!(segment = seq, why, "removing an empty spool segment");
                std::fs::remove_file(&path)?;
                continue;
            }
            Err(why) => {
                let to = dir.join("quarantine").join(format!("{seq:020}.segment"));
                tracing::error!(segment = seq, why, "unreadable spool segment moved to quarantine");
                std::fs::rename(&path, &to)?;
                continue;
            }
        };
        if scan.valid_len < bytes.len() {
            let dropped_bytes = bytes.len() - scan.valid_len;
            if ext == "open" {
                // Only the last group commit can be torn, and it was never acknowledged.
                tracing::warn!(segment = seq, dropped_bytes, "truncating the torn tail of a spool segment");
            } else {
                // A closed segment was fully synced: this is damage on disk. Keep a copy.
                let copy = dir.join("quarantine").join(format!("{seq:020}.damaged"));
                std::fs::copy(&path, &copy)?;
                tracing::error!(
                    segment = seq,
                    dropped_bytes,
                    "a closed spool segment is damaged; a copy is in quarantine"
                );
            }
            let file = OpenOptions::new().write(true).open(&path)?;
            file.set_len(scan.valid_len as u64)?;
            file.sync_all()?;
        }
        if scan.records.is_empty() {
            std::fs::remove_file(&path)?;
            continue;
        }
        let inflight = ext == "inflight";
        if ext == "open" {
            std::fs::rename(&path, dir.join(format!("{seq:020}.ready")))?;
        }
        segments.push(Segment {
            seq,
            inflight,
            min_receipt_ms: scan.min_receipt_ms,
            max_receipt_ms: scan.max_receipt_ms,
            events: scan.events,
            bytes: scan.valid_len as u64,
        });
    }
    sync_dir(dir)?;
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::visitor::visitor_key;

    fn row(n: u64) -> EventRow {
        EventRow {
            event_id: uuid::Uuid::from_u64_pair(1, n),
            site: "a.example".into(),
            name: "pageview".into(),
            pathname: "/".into(),
            timestamp: 1_790_000_000,
            visitor_id: n,
            ..EventRow::default()
        }
    }

    fn open(dir: &Path, interval_ms: u64) -> (Spool, SegmentQueue) {
        let mut registry = prometheus_client::registry::Registry::default();
        let limits = SpoolLimits {
            max_bytes: 1024 * 1024,
            segment_max_bytes: 1024 * 1024,
            flush_interval: Duration::from_millis(interval_ms),
        };
        Spool::open(dir, limits, Arc::new(SystemClock), Metrics::register(&mut registry))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn append(spool: &Spool, rows: &[EventRow]) -> Result<(), SpoolError> {
        let mut admission = spool.admit()?;
        admission.register(rows);
        let payload = encode_record(admission.receipt_ms(), rows);
        spool.append(admission, payload, rows.len() as u32).await
    }

    #[tokio::test]
    async fn appended_records_come_back_in_order_after_rotation() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (spool, mut queue) = open(dir.path(), 60_000);
        append(&spool, &[row(1), row(2)]).await.unwrap_or_else(|e| panic!("{e}"));
        append(&spool, &[row(3)]).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(spool.snapshot().as_of_ms <= SystemClock.now_ms(), "a snapshot covers at most up to now");
        spool.rotate().await;
        let segment = queue.recv().await.unwrap_or_else(|| panic!("a segment"));
        assert_eq!(segment.events, 3, "events counted");
        let events = spool.read(&segment).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<u64> = events.iter().map(|e| e.visitor_id).collect();
        assert_eq!(ids, vec![1, 2, 3], "records in append order");
        assert!(spool.pending_bytes() > 0, "still pending until completed");
        spool.complete(&segment).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spool.pending_bytes(), 0, "nothing pending once completed");
    }

    #[tokio::test]
    async fn snapshots_list_unflushed_visitors_and_cover_only_registered_requests() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (spool, _queue) = open(dir.path(), 60_000);
        append(&spool, &[row(1), row(2)]).await.unwrap_or_else(|e| panic!("{e}"));
        let snapshot = spool.snapshot();
        let keys: Vec<u64> = snapshot.keys.iter().map(|(k, _)| *k).collect();
        let mut want = vec![visitor_key("a.example", 1), visitor_key("a.example", 2)];
        want.sort_unstable();
        assert_eq!(keys, want, "both visitors pending");
        let held = spool.admit().unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(spool.snapshot().as_of_ms, held.receipt_ms(), "an unregistered request holds the snapshot back");
        drop(held);
        assert!(spool.snapshot().as_of_ms > snapshot.as_of_ms, "released");
        let receipt = snapshot.keys[0].1;
        spool.release(&[(visitor_key("a.example", 1), receipt, 1), (visitor_key("a.example", 2), receipt, 1)]);
        assert!(spool.snapshot().keys.is_empty(), "flushed visitors are no longer pending");
    }

    #[tokio::test]
    async fn a_torn_tail_is_truncated_and_acknowledged_records_survive() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        {
            let (spool, queue) = open(dir.path(), 60_000);
            append(&spool, &[row(1)]).await.unwrap_or_else(|e| panic!("{e}"));
            append(&spool, &[row(2), row(3)]).await.unwrap_or_else(|e| panic!("{e}"));
            // A crash: the writer never gets to close the segment.
            std::mem::forget((spool, queue));
        }
        // Simulate a crash mid-write: half a record after the acknowledged ones.
        let open_file = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "open"))
            .unwrap_or_else(|| panic!("an open segment"));
        let mut file = OpenOptions::new().append(true).open(&open_file).unwrap_or_else(|e| panic!("{e}"));
        file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]).unwrap_or_else(|e| panic!("{e}"));
        drop(file);
        let (spool, mut queue) = open(dir.path(), 60_000);
        let segment = queue.recv().await.unwrap_or_else(|| panic!("recovered segment"));
        assert!(!segment.inflight, "never inserted");
        let events = spool.read(&segment).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events.iter().map(|e| e.visitor_id).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn inflight_segments_are_recovered_as_inflight() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        {
            let (spool, mut queue) = open(dir.path(), 60_000);
            append(&spool, &[row(1)]).await.unwrap_or_else(|e| panic!("{e}"));
            spool.rotate().await;
            let mut segment = queue.recv().await.unwrap_or_else(|| panic!("segment"));
            spool.mark_inflight(&mut segment).unwrap_or_else(|e| panic!("{e}"));
        }
        let (spool, mut queue) = open(dir.path(), 60_000);
        let segment = queue.recv().await.unwrap_or_else(|| panic!("recovered"));
        assert!(segment.inflight, "replay must de-duplicate");
        assert_eq!(spool.read(&segment).map(|e| e.len()).ok(), Some(1));
    }

    #[tokio::test]
    async fn a_full_spool_refuses_new_events() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut registry = prometheus_client::registry::Registry::default();
        let limits =
            SpoolLimits { max_bytes: 2_000, segment_max_bytes: 1024 * 1024, flush_interval: Duration::from_secs(60) };
        let (spool, _queue) = Spool::open(dir.path(), limits, Arc::new(SystemClock), Metrics::register(&mut registry))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut accepted = 0;
        let outcome = loop {
            match append(&spool, &[row(accepted)]).await {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            assert!(accepted < 1000, "the cap must bite");
        };
        assert!(matches!(outcome, SpoolError::Full), "{outcome:?}");
        assert!(accepted > 0, "some fit");
    }

    fn full_row(n: u64) -> EventRow {
        EventRow {
            referrer_host: "news.example".into(),
            props_key: vec!["plan".into(), "größe".into()],
            props_value: vec!["pro".into(), "XL".into()],
            revenue_e4: Some(129_900),
            currency: "EUR".into(),
            items_product_id: vec!["sku-1".into()],
            items_quantity: vec![2],
            items_price_e4: vec![64_950],
            search_results: None,
            vital_value: Some(0.25),
            ..row(n)
        }
    }

    #[tokio::test]
    async fn a_spooled_row_is_inserted_as_it_was_accepted_with_its_session() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (spool, mut queue) = open(dir.path(), 60_000);
        let rows = [full_row(1), row(2), full_row(3)];
        append(&spool, &rows).await.unwrap_or_else(|e| panic!("{e}"));
        spool.rotate().await;
        let segment = queue.recv().await.unwrap_or_else(|| panic!("a segment"));
        let mut events = spool.read(&segment).unwrap_or_else(|e| panic!("{e}"));
        let mut encoded = Vec::new();
        for (n, event) in events.iter_mut().enumerate() {
            assert_eq!(
                (&*event.site, event.visitor_id, event.timestamp),
                ("a.example", rows[n].visitor_id, 1_790_000_000)
            );
            assert_eq!(event.event_id, rows[n].event_id);
            event.session_id = 1000 + n as u64;
            event.encode(&mut encoded);
        }
        let stored: Vec<EventRow> = larder_store::rowbinary::decode_rows(&encoded).unwrap_or_else(|e| panic!("{e}"));
        let want: Vec<EventRow> =
            rows.iter().enumerate().map(|(n, r)| EventRow { session_id: 1000 + n as u64, ..r.clone() }).collect();
        assert_eq!(stored, want, "every column as accepted, the session as assigned");
        assert_eq!(events[2].row().ok(), Some(want[2].clone()));
        assert!(Arc::ptr_eq(&events[0].site, &events[1].site), "a segment's site names are shared");
        let mut lone = Vec::new();
        SpooledEvent { session_id: 7, ..SpooledEvent::default() }.encode(&mut lone);
        assert_eq!(lone, 7u64.to_le_bytes(), "an event without a row writes its session only, no panic");
    }

    #[tokio::test]
    async fn segments_of_the_first_format_are_still_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // A segment as the first format wrote it: rows one after another, no lengths.
        let rows = [full_row(7), row(8)];
        let mut payload = Writer::default();
        payload.u64(1_790_000_000_123);
        payload.u32(2);
        rows.iter().for_each(|r| r.encode(&mut payload));
        let mut file = MAGIC_V1.to_vec();
        push_record(&mut file, &payload.0);
        std::fs::write(dir.path().join(format!("{:020}.ready", 3)), file).unwrap_or_else(|e| panic!("{e}"));
        let (spool, mut queue) = open(dir.path(), 60_000);
        let segment = queue.recv().await.unwrap_or_else(|| panic!("the old segment is recovered"));
        assert_eq!((segment.seq, segment.events, segment.min_receipt_ms), (3, 2, 1_790_000_000_123));
        let events = spool.read(&segment).unwrap_or_else(|e| panic!("{e}"));
        let back: Vec<EventRow> = events.iter().map(|e| e.row().unwrap_or_else(|e| panic!("{e}"))).collect();
        assert_eq!(back, rows, "an upgrade finds the old spool's events whole");
        // New records go to a new segment in the current format.
        append(&spool, &[row(9)]).await.unwrap_or_else(|e| panic!("{e}"));
        spool.rotate().await;
        let next = queue.recv().await.unwrap_or_else(|| panic!("a new segment"));
        let bytes = std::fs::read(dir.path().join(format!("{:020}.ready", next.seq))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&bytes[..8], MAGIC, "written in the current format");
        assert!(next.seq > 3, "numbered after the recovered one");
    }

    /// Spooled rows are inserted as the bytes they were accepted as, and read by their leading
    /// columns: a change to `EventRow`'s columns must come with a new spool format (a new
    /// `MAGIC`, and the old one still read), or an upgrade would insert old rows under new
    /// column names.
    #[test]
    fn the_spool_format_names_the_row_layout_it_was_written_with() {
        assert_eq!(MAGIC, b"LARDSPL2");
        assert_eq!(&EventRow::COLUMNS[..6], ["event_id", "site", "timestamp", "name", "visitor_id", "session_id"]);
        let layout = blake3::hash(EventRow::COLUMNS.join(",").as_bytes()).to_hex();
        assert_eq!(
            &layout[..16],
            "c183d06e0d4feee0",
            "EventRow's columns changed: give the spool a new format (see this test)"
        );
    }

    #[test]
    fn scanning_stops_at_a_bad_checksum() {
        let mut bytes = MAGIC.to_vec();
        for receipt in [10u64, 20] {
            push_record(&mut bytes, &encode_record(receipt, &[row(receipt)]));
        }
        let full = scan_records(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((full.records.len(), full.min_receipt_ms, full.max_receipt_ms), (2, 10, 20));
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let damaged = scan_records(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(damaged.records.len(), 1, "the damaged record and what follows are not trusted");
        assert!(scan_records(b"nonsense").is_err(), "a foreign file is refused");
    }
}
