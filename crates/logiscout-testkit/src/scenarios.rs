//! The middleware scenario table, shared by the tower and actix tests so both frameworks are held to the
//! same behaviour (one implementation, not copies).
//!
//! A framework's test builds an app with these routes, behind its correlation middleware, serves it on
//! 127.0.0.1, and runs the scenarios against it with a real HTTP client:
//!
//! | route | what the handler does |
//! |---|---|
//! | `GET /hello?tag=T` | logs `hello` with `tag = T`; 200 `hello` |
//! | `GET /id` | answers the correlation ID from the framework's extractor |
//! | `GET /fail?tag=T` | logs `failing` with `tag`; answers 500 |
//! | `GET /work?tag=T` | logs `step 1`, awaits, logs `step 2`, logs `spawned` from a task spawned with `in_current_scope`, logs `blocking` from blocking work under `sync_scope`; 200 |
//! | `GET /stream?tag=T` | a streaming body of 3 chunks; producing each logs `chunk` with `tag`; 200 |
//! | `GET /slow?ms=N&tag=T` | sleeps N ms, logs `slow`; 200 |
//! | `GET /quiet` | logs nothing; 204 |
//!
//! The app's process must have logiscout initialised in `Env::Prod` against an [`IngestServer`], and the
//! `flush` callback must call `logiscout::flush`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::IngestServer;

/// What the scenarios need.
pub struct Harness<'a> {
    /// The app's base URL, `http://127.0.0.1:PORT`.
    pub app: String,
    /// The ingest server the app's logger ships to.
    pub ingest: &'a IngestServer,
    /// Waits until everything logged so far is delivered (`logiscout::flush`).
    pub flush: &'a (dyn Fn() + Sync),
}

const HEADER: &str = "x-correlation-id";

impl std::fmt::Debug for Harness<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("app", &self.app)
            .field("ingest", &self.ingest)
            .finish_non_exhaustive()
    }
}

impl Harness<'_> {
    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client")
    }

    async fn get(&self, path: &str, id: Option<&str>) -> (u16, Option<String>, String) {
        let headers: Vec<(&str, &str)> = id.map(|id| (HEADER, id)).into_iter().collect();
        self.get_with(path, &headers).await
    }

    async fn get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let mut req = Self::client().get(format!("{}{path}", self.app));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let echoed = resp
            .headers()
            .get(HEADER)
            .map(|v| v.to_str().expect("ascii id").to_owned());
        let body = resp.text().await.expect("body");
        (status, echoed, body)
    }

    fn flush(&self) {
        tokio::task::block_in_place(self.flush);
    }

    /// Shipped logs with metadata `tag == tag`, as (payload correlation ID, message).
    fn tagged(&self, tag: &str) -> Vec<(String, String)> {
        self.ingest
            .accepted_logs()
            .into_iter()
            .filter(|(_, l)| l["metadata"]["tag"] == tag)
            .map(|(id, l)| (id, l["message"].as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    /// Every payload (across accepted batches) with this correlation ID.
    fn payloads(&self, id: &str) -> Vec<serde_json::Value> {
        self.ingest
            .accepted()
            .iter()
            .flat_map(|r| r.body["payloads"].as_array().cloned().unwrap_or_default())
            .filter(|p| p["correlationId"] == id)
            .collect()
    }

    fn assert_schema(&self) {
        for r in self.ingest.received() {
            assert!(r.schema_error.is_none(), "schema: {:?}", r.schema_error);
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
}

/// A valid incoming ID is kept: echoed on the response, given to the extractor, carried by the logs.
pub async fn echo_valid_incoming(h: &Harness<'_>) {
    let (status, echoed, _) = h.get("/hello?tag=echo-1", Some("client-id-0001")).await;
    assert_eq!(status, 200);
    assert_eq!(echoed.as_deref(), Some("client-id-0001"));
    let (_, echoed, body) = h.get("/id", Some("client-id-0002")).await;
    assert_eq!(echoed.as_deref(), Some("client-id-0002"));
    assert_eq!(body, "client-id-0002");
    h.flush();
    assert_eq!(
        h.tagged("echo-1"),
        vec![("client-id-0001".to_owned(), "hello".to_owned())]
    );
    h.assert_schema();
}

/// Requests without an ID get new, valid, unique ones.
pub async fn generated_ids_are_unique(h: &Harness<'_>) {
    let mut seen = HashSet::new();
    for _ in 0..50 {
        let (_, echoed, body) = h.get("/id", None).await;
        let id = echoed.expect("echoed id");
        assert!(valid_id(&id), "{id}");
        assert_eq!(body, id, "the extractor sees the same ID");
        assert!(seen.insert(id), "duplicate generated ID");
    }
}

/// Sends raw bytes as the correlation header (what a well-behaved client library would refuse to send).
async fn raw_get(addr: &str, path: &str, header_value: &[u8]) -> (u16, Option<String>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{HEADER}: ")
        .into_bytes();
    req.extend_from_slice(header_value);
    req.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&req).await.expect("write");
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut resp)).await;
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let echoed = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(HEADER).then(|| v.trim().to_owned())
    });
    (status, echoed)
}

/// Invalid, oversized and non-ASCII incoming values are replaced with new IDs and never appear in
/// headers or shipped logs.
pub async fn invalid_incoming_is_replaced(h: &Harness<'_>) {
    let addr = h.app.trim_start_matches("http://").to_owned();
    let long = "a".repeat(200);
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("bad-space", b"has space inside".to_vec()),
        ("bad-long", long.clone().into_bytes()),
        ("bad-quote", b"x\"<script>alert(1)</script>".to_vec()),
        ("bad-utf8", "caf\u{e9}-\u{1F600}".as_bytes().to_vec()),
        ("bad-latin1", vec![b'a', 0xE9, b'b']),
        ("bad-json", br#"a","level":"critical"#.to_vec()),
    ];
    let mut ids = HashMap::new();
    for (tag, value) in &bad {
        let (status, echoed) = raw_get(&addr, &format!("/hello?tag={tag}"), value).await;
        assert_eq!(status, 200, "{tag}");
        let id = echoed.unwrap_or_else(|| panic!("{tag}: no echoed id"));
        assert!(valid_id(&id), "{tag}: {id}");
        assert_ne!(id.as_bytes(), &value[..], "{tag}");
        ids.insert(*tag, id);
    }
    h.flush();
    for (tag, value) in &bad {
        let logs = h.tagged(tag);
        assert_eq!(logs.len(), 1, "{tag}");
        assert_eq!(
            &logs[0].0, &ids[tag],
            "{tag}: logs carry the replacement ID"
        );
        let raw = String::from_utf8_lossy(value).into_owned();
        for r in h.ingest.received() {
            let body = r.body.to_string();
            assert!(!body.contains(&raw), "{tag}: raw value shipped");
        }
    }
}

/// Error responses echo the ID too, and their payload records status 500.
pub async fn errors_echo_and_record_500(h: &Harness<'_>) {
    let (status, echoed, _) = h.get("/fail?tag=fail-1", Some("fail-id-1")).await;
    assert_eq!(status, 500);
    assert_eq!(echoed.as_deref(), Some("fail-id-1"));
    h.flush();
    assert_eq!(h.tagged("fail-1").len(), 1);
    let payloads = h.payloads("fail-id-1");
    assert!(
        payloads
            .iter()
            .any(|p| p["request"]["statusCode"] == 500 && p["request"]["path"] == "/fail"),
        "{payloads:?}"
    );
    h.assert_schema();
}

/// Logs after `.await`, from spawned tasks (with the extension) and from blocking work keep the ID.
pub async fn nested_work_keeps_the_id(h: &Harness<'_>) {
    let (status, _, _) = h.get("/work?tag=work-1", Some("work-id-1")).await;
    assert_eq!(status, 200);
    h.flush();
    let mut logs = h.tagged("work-1");
    logs.sort();
    let want: Vec<(String, String)> = ["blocking", "spawned", "step 1", "step 2"]
        .iter()
        .map(|m| ("work-id-1".to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(logs, want);
}

/// Records emitted while a streaming body is produced carry the ID.
pub async fn streaming_body_keeps_the_id(h: &Harness<'_>) {
    let (status, echoed, body) = h.get("/stream?tag=stream-1", Some("stream-id-1")).await;
    assert_eq!(status, 200);
    assert_eq!(echoed.as_deref(), Some("stream-id-1"));
    assert_eq!(body, "chunk 0\nchunk 1\nchunk 2\n");
    h.flush();
    let logs = h.tagged("stream-1");
    assert_eq!(logs.len(), 3, "{logs:?}");
    assert!(logs.iter().all(|(id, _)| id == "stream-id-1"), "{logs:?}");
}

/// Hundreds of interleaved requests: every log lands under its own request's ID.
pub async fn concurrent_requests_never_mix(h: &Harness<'_>) {
    let client = Harness::client();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..300 {
        let client = client.clone();
        let url = format!("{}/work?tag=mix-{n}", h.app);
        tasks.spawn(async move {
            let id = format!("mix-{n}");
            let resp = client
                .get(url)
                .header(HEADER, &id)
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status().as_u16(), 200);
            assert_eq!(resp.headers()[HEADER].to_str().unwrap(), id);
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("request task");
    }
    h.flush();
    let mut per_tag: HashMap<String, usize> = HashMap::new();
    for (id, l) in h.ingest.accepted_logs() {
        if let Some(tag) = l["metadata"]["tag"]
            .as_str()
            .filter(|t| t.starts_with("mix-"))
        {
            assert_eq!(id, tag, "a log of request {tag} was filed under {id}");
            *per_tag.entry(tag.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(per_tag.len(), 300);
    assert!(per_tag.values().all(|&n| n == 4), "4 logs per request");
}

/// Method, path (without query), status and duration are recorded.
pub async fn status_duration_and_path_recorded(h: &Harness<'_>) {
    let (status, _, _) = h
        .get("/slow?ms=40&tag=slow-1&secret=hunter2", Some("slow-id-1"))
        .await;
    assert_eq!(status, 200);
    h.flush();
    let payloads = h.payloads("slow-id-1");
    let done = payloads
        .iter()
        .find(|p| p["request"]["statusCode"] == 200)
        .unwrap_or_else(|| panic!("{payloads:?}"));
    assert_eq!(done["request"]["method"], "GET");
    assert_eq!(done["request"]["path"], "/slow");
    assert!(done["durationMS"].as_f64().unwrap() >= 40.0, "{done}");
    assert!(done["endedAt"].is_string());
    for r in h.ingest.received() {
        assert!(
            !r.body.to_string().contains("hunter2"),
            "query string shipped"
        );
    }
    h.assert_schema();
}

/// A request that logs nothing ships no payload (unless the middleware records all requests).
pub async fn quiet_requests_send_no_payload(h: &Harness<'_>) {
    let (status, echoed, _) = h.get("/quiet", Some("quiet-id-1")).await;
    assert_eq!(status, 204);
    assert_eq!(echoed.as_deref(), Some("quiet-id-1"));
    h.flush();
    assert!(h.payloads("quiet-id-1").is_empty());
}

/// W3C trace context: a valid incoming `traceparent` is continued (its trace-id and one new span-id for
/// the request on every log, including those from spawned and blocking work), and its trace-id is the
/// correlation ID when no `x-correlation-id` came; an invalid or absent one starts a new trace.
pub async fn trace_context_is_continued_or_started(h: &Harness<'_>) {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    let (status, echoed, _) = h
        .get_with(
            "/work?tag=tp-1",
            &[(HEADER, "tp-id-1"), ("traceparent", &parent)],
        )
        .await;
    assert_eq!((status, echoed.as_deref()), (200, Some("tp-id-1")));
    let other = "0af7651916cd43dd8448eb211c80319c";
    let only_tp = format!("00-{other}-b7ad6b7169203331-00");
    let (_, echoed, _) = h
        .get_with("/hello?tag=tp-2", &[("traceparent", &only_tp)])
        .await;
    assert_eq!(
        echoed.as_deref(),
        Some(other),
        "the trace-id is the correlation ID"
    );
    let upper = format!("00-{}-00f067aa0ba902b7-01", TRACE.to_uppercase());
    let (_, invalid_echoed, _) = h
        .get_with("/hello?tag=tp-3", &[("traceparent", &upper)])
        .await;
    let (_, _, _) = h.get("/hello?tag=tp-4", None).await;
    h.flush();
    let logs = h.ingest.accepted_logs();
    let with_tag = |tag: &str| -> Vec<serde_json::Value> {
        logs.iter()
            .filter(|(_, l)| l["metadata"]["tag"] == tag)
            .map(|(_, l)| l.clone())
            .collect()
    };
    let hex = |v: &serde_json::Value, len: usize| {
        let s = v.as_str().unwrap_or_default();
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let continued = with_tag("tp-1");
    assert_eq!(continued.len(), 4, "{continued:?}");
    let span = continued[0]["spanId"].clone();
    assert!(hex(&span, 16), "{span}");
    assert_ne!(span, "00f067aa0ba902b7", "the request has its own span");
    for l in &continued {
        assert_eq!(l["traceId"], TRACE, "{l}");
        assert_eq!(l["spanId"], span, "one span for the whole request: {l}");
    }
    assert_eq!(with_tag("tp-2")[0]["traceId"], other);
    let fresh = &with_tag("tp-3")[0];
    assert!(
        hex(&fresh["traceId"], 32) && fresh["traceId"] != TRACE,
        "{fresh}"
    );
    let invalid_echoed = invalid_echoed.expect("echoed id");
    assert_ne!(invalid_echoed, TRACE.to_uppercase());
    assert_ne!(
        fresh["traceId"],
        invalid_echoed.as_str(),
        "a generated ID, not the trace-id"
    );
    let started = &with_tag("tp-4")[0];
    assert!(
        hex(&started["traceId"], 32) && hex(&started["spanId"], 16),
        "{started}"
    );
    h.assert_schema();
}

/// Every scenario above, in turn.
pub async fn run_all(h: &Harness<'_>) {
    echo_valid_incoming(h).await;
    generated_ids_are_unique(h).await;
    invalid_incoming_is_replaced(h).await;
    errors_echo_and_record_500(h).await;
    nested_work_keeps_the_id(h).await;
    streaming_body_keeps_the_id(h).await;
    concurrent_requests_never_mix(h).await;
    status_duration_and_path_recorded(h).await;
    quiet_requests_send_no_payload(h).await;
    trace_context_is_continued_or_started(h).await;
}

/// Expands to one `#[tokio::test]` per scenario, each getting its [`Harness`] from `$harness` (an
/// `async fn() -> Harness<'static>`), so every framework runs the same table.
#[macro_export]
macro_rules! scenario_tests {
    ($harness:path) => {
        $crate::scenario_tests!(@each $harness;
            echo_valid_incoming,
            generated_ids_are_unique,
            invalid_incoming_is_replaced,
            errors_echo_and_record_500,
            nested_work_keeps_the_id,
            streaming_body_keeps_the_id,
            concurrent_requests_never_mix,
            status_duration_and_path_recorded,
            quiet_requests_send_no_payload,
            trace_context_is_continued_or_started
        );
    };
    (@each $harness:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $harness().await;
                $crate::scenarios::$name(&harness).await;
            }
        )*
    };
}

/// A query parameter's value from a path-and-query string (test apps parse their own queries).
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// For an app whose middleware was built with a custom header `header`, `trust_incoming(false)`, a
/// generator that always returns `generated`, and `record_all_requests(true)`: the client's ID is not
/// kept, the header is the custom one, and a request that logged nothing still gets its payload.
pub async fn custom_options_apply(h: &Harness<'_>, header: &str, generated: &str) {
    let resp = Harness::client()
        .get(format!("{}/quiet", h.app))
        .header(header, "client-chosen")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.headers()[header], generated);
    assert!(resp.headers().get(HEADER).is_none());
    h.flush();
    let payloads = h.payloads(generated);
    assert!(
        payloads.iter().any(|p| p["request"]["statusCode"] == 204),
        "record_all_requests: a payload without logs: {payloads:?}"
    );
}

/// Defines `fn ingest() -> &'static IngestServer` (started once, with logiscout initialised in
/// `Env::Prod` against it, console off, 100 ms batch wait) and `fn flush()` in the calling test crate,
/// which must depend on `logiscout_core`. `prod_logger!(pub service = "svc")` makes them public (for a `common`
/// test module).
#[macro_export]
macro_rules! prod_logger {
    ($vis:vis service = $service:expr) => {
        $vis fn ingest() -> &'static $crate::IngestServer {
            static SETUP: ::std::sync::OnceLock<($crate::IngestServer, logiscout_core::Guard)> =
                ::std::sync::OnceLock::new();
            &SETUP
                .get_or_init(|| {
                    let server = $crate::IngestServer::start();
                    let guard = logiscout_core::init(
                        logiscout_core::Config::new($service)
                            .env(logiscout_core::Env::Prod)
                            .api_token("lgs_test_token")
                            .endpoint(server.url())
                            .console(logiscout_core::Console::Off)
                            .read_rust_log(false)
                            .max_batch_wait(::std::time::Duration::from_millis(100)),
                    )
                    .expect("init");
                    (server, guard)
                })
                .0
        }

        $vis fn flush() {
            let report = logiscout_core::flush(::std::time::Duration::from_secs(30));
            assert!(report.complete, "{report:?}");
        }
    };
}
