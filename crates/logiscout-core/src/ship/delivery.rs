//! Delivery of one batch, as a task on the worker's runtime: encode it, send it through the
//! [`Transport`] with retries and backoff (cut short when the endpoint recovers, or a flush or shutdown
//! starts), split it on `413`, and settle every log in it as sent or dropped. Above the queue; below the
//! worker loop, which spawns it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::queue::Shared;
use super::settings::WorkerSettings;
use crate::context::CorrelationId;
use crate::encode::record::Timestamp;
use crate::ship::batch::{BatchContent, BatchMeta};
use crate::ship::transport::{
    EncodedBatch, RetryPolicy, SendError, Transport, CERTIFICATE_REFUSED,
};

/// Logs of a batch not yet settled; counted as dropped if the delivery is abandoned (aborted at shutdown).
pub(super) struct Unsettled {
    shared: Arc<Shared>,
    logs: u64,
    bytes: usize,
    /// For the whole batch a user's logs made (not a piece of it): when dropped, it counts the batch once,
    /// in `batches_failed` if any of its logs was dropped (an abandoned delivery's included), else in
    /// `batches_sent`.
    tally: Option<Tally>,
}

/// See [`Unsettled::tally`].
struct Tally {
    dropped_any: bool,
}

impl Unsettled {
    /// Every log of `content`, not yet settled; the batch is counted when this is dropped.
    pub(super) fn new(shared: Arc<Shared>, content: &BatchContent) -> Self {
        Unsettled {
            shared,
            logs: content.log_count() as u64,
            bytes: content.accounted_bytes(),
            tally: Some(Tally { dropped_any: false }),
        }
    }

    /// A piece of a batch, settled at once by the caller (it counts no batch).
    fn piece(shared: Arc<Shared>, logs: u64, bytes: usize) -> Self {
        Unsettled {
            shared,
            logs,
            bytes,
            tally: None,
        }
    }

    fn dropped_some(&mut self) {
        if let Some(tally) = &mut self.tally {
            tally.dropped_any = true;
        }
    }

    fn settle(&mut self, sent: bool) {
        if sent {
            self.shared
                .counters
                .sent
                .fetch_add(self.logs, Ordering::SeqCst);
        } else {
            self.shared.counters.drop_logs(self.logs);
        }
        self.shared.release(self.bytes);
        self.logs = 0;
        self.bytes = 0;
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        if self.logs > 0 {
            self.dropped_some();
        }
        if self.logs > 0 || self.bytes > 0 {
            self.settle(false);
        }
        if let Some(tally) = self.tally.take() {
            let counter = if tally.dropped_any {
                &self.shared.counters.batches_failed
            } else {
                &self.shared.counters.batches_sent
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One piece of a batch being sent. If the delivery is abandoned after the endpoint acknowledged it
/// (OTLP reads the `2xx` body for `partial_success`, and the shutdown deadline may pass meanwhile), its
/// logs settle as sent, not dropped: the endpoint took them.
struct Sending<'a> {
    delivery: &'a Delivery,
    batch: &'a EncodedBatch,
    content: &'a BatchContent,
    unsettled: &'a mut Unsettled,
    answered: bool,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if !self.answered && self.batch.acknowledged.is_set() {
            self.delivery
                .settle_part(self.unsettled, self.content, true);
        }
    }
}

/// What every delivery of one worker shares: the transport, the retry policy, the batch metadata.
pub(super) struct Delivery {
    shared: Arc<Shared>,
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
    service_name: String,
    environment: &'static str,
    /// The correlation ID of records outside any scope (the batcher's fallback), per process: OTLP
    /// sends it once, as `service.instance.id` (the LogiScout format names it in each payload).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    process_id: CorrelationId,
    /// OTLP bodies above this are split before sending (the batcher's caps count the LogiScout format;
    /// OTLP/JSON, with its per-attribute objects, may come out larger).
    max_batch_bytes: usize,
}

/// Splits `content` in two onto `queue` (its first half on top), or gives it back when it is one log.
fn split_onto(content: BatchContent, queue: &mut Vec<BatchContent>) -> Result<(), BatchContent> {
    let (a, b) = content.split()?;
    queue.push(b);
    queue.push(a);
    Ok(())
}

impl Delivery {
    pub(super) fn new(
        shared: Arc<Shared>,
        transport: Arc<dyn Transport>,
        settings: &WorkerSettings,
        process_id: CorrelationId,
    ) -> Self {
        Delivery {
            shared,
            transport,
            retry: settings.retry,
            service_name: settings.service_name.clone(),
            environment: settings.environment,
            process_id,
            max_batch_bytes: settings.max_batch_bytes,
        }
    }

    fn encode(&self, content: &BatchContent) -> EncodedBatch {
        let mut id_buf = uuid::Uuid::encode_buffer();
        let id = uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut id_buf)
            .to_owned();
        let dropped = self
            .shared
            .counters
            .unreported_drops
            .swap(0, Ordering::Relaxed);
        let body = match self.transport.protocol() {
            // OTLP has no field for the drop count: it stays in `stats()`.
            #[cfg(feature = "otlp")]
            protocol if protocol.is_otlp() => crate::encode::otlp::encode(
                content,
                &crate::encode::otlp::Resource {
                    service_name: &self.service_name,
                    environment: self.environment,
                    instance_id: self.process_id.as_str(),
                },
                protocol == crate::Protocol::OtlpJson,
            ),
            _ => content.encode(&BatchMeta {
                batch_id: &id,
                service_name: &self.service_name,
                environment: self.environment,
                sdk: crate::SDK,
                dropped_logs: dropped,
                flushed_at: Timestamp::now(),
            }),
        };
        EncodedBatch {
            id,
            body: body.into(),
            logs: content.log_count(),
            acknowledged: Default::default(),
        }
    }

    /// Delivers one batch (splitting it on 413, down to single records), settling every log as sent or
    /// dropped. The batch counts once (when `unsettled` is dropped: at the end, or when the delivery is
    /// aborted at the shutdown deadline) in `batches_sent` (every log accepted) or `batches_failed` (some
    /// dropped), however many pieces it was split into: at most 2n - 1 POSTs for n ≥ 1 logs (a piece is
    /// split only to separate logs, see [`BatchContent::split`]).
    pub(super) async fn deliver(self: Arc<Self>, content: BatchContent, mut unsettled: Unsettled) {
        let mut rng = fastrand::Rng::new();
        let mut queue = vec![content];
        while let Some(content) = queue.pop() {
            let batch = self.encode(&content);
            let Some(content) = self.split_if_too_big(&batch, content, &mut queue) else {
                continue;
            };
            let mut sending = Sending {
                delivery: &self,
                batch: &batch,
                content: &content,
                unsettled: &mut unsettled,
                answered: false,
            };
            let outcome = self.send_with_retries(&batch, &mut rng).await;
            sending.answered = true;
            drop(sending);
            if self.settle_outcome(&batch, outcome, content, &mut unsettled, &mut queue) {
                unsettled.dropped_some();
            }
        }
    }

    /// An OTLP body larger than `max_batch_bytes` is split before it is sent: its halves go onto `queue`
    /// and nothing is left to send now. A single record larger than the cap goes as it is (a 413 drops
    /// it).
    fn split_if_too_big(
        &self,
        batch: &EncodedBatch,
        content: BatchContent,
        queue: &mut Vec<BatchContent>,
    ) -> Option<BatchContent> {
        let oversized = batch.body.len() > self.max_batch_bytes;
        if oversized && self.transport.protocol().is_otlp() {
            split_onto(content, queue).err()
        } else {
            Some(content)
        }
    }

    /// Settles `content`, sent as `batch`, by how its sending ended, says what was dropped, and returns
    /// whether anything was. A 413 on more than one log settles nothing yet: its halves go onto `queue`.
    fn settle_outcome(
        &self,
        batch: &EncodedBatch,
        outcome: Result<(), SendError>,
        content: BatchContent,
        unsettled: &mut Unsettled,
        queue: &mut Vec<BatchContent>,
    ) -> bool {
        let logs = batch.logs as u64;
        let reporter = &self.shared.reporter;
        let dropped = match outcome {
            Ok(()) => {
                self.settle_part(unsettled, &content, true);
                false
            }
            Err(SendError::PartlyRejected { rejected, message }) => {
                let rejected = rejected.min(logs);
                self.settle_partly(unsettled, &content, rejected);
                reporter.once(
                    "partial-success",
                    &format!("logiscout: the OTLP endpoint rejected {rejected} of {logs} logs of a batch ({message}); they were dropped (counted in stats(); this is reported once)"),
                );
                rejected > 0
            }
            Err(SendError::TooLarge) => {
                let Err(content) = split_onto(content, queue) else {
                    return false;
                };
                self.settle_part(unsettled, &content, false);
                self.shared.pools.recycle(content);
                reporter.limited(
                    "413",
                    "logiscout: the endpoint refused a single log as too large (413); it was dropped",
                );
                return true;
            }
            Err(SendError::Rejected { status, reason }) => {
                self.settle_part(unsettled, &content, false);
                let text = format!(
                    "logiscout: the ingest endpoint refused a batch ({reason}); {logs} logs dropped"
                );
                if status == 401 || status == 403 {
                    // A refused token is reported once for the life of the process.
                    reporter.once("auth", &text);
                } else {
                    reporter.limited("rejected", &text);
                }
                true
            }
            Err(SendError::Retry { reason, .. }) => {
                self.settle_part(unsettled, &content, false);
                reporter.limited(
                    "gave-up",
                    &format!("logiscout: gave up delivering a batch after retrying ({reason}); {logs} logs dropped"),
                );
                true
            }
        };
        self.shared.pools.recycle(content);
        dropped
    }

    /// Sends one encoded batch, retrying transient failures with backoff until `give_up_after`.
    async fn send_with_retries(
        &self,
        batch: &EncodedBatch,
        rng: &mut fastrand::Rng,
    ) -> Result<(), SendError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let successes = self.shared.successes.load(Ordering::Acquire);
            match self.transport.send(batch).await {
                Ok(()) => {
                    self.endpoint_answered();
                    return Ok(());
                }
                Err(SendError::Retry {
                    reason,
                    retry_after,
                }) => {
                    let delay = self.retry.delay(attempt, retry_after, rng);
                    if started.elapsed() + delay > self.retry.give_up_after {
                        return Err(SendError::Retry {
                            reason,
                            retry_after,
                        });
                    }
                    self.shared
                        .counters
                        .batches_retried
                        .fetch_add(1, Ordering::Relaxed);
                    self.report_retry(&reason);
                    self.back_off(delay, retry_after.is_some(), successes).await;
                    attempt = attempt.saturating_add(1);
                }
                Err(partly @ SendError::PartlyRejected { .. }) => {
                    // The endpoint answered 2xx: it is up.
                    self.endpoint_answered();
                    return Err(partly);
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// The endpoint answered 2xx: counted, and batches sleeping in backoff try again now.
    fn endpoint_answered(&self) {
        self.shared.successes.fetch_add(1, Ordering::AcqRel);
        self.shared.retry_now.notify_waiters();
    }

    /// Says that an attempt failed and will be retried: a refused certificate once, in plain words,
    /// anything else at most once a minute.
    fn report_retry(&self, reason: &str) {
        if reason.starts_with(CERTIFICATE_REFUSED) {
            // A configuration problem more than a passing one: said once, in plain words.
            self.shared.reporter.once(
                "certificate",
                &format!("logiscout: {reason}; batches are kept and retried with backoff in case it is fixed (this is reported once)"),
            );
        } else {
            self.shared.reporter.limited(
                "retry",
                &format!("logiscout: ingest failed ({reason}); retrying with backoff"),
            );
        }
    }

    /// Sleeps `delay` before a retry, or less: until another delivery succeeds (the endpoint is back;
    /// not when the server itself asked for the wait with `Retry-After`), or a flush or shutdown starts.
    /// `successes` is the success count when the failed attempt started.
    async fn back_off(&self, delay: Duration, server_asked: bool, successes: u64) {
        let retry_now = self.shared.retry_now.notified();
        tokio::pin!(retry_now);
        retry_now.as_mut().enable();
        if !server_asked && self.shared.successes.load(Ordering::Acquire) != successes {
            // A delivery succeeded while this attempt was failing.
            return;
        }
        let recovered = async {
            loop {
                retry_now.as_mut().await;
                if !server_asked || self.shared.closed.load(Ordering::Relaxed) {
                    return;
                }
                // A success (or a flush) does not cut a wait the server asked for; shutdown does.
                retry_now.set(self.shared.retry_now.notified());
                retry_now.as_mut().enable();
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = recovered => {}
        }
    }

    /// Settles `content` as accepted but for `rejected` of its logs (OTLP `partial_success`), which are
    /// counted as dropped.
    fn settle_partly(&self, unsettled: &mut Unsettled, content: &BatchContent, rejected: u64) {
        let logs = (content.log_count() as u64).min(unsettled.logs);
        let bytes = content.accounted_bytes().min(unsettled.bytes);
        let rejected = rejected.min(logs);
        unsettled.logs -= logs;
        unsettled.bytes -= bytes;
        Unsettled::piece(self.shared.clone(), rejected, 0).settle(false);
        Unsettled::piece(self.shared.clone(), logs - rejected, bytes).settle(true);
    }

    fn settle_part(&self, unsettled: &mut Unsettled, content: &BatchContent, sent: bool) {
        let logs = (content.log_count() as u64).min(unsettled.logs);
        let bytes = content.accounted_bytes().min(unsettled.bytes);
        let mut part = Unsettled::piece(self.shared.clone(), logs, bytes);
        unsettled.logs -= logs;
        unsettled.bytes -= bytes;
        part.settle(sent);
    }
}
