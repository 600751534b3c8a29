//! An axum service with `CorrelationLayer`: every log emitted while serving a request carries its
//! correlation ID. Run with `cargo run --example axum --features axum`.
//!
//! The example serves on a free loopback port, sends itself three requests (one with an incoming
//! `x-correlation-id`), prints what came back, and shuts down gracefully. Set `LOGISCOUT_ENV=prod`,
//! `LOGISCOUT_API_TOKEN` and `LOGISCOUT_ENDPOINT` to ship the logs.

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use logiscout::tower::{CorrelationId, CorrelationLayer};

async fn get_user(Path(user_id): Path<u64>, id: CorrelationId) -> String {
    log::info!(user_id = user_id; "Fetching user");
    tokio::time::sleep(Duration::from_millis(5)).await;
    log::info!(user_id = user_id, found = true; "User found");
    format!("user {user_id} (request {id})\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = logiscout::init(logiscout::Config::from_env()?.service_name("axum-example"))?;

    let app = Router::new()
        .route("/users/{user_id}", get(get_user))
        .layer(CorrelationLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                stopped.await.ok();
            })
            .await
    });

    let client = reqwest::Client::new();
    for (user, incoming) in [(7, None), (8, Some("checkout-42")), (9, None)] {
        let mut req = client.get(format!("{base}/users/{user}"));
        if let Some(id) = incoming {
            req = req.header("x-correlation-id", id);
        }
        let resp = req.send().await?;
        let echoed = resp.headers()["x-correlation-id"].to_str()?.to_owned();
        print!("x-correlation-id: {echoed:<36}  {}", resp.text().await?);
    }

    let _ = stop.send(());
    server.await??;
    // Flush what is waiting (blocking, so off the async threads).
    let report =
        tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5))).await?;
    println!("shipping: {:?}", report.stats);
    Ok(())
}
