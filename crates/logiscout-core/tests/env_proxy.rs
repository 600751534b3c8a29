//! Proxy variables really set in the process's environment, as a shell would set them, and a loopback
//! endpoint: the batch goes straight to the endpoint, the proxy sees no connection (so a Bearer token
//! never crosses a proxy in clear text). This guards the HTTP client's own proxy lookups being off: the
//! client would otherwise read `HTTP_PROXY` itself. The environment is the process's, so this binary
//! holds one test.

mod common;

use std::time::Duration;

use logiscout_testkit::{fake_proxy, IngestServer};

#[test]
fn proxies_in_the_real_environment_never_carry_a_loopback_endpoint() {
    let (proxy, seen) = fake_proxy();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        std::env::set_var(name, &proxy);
        std::env::set_var(name.to_ascii_lowercase(), &proxy);
    }
    for name in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(name);
    }

    let server = IngestServer::start();
    let guard = logiscout_core::init(common::prod_to(
        "env-proxy-test",
        "lgs_env_proxy_token",
        &server.url(),
    ))
    .unwrap();
    for n in 0..5 {
        log::info!(n = n; "through no proxy");
    }
    let report = logiscout_core::flush(Duration::from_secs(5));
    assert!(report.complete, "{report:?}");
    assert_eq!(report.stats.logs_sent, 5, "{report:?}");
    let mut shipped: Vec<u64> = server
        .accepted_logs()
        .iter()
        .map(|(_, l)| l["metadata"]["n"].as_u64().unwrap())
        .collect();
    shipped.sort_unstable();
    assert_eq!(shipped, [0, 1, 2, 3, 4]);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.is_empty(), "the proxy saw {seen:?}");
    guard.shutdown(Duration::from_secs(2));
}
