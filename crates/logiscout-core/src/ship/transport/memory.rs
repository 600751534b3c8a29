//! An in-memory [`Transport`] for tests of the worker: it records every encoded batch it is handed and
//! answers from a script (success, statuses classified as the HTTP transport classifies them, an
//! unreachable endpoint, delays, a hang), so the worker's logic is tested without sockets and without
//! waiting on a server.
//!
//! ```ignore
//! let transport = MemoryTransport::new();
//! transport.answer_next(Answer::status(503));
//! let shipper = Shipper::start(settings, transport.clone())?;
//! // … log, flush …
//! assert_eq!(transport.sent().len(), 2);
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{classify, classify_otlp, EncodedBatch, SendError, SendFuture, Transport};
use crate::protocol::Protocol;

/// How the transport answers one batch.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    outcome: Outcome,
    /// Wait this long before answering.
    delay: Duration,
}

#[derive(Debug, Clone)]
enum Outcome {
    /// An HTTP status (and `Retry-After`), mapped as the HTTP transport maps it for its protocol.
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// This error as it is (e.g. an OTLP partial success).
    Error(SendError),
    /// Connection refused: retried.
    Unreachable,
    /// Never answers.
    Hang,
}

impl Answer {
    /// `200 OK`.
    pub(crate) fn ok() -> Self {
        Answer::status(200)
    }

    /// Answers with `status`.
    pub(crate) fn status(status: u16) -> Self {
        Answer {
            outcome: Outcome::Status {
                status,
                retry_after: None,
            },
            delay: Duration::ZERO,
        }
    }

    /// This error, as it is.
    pub(crate) fn error(error: SendError) -> Self {
        Answer {
            outcome: Outcome::Error(error),
            delay: Duration::ZERO,
        }
    }

    /// Nothing listens: the attempt fails as a refused connection does (retried).
    pub(crate) fn unreachable() -> Self {
        Answer {
            outcome: Outcome::Unreachable,
            delay: Duration::ZERO,
        }
    }

    /// Never answers (the delivery waits until it is aborted).
    pub(crate) fn hang() -> Self {
        Answer {
            outcome: Outcome::Hang,
            delay: Duration::ZERO,
        }
    }

    /// With a `Retry-After` of `after` (for a status answer).
    pub(crate) fn retry_after(mut self, after: Duration) -> Self {
        if let Outcome::Status { retry_after, .. } = &mut self.outcome {
            *retry_after = Some(after);
        }
        self
    }

    /// Answers after `delay`.
    pub(crate) fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn status_code(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    /// What `send` returns for this answer, for `protocol`; `None` for a hang.
    fn result(&self, protocol: Protocol) -> Option<Result<(), SendError>> {
        match &self.outcome {
            Outcome::Status {
                status,
                retry_after,
            } if protocol.is_otlp() => Some(classify_otlp(*status, *retry_after, None)),
            Outcome::Status {
                status,
                retry_after,
            } => Some(classify(*status, *retry_after, None)),
            Outcome::Error(error) => Some(Err(error.clone())),
            Outcome::Unreachable => Some(Err(SendError::Retry {
                reason: "could not connect: connection refused (in-memory transport)".to_owned(),
                retry_after: None,
            })),
            Outcome::Hang => None,
        }
    }
}

/// One batch the transport was handed, with the answer it got.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// The batch as the worker encoded it (id, body, log count).
    pub batch: EncodedBatch,
    /// When it was handed over.
    pub at: Instant,
    /// The status it was answered with, for a status answer.
    pub status: Option<u16>,
    /// What `send` returned (or will return, after the answer's delay); `None` for a hang.
    pub result: Option<Result<(), SendError>>,
}

impl Sent {
    /// Whether the batch was accepted (all of it: a 2xx without a partial rejection).
    pub(crate) fn accepted(&self) -> bool {
        matches!(self.result, Some(Ok(())))
    }

    /// The body, parsed as JSON (the LogiScout format, or OTLP/JSON).
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.batch.body).unwrap_or(serde_json::Value::Null)
    }

    /// Every log entry in a LogiScout body, with its payload's correlation ID.
    pub(crate) fn logs(&self) -> Vec<(String, serde_json::Value)> {
        let body = self.json();
        let mut out = Vec::new();
        for p in body["payloads"].as_array().into_iter().flatten() {
            let id = p["correlationId"].as_str().unwrap_or_default().to_owned();
            for l in p["logs"].as_array().into_iter().flatten() {
                out.push((id.clone(), l.clone()));
            }
        }
        out
    }
}

#[derive(Default)]
struct State {
    sent: Vec<Sent>,
    script: VecDeque<Answer>,
    always: Option<Answer>,
    /// Batches being answered now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// A [`Transport`] that keeps what it is sent in memory and answers from a script.
pub(crate) struct MemoryTransport {
    protocol: Protocol,
    state: Mutex<State>,
}

impl MemoryTransport {
    /// A transport for the LogiScout format, answering `200` until told otherwise.
    pub(crate) fn new() -> Arc<Self> {
        Self::with_protocol(Protocol::LogiScout)
    }

    /// A transport whose bodies are encoded in `protocol`.
    pub(crate) fn with_protocol(protocol: Protocol) -> Arc<Self> {
        Arc::new(MemoryTransport {
            protocol,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers the next batch with `answer` (answers queue up in order).
    pub(crate) fn answer_next(&self, answer: Answer) {
        self.state().script.push_back(answer);
    }

    /// Answers batches with `answer` once the script is used up (`200` before this is called).
    pub(crate) fn answer_always(&self, answer: Answer) {
        self.state().always = Some(answer);
    }

    /// Every batch handed over so far, in order.
    pub(crate) fn sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    /// The batches accepted.
    pub(crate) fn accepted(&self) -> Vec<Sent> {
        self.sent().into_iter().filter(Sent::accepted).collect()
    }

    /// Every log entry of every accepted batch, with its correlation ID.
    pub(crate) fn accepted_logs(&self) -> Vec<(String, serde_json::Value)> {
        self.accepted().iter().flat_map(Sent::logs).collect()
    }

    /// Polls until `cond` holds for what was sent, or `timeout`; returns whether it held.
    pub(crate) fn wait_until(&self, timeout: Duration, cond: impl Fn(&[Sent]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&self.state().sent) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The most batches this transport was answering at the same time.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.state().max_in_flight
    }

    /// Records `batch` and picks its answer: how long to wait, and what to return (`None`: never).
    fn receive(&self, batch: &EncodedBatch) -> (Duration, Option<Result<(), SendError>>) {
        let mut state = self.state();
        let answer = state
            .script
            .pop_front()
            .or_else(|| state.always.clone())
            .unwrap_or_else(Answer::ok);
        let result = answer.result(self.protocol);
        state.sent.push(Sent {
            batch: batch.clone(),
            at: Instant::now(),
            status: answer.status_code(),
            result: result.clone(),
        });
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        (answer.delay, result)
    }
}

impl std::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("protocol", &self.protocol)
            .field("sent", &self.state().sent.len())
            .finish()
    }
}

/// Counts a batch as answered when its `send` ends, however it ends (a hang ends when it is aborted).
struct Answering<'a>(&'a MemoryTransport);

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

impl Transport for MemoryTransport {
    fn send<'a>(&'a self, batch: &'a EncodedBatch) -> SendFuture<'a> {
        Box::pin(async move {
            let (delay, result) = self.receive(batch);
            let _answering = Answering(self);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match result {
                Some(result) => result,
                None => std::future::pending().await,
            }
        })
    }

    fn protocol(&self) -> Protocol {
        self.protocol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: &str) -> EncodedBatch {
        EncodedBatch {
            id: id.to_owned(),
            body: bytes::Bytes::from_static(br#"{"payloads":[]}"#),
            logs: 0,
            acknowledged: Default::default(),
        }
    }

    #[tokio::test]
    async fn answers_from_the_script_then_the_default_and_records_every_batch() {
        let t = MemoryTransport::new();
        t.answer_next(Answer::status(503).retry_after(Duration::from_secs(2)));
        t.answer_next(Answer::status(413));
        t.answer_next(Answer::unreachable());
        assert!(matches!(
            t.send(&batch("a")).await,
            Err(SendError::Retry { retry_after: Some(d), .. }) if d == Duration::from_secs(2)
        ));
        assert_eq!(t.send(&batch("b")).await, Err(SendError::TooLarge));
        assert!(matches!(
            t.send(&batch("c")).await,
            Err(SendError::Retry { .. })
        ));
        assert_eq!(t.send(&batch("d")).await, Ok(()));
        t.answer_always(Answer::status(401));
        assert!(matches!(
            t.send(&batch("e")).await,
            Err(SendError::Rejected { status: 401, .. })
        ));
        let sent = t.sent();
        let ids: Vec<_> = sent.iter().map(|s| s.batch.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        assert_eq!(sent[0].status, Some(503));
        assert_eq!(sent[2].status, None);
        assert_eq!(t.accepted().len(), 1);
        assert_eq!(t.max_in_flight(), 1);
    }

    #[tokio::test]
    async fn statuses_follow_the_protocol_and_errors_pass_as_they_are() {
        let t = MemoryTransport::with_protocol(Protocol::OtlpJson);
        t.answer_next(Answer::status(500));
        t.answer_next(Answer::error(SendError::PartlyRejected {
            rejected: 1,
            message: "no".into(),
        }));
        // OTLP: a 500 is final.
        assert!(matches!(
            t.send(&batch("a")).await,
            Err(SendError::Rejected { status: 500, .. })
        ));
        assert!(matches!(
            t.send(&batch("b")).await,
            Err(SendError::PartlyRejected { rejected: 1, .. })
        ));
        assert_eq!(t.protocol(), Protocol::OtlpJson);
    }

    #[tokio::test]
    async fn delays_and_hangs_hold_the_batch_in_flight() {
        let t = MemoryTransport::new();
        t.answer_next(Answer::ok().delay(Duration::from_millis(50)));
        t.answer_next(Answer::hang());
        let (a, b) = (batch("slow"), batch("hung"));
        let started = Instant::now();
        let (slow, hung) = tokio::join!(t.send(&a), async {
            tokio::time::timeout(Duration::from_millis(100), t.send(&b)).await
        });
        assert_eq!(slow, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(hung.is_err(), "a hang never answers");
        assert_eq!(t.max_in_flight(), 2);
        assert_eq!(
            t.state().in_flight,
            0,
            "an abandoned send is no longer in flight"
        );
        assert!(t.sent()[1].result.is_none());
    }
}
