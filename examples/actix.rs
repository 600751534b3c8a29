//! An actix-web service with `.wrap(Correlation)`: every log emitted while serving a request carries its
//! correlation ID. Run with `cargo run --example actix --features actix`.
//!
//! The example serves on a free loopback port, sends itself three requests (one with an incoming
//! `x-correlation-id`, one that fails), prints what came back, and stops gracefully. Set
//! `LOGISCOUT_ENV=prod`, `LOGISCOUT_API_TOKEN` and `LOGISCOUT_ENDPOINT` to ship the logs.

use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use logiscout::actix::{Correlation, CorrelationId};

async fn get_order(
    path: web::Path<u64>,
    id: CorrelationId,
) -> Result<HttpResponse, actix_web::Error> {
    let order_id = path.into_inner();
    log::info!(order_id = order_id; "Fetching order");
    // Blocking work keeps the correlation ID.
    let total = logiscout::actix::block(move || {
        log::debug!(order_id = order_id; "Summing order lines");
        order_id * 100
    })
    .await?;
    if order_id == 0 {
        log::error!(order_id = order_id; "No such order");
        return Err(actix_web::error::ErrorNotFound("no such order"));
    }
    Ok(HttpResponse::Ok().body(format!("order {order_id}: {total} (request {id})\n")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = logiscout::init(logiscout::Config::from_env()?.service_name("actix-example"))?;

    actix_web::rt::System::new().block_on(async {
        let server = HttpServer::new(|| {
            App::new()
                .wrap(Correlation)
                .route("/orders/{id}", web::get().to(get_order))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))?;
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        let running = actix_web::rt::spawn(server);

        let client = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = reqwest::Client::new();
                for (order, incoming) in [(7, None), (8, Some("checkout-42")), (0, None)] {
                    let mut req = client.get(format!("http://{addr}/orders/{order}"));
                    if let Some(id) = incoming {
                        req = req.header("x-correlation-id", id);
                    }
                    let resp = req.send().await.map_err(|e| e.to_string())?;
                    let status = resp.status();
                    let echoed = resp.headers()["x-correlation-id"]
                        .to_str()
                        .map_err(|e| e.to_string())?
                        .to_owned();
                    let body = resp.text().await.map_err(|e| e.to_string())?;
                    println!(
                        "{status} x-correlation-id: {echoed:<36}  {}",
                        body.trim_end()
                    );
                }
                Ok(())
            })
        });
        let result = actix_web::rt::task::spawn_blocking(move || client.join())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        handle.stop(true).await;
        running
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        result
            .map_err(|_| std::io::Error::other("client thread panicked"))?
            .map_err(std::io::Error::other)
    })?;

    let report = guard.shutdown(Duration::from_secs(5));
    println!("shipping: {:?}", report.stats);
    Ok(())
}
