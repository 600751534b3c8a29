//! The shipping pipeline end to end (hot path → queue → worker → transport): batches and their triggers,
//! retries, splits, request payloads, flush. What needs HTTP runs against a real server on 127.0.0.1; the
//! worker's own logic runs on the in-memory transport.

use std::sync::Arc;
use std::time::{Duration, Instant};

use logiscout_testkit::{IngestServer, Received, Reply};

use super::{
    assert_balanced, assert_valid, assert_valid_sent, log, log_in, numbers, start, start_in_memory,
    start_with, TOKEN,
};
use crate::context::{Context, CorrelationId, RequestInfo};
use crate::ship::transport::memory::{Answer, MemoryTransport};

#[test]
fn two_hundred_logs_make_exactly_one_post_with_the_wire_headers() {
    let server = IngestServer::start();
    let shipper = start(&server, |_| {});
    for n in 0..200 {
        log(&shipper, None, n);
    }
    assert!(server.wait_until(Duration::from_secs(5), |r| !r.is_empty()));
    std::thread::sleep(Duration::from_millis(300));
    let got = server.received();
    assert_eq!(got.len(), 1, "one POST for 200 logs");
    assert_valid(&got);
    let r = &got[0];
    assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(crate::SDK));
    assert!(r.header("content-encoding").is_none());
    let batch_id = r.header("x-logiscout-batch-id").unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(batch_id).unwrap().get_version_num(),
        4
    );
    assert_eq!(r.body["batch_metadata"]["batch_id"], batch_id);
    assert_eq!(r.body["batch_metadata"]["total_logs"], 200);
    assert_eq!(r.body["batch_metadata"]["service_name"], "svc");
    assert_eq!(numbers(&r.logs()), (0..200).collect::<Vec<_>>());
    let first = &r.logs()[0].1;
    assert_eq!(first["metadata"]["ratio"], 0.5);
    assert_eq!(first["metadata"]["who"], "tester");
    assert_eq!(first["message"], "message 0");
    let report = shipper.flush(Duration::from_secs(5));
    assert!(report.complete);
    assert_eq!(report.stats.logs_sent, 200);
    assert_eq!(report.stats.batches_sent, 1);
    assert_balanced(&shipper);
}

#[test]
fn a_lone_record_goes_out_after_max_batch_wait() {
    let server = IngestServer::start();
    let shipper = start(&server, |s| s.max_batch_wait = Duration::from_millis(400));
    // The first batch after start goes out promptly (`FIRST_BATCH_WAIT`); this is about the ones after.
    log(&shipper, None, 0);
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    let t0 = Instant::now();
    log(&shipper, None, 1);
    assert!(server.wait_until(Duration::from_secs(5), |r| r.len() == 2));
    let waited = server.received()[1].at - t0;
    assert!(waited >= Duration::from_millis(380), "{waited:?}");
    assert!(waited < Duration::from_millis(1400), "{waited:?}");
    // No empty POSTs afterwards.
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(server.received().len(), 2);
}

#[test]
fn the_first_batch_goes_out_promptly_and_later_ones_on_the_usual_triggers() {
    let server = IngestServer::start();
    // The defaults: 200 logs or 30 s.
    let shipper = start(&server, |_| {});
    let t0 = Instant::now();
    log(&shipper, None, 0);
    assert!(server.wait_until(Duration::from_secs(3), |r| !r.is_empty()));
    let first = server.received()[0].at - t0;
    assert!(
        first >= crate::ship::worker_loop::FIRST_BATCH_WAIT - Duration::from_millis(20),
        "{first:?}"
    );
    assert!(first < Duration::from_secs(2), "{first:?}");
    // Steady state: 5 logs spread over 2 s make no POST before `max_batch_wait`.
    for n in 1..=5 {
        std::thread::sleep(Duration::from_millis(400));
        log(&shipper, None, n);
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        server.received().len(),
        1,
        "a POST came before 200 logs or max_batch_wait"
    );
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(numbers(&got[0].logs()), [0]);
    assert_eq!(numbers(&got[1].logs()), [1, 2, 3, 4, 5]);
}

#[test]
fn a_thousand_log_request_splits_into_five_restitchable_batches() {
    let server = IngestServer::start();
    let shipper = start(&server, |s| s.max_in_flight = 1);
    let id = CorrelationId::new("req-big");
    let ctx = Context::new(id.clone()).with_request(RequestInfo::new("POST", "/import?secret=1"));
    shipper.request_started(&ctx);
    for n in 0..1000 {
        log_in(&shipper, &ctx, n);
    }
    shipper.request_finished(&ctx, Some(201));
    assert!(shipper.flush(Duration::from_secs(10)).complete);
    let got = server.accepted();
    assert_valid(&got);
    assert_eq!(got.len(), 5);
    for r in &got {
        let p = &r.body["payloads"][0];
        assert_eq!(p["correlationId"], "req-big");
        assert_eq!(p["request"]["method"], "POST");
        assert_eq!(p["request"]["path"], "/import");
    }
    assert_eq!(got[4].body["payloads"][0]["request"]["statusCode"], 201);
    let all: Vec<_> = got.iter().flat_map(Received::logs).collect();
    assert!(all.iter().all(|(cid, _)| cid == "req-big"));
    assert_eq!(numbers(&all), (0..1000).collect::<Vec<_>>());
}

#[test]
fn a_503_is_retried_with_the_same_batch_id() {
    let transport = MemoryTransport::new();
    transport.answer_next(Answer::status(503));
    let shipper = start_in_memory(&transport, |s| s.max_batch_logs = 10);
    for n in 0..10 {
        log(&shipper, None, n);
    }
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    let got = transport.sent();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].status, Some(503));
    // The HTTP transport sends the batch's id as `X-LogiScout-Batch-Id` (see the 200-log test).
    assert_eq!(got[0].batch.id, got[1].batch.id);
    assert_eq!(
        got[0].batch.body, got[1].batch.body,
        "a retry resends the same body"
    );
    let s = shipper.stats();
    assert_eq!((s.logs_sent, s.logs_dropped, s.batches_retried), (10, 0, 1));
}

#[test]
fn retry_after_is_honoured_in_both_forms_and_capped() {
    let server = IngestServer::start();
    let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(4));
    server.reply_next(Reply::status(429).retry_after("1"));
    server.reply_next(Reply::status(503).retry_after(later));
    server.reply_next(Reply::status(429).retry_after("86400"));
    let shipper = start(&server, |s| {
        s.max_batch_logs = 1;
        s.max_in_flight = 1;
        s.retry.max_retry_after = Duration::from_millis(1500);
    });
    log(&shipper, None, 0);
    assert!(shipper.flush(Duration::from_secs(15)).complete);
    let got = server.received();
    assert_eq!(got.len(), 4);
    let gap = |i: usize| got[i + 1].at - got[i].at;
    assert!(
        gap(0) >= Duration::from_millis(990),
        "seconds form: {:?}",
        gap(0)
    );
    // The HTTP date was still 2 s or more ahead, and the cap is 1.5 s.
    assert!(
        gap(1) >= Duration::from_millis(1400),
        "date form: {:?}",
        gap(1)
    );
    assert!(
        gap(2) >= Duration::from_millis(1400),
        "capped: {:?}",
        gap(2)
    );
    assert!(gap(2) < Duration::from_millis(2500), "capped: {:?}", gap(2));
}

#[test]
fn a_401_is_not_retried_and_is_counted() {
    let transport = MemoryTransport::new();
    transport.answer_always(Answer::status(401));
    let shipper = start_in_memory(&transport, |s| s.max_batch_logs = 5);
    for n in 0..5 {
        log(&shipper, None, n);
    }
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(transport.sent().len(), 1);
    let s = shipper.stats();
    assert_eq!((s.logs_sent, s.logs_dropped, s.batches_failed), (0, 5, 1));
    assert_balanced(&shipper);
}

#[test]
fn a_413_splits_the_batch_and_both_halves_arrive() {
    let transport = MemoryTransport::new();
    transport.answer_next(Answer::status(413));
    let shipper = start_in_memory(&transport, |s| s.max_batch_logs = 10);
    for n in 0..10 {
        log(&shipper, None, n);
    }
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    let accepted = transport.accepted();
    assert_eq!(accepted.len(), 2);
    assert_valid_sent(&accepted);
    let ids: Vec<_> = accepted.iter().map(|r| r.batch.id.clone()).collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        numbers(&transport.accepted_logs()),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(shipper.stats().logs_sent, 10);
}

#[test]
fn logs_survive_an_outage_and_arrive_when_the_server_returns() {
    let server = IngestServer::start();
    server.stop();
    let shipper = start(&server, |s| {
        s.max_batch_logs = 20;
        s.max_batch_wait = Duration::from_millis(100);
    });
    for n in 0..100 {
        log(&shipper, None, n);
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(shipper.stats().logs_sent, 0);
    server.restart();
    assert!(shipper.flush(Duration::from_secs(10)).complete);
    let mut got = numbers(&server.accepted_logs());
    got.sort_unstable();
    got.dedup();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    let s = shipper.stats();
    assert_eq!((s.logs_sent, s.logs_dropped), (100, 0));
    assert!(s.batches_retried > 0);
}

#[test]
fn a_hanging_server_never_slows_log_calls_and_shutdown_keeps_its_deadline() {
    let server = IngestServer::start();
    server.reply_always(Reply::hang());
    let shipper = start_with(&server, Duration::from_secs(30), false, |s| {
        s.max_batch_logs = 50;
        s.max_queue_logs = 1000;
    });
    let mut slowest = Duration::ZERO;
    for n in 0..5000 {
        let t = Instant::now();
        log(&shipper, None, n);
        slowest = slowest.max(t.elapsed());
    }
    // A blocked call would take as long as the server hangs (30 s); this bound only catches blocking.
    assert!(slowest < Duration::from_millis(250), "{slowest:?}");
    let t = Instant::now();
    let report = shipper.shutdown(Duration::from_millis(500));
    let took = t.elapsed();
    assert!(took < Duration::from_millis(700), "{took:?}");
    assert!(!report.complete);
    assert_eq!(report.stats.logs_sent, 0);
    assert_eq!(report.stats.logs_dropped, 5000);
    assert_eq!(report.undelivered(), 0, "after shutdown nothing is pending");
    // After shutdown, records are counted as dropped.
    log(&shipper, None, 1);
    let s = shipper.stats();
    assert_eq!((s.logs_enqueued, s.logs_dropped), (5001, 5001));
}

#[test]
fn a_full_queue_drops_and_reports_the_drops_in_the_next_batch() {
    let server = IngestServer::start();
    server.stop();
    let shipper = start(&server, |s| {
        s.max_queue_logs = 100;
        s.max_buffer_bytes = 8 << 10;
        s.max_batch_logs = 1000;
        s.max_batch_wait = Duration::from_millis(50);
    });
    for n in 0..500 {
        log(&shipper, None, n);
    }
    let dropped = shipper.stats().logs_dropped;
    assert!(dropped > 0);
    server.restart();
    assert!(shipper.flush(Duration::from_secs(10)).complete);
    let reported: u64 = server
        .accepted()
        .iter()
        .map(|r| r.body["batch_metadata"]["dropped_logs"].as_u64().unwrap())
        .sum();
    let s = shipper.stats();
    assert_eq!(reported, s.logs_dropped);
    assert_eq!(s.logs_sent + s.logs_dropped, 500);
    assert_balanced(&shipper);
}

#[test]
fn gzip_bodies_decode_to_the_same_valid_batch() {
    let server = IngestServer::start();
    let shipper = start_with(&server, Duration::from_secs(5), true, |s| {
        s.max_batch_logs = 100
    });
    for n in 0..100 {
        log(&shipper, None, n);
    }
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    let got = server.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("content-encoding"), Some("gzip"));
    assert_valid(&got);
    assert_eq!(numbers(&got[0].logs()).len(), 100);
    let plain_len = serde_json::to_vec(&got[0].body).unwrap().len();
    assert!(
        got[0].wire_len * 3 < plain_len,
        "{} vs {plain_len}",
        got[0].wire_len
    );
}

#[test]
fn request_payloads_carry_method_path_status_and_duration() {
    let server = IngestServer::start();
    let shipper = start(&server, |_| {});
    let id = CorrelationId::new("req-7");
    let ctx = Context::new(id.clone()).with_request(RequestInfo::new("GET", "/users/7?token=x"));
    shipper.request_started(&ctx);
    log_in(&shipper, &ctx, 1);
    std::thread::sleep(Duration::from_millis(20));
    shipper.request_finished(&ctx, Some(404));
    log(&shipper, None, 2);
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    let got = server.accepted();
    assert_valid(&got);
    let payloads = got[0].body["payloads"].as_array().unwrap().clone();
    let req = payloads
        .iter()
        .find(|p| p["correlationId"] == "req-7")
        .unwrap();
    assert_eq!(req["request"]["path"], "/users/7");
    assert_eq!(req["request"]["statusCode"], 404);
    assert!(req["durationMS"].as_f64().unwrap() >= 20.0);
    let bg = payloads
        .iter()
        .find(|p| p["correlationId"] != "req-7")
        .unwrap();
    assert!(bg.get("request").is_none());
    assert_eq!(bg["logs"][0]["metadata"]["n"], 2);
}

#[test]
fn a_request_is_announced_once_by_its_first_log_and_a_quiet_one_costs_no_event() {
    let transport = MemoryTransport::new();
    let shipper = start_in_memory(&transport, |_| {});
    // Quiet: start and end, nothing logged: the worker hears nothing, nothing is shipped.
    let quiet =
        Context::new(CorrelationId::new("req-quiet")).with_request(RequestInfo::new("GET", "/q"));
    shipper.request_started(&quiet);
    shipper.request_finished(&quiet, Some(200));
    assert_eq!(shipper.ends_enqueued(), 0);
    // A log after a quiet request ended (a task that outlived it) cannot announce it any more.
    assert!(!quiet.claim_announcement());
    // Loud: announced once, however many logs; the end follows.
    let id = CorrelationId::new("req-loud");
    let loud = Context::new(id.clone()).with_request(RequestInfo::new("GET", "/l"));
    shipper.request_started(&loud);
    for n in 0..3 {
        log_in(&shipper, &loud, n);
    }
    shipper.request_finished(&loud, Some(201));
    shipper.request_finished(&loud, Some(500));
    assert_eq!(shipper.ends_enqueued(), 1, "one end, once");
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    let got = transport.accepted();
    assert_valid_sent(&got);
    let payloads: Vec<_> = got
        .iter()
        .flat_map(|r| r.json()["payloads"].as_array().unwrap().clone())
        .collect();
    assert_eq!(payloads.len(), 1, "{payloads:?}");
    assert_eq!(payloads[0]["correlationId"], "req-loud");
    assert_eq!(payloads[0]["request"]["statusCode"], 201);
    assert_eq!(payloads[0]["logs"].as_array().unwrap().len(), 3);
}

#[test]
fn a_start_dropped_with_its_first_log_rides_with_the_next_log_that_gets_in() {
    // The start travels with the request's first log; when that log is dropped (the queue is full), the
    // request stays unannounced and its next log carries the start, so no payload ships without its
    // request info, and a request whose every log was dropped sends no end.
    let transport = MemoryTransport::new();
    let shipper = start_in_memory(&transport, |s| s.max_queue_logs = 1);
    let mut next = 0;
    let mut second_only = 0;
    for _round in 0..200 {
        let first = next;
        for _ in 0..100 {
            let ctx = Context::new(CorrelationId::new(format!("req-{next}")))
                .with_request(RequestInfo::new("PUT", "/p"));
            next += 1;
            shipper.request_started(&ctx);
            log_in(&shipper, &ctx, 0);
            log_in(&shipper, &ctx, 1);
            shipper.request_finished(&ctx, Some(204));
        }
        assert!(shipper.flush(Duration::from_secs(10)).complete);
        let mut shipped = std::collections::BTreeMap::<String, Vec<u64>>::new();
        for sent in transport.accepted() {
            for p in sent.json()["payloads"].as_array().unwrap() {
                let id = p["correlationId"].as_str().unwrap().to_owned();
                let n: u64 = id.trim_start_matches("req-").parse().unwrap();
                if n < first {
                    continue;
                }
                assert_eq!(p["request"]["method"], "PUT", "{p}");
                assert_eq!(p["request"]["path"], "/p", "{p}");
                let logs = shipped.entry(id).or_default();
                logs.extend(
                    p["logs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| l["metadata"]["n"].as_u64().unwrap()),
                );
            }
        }
        second_only += shipped.values().filter(|logs| logs[..] == [1]).count();
        if second_only > 0 {
            break;
        }
    }
    assert!(
        second_only > 0,
        "no request had its first log dropped and its second kept: the case was not exercised"
    );
    assert_balanced(&shipper);
}

#[test]
fn an_end_waits_for_a_start_being_handed_over_on_another_thread() {
    // The interleaving that would put an end before its start in the queue: one thread has claimed the
    // announcement and not yet handed the start over when another ends the request. The end must wait.
    let transport = MemoryTransport::new();
    let shipper = Arc::new(start_in_memory(&transport, |_| {}));
    let ctx =
        Context::new(CorrelationId::new("req-race")).with_request(RequestInfo::new("GET", "/r"));
    assert!(ctx.claim_announcement(), "the first claim wins");
    assert!(!ctx.claim_announcement(), "only once");
    let (s2, c2) = (shipper.clone(), ctx.clone());
    let ender = std::thread::spawn(move || s2.request_finished(&c2, Some(200)));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!ender.is_finished(), "the end went ahead of the start");
    assert_eq!(shipper.ends_enqueued(), 0);
    ctx.announced();
    ender.join().unwrap();
    assert_eq!(
        shipper.ends_enqueued(),
        1,
        "the end follows once the start is in"
    );
}

#[test]
fn flush_waits_for_an_earlier_record_even_when_later_ones_are_delivered_first() {
    // Record A's batch is slow to be answered; records logged after `flush` started go out in other
    // batches and are answered at once. Counting settled records, a flush would see "as many settled as
    // were enqueued when it started" and return while A is still in flight. The fence must wait for A.
    let transport = MemoryTransport::new();
    transport.answer_next(Answer::ok().delay(Duration::from_millis(600)));
    let shipper = Arc::new(start_in_memory(&transport, |s| {
        s.max_batch_logs = 1;
        s.max_in_flight = 4;
    }));
    log(&shipper, None, 1);
    std::thread::sleep(Duration::from_millis(100));
    let s2 = shipper.clone();
    let flusher = std::thread::spawn(move || {
        let t = Instant::now();
        let report = s2.flush(Duration::from_secs(10));
        (report, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(30));
    for n in 2..10 {
        log(&shipper, None, n);
    }
    let (report, waited) = flusher.join().unwrap();
    assert!(report.complete, "{report:?}");
    assert!(
        waited >= Duration::from_millis(350),
        "flush returned after {waited:?}, before the slow batch with the earlier record was answered"
    );
}
