//! What both sinks (the LogiScout ingest sink and the OTLP one) run on: a listener bound on a thread and
//! current-thread runtime of its own, an accept loop serving HTTP/1.1 connections until told to stop, a
//! graceful end, and the handle's stop-and-join and accessors ([`Served`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Error;

/// A server thread; stopping it (or dropping it) ends the accept loop and joins the thread.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Binds `listen` and runs `serve(listener, stop)` on a thread named `name` with its own runtime (so it
    /// works from sync code and from inside another runtime alike).
    pub(crate) fn start<F, Fut>(listen: SocketAddr, name: &str, serve: F) -> Result<Running, Error>
    where
        F: FnOnce(tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut
            + Send
            + 'static,
        Fut: Future<Output = ()>,
    {
        let listener = std::net::TcpListener::bind(listen).map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(Error::Runtime)?;
        listener.set_nonblocking(true).map_err(Error::Runtime)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, stop_rx).await,
                        Err(e) => eprintln!("logiscout-sink: cannot listen: {e}"),
                    }
                });
            })
            .map_err(Error::Runtime)?;
        Ok(Running {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Ends the accept loop and waits for the thread.
    pub(crate) fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// A sink's state shared between its handle and its server: the counters the handle reads.
pub(crate) trait Counted: Send + Sync + 'static {
    /// The counters, as `GET /stats` answers them.
    type Stats: Copy + std::fmt::Debug;
    /// The counters now.
    fn stats(&self) -> Self::Stats;
}

/// What both sinks' public handles hold: the server thread, the state it shares with them, and the
/// accessors they have in common. Dropping it shuts the server down.
pub(crate) struct Served<S> {
    running: Running,
    /// The URL path the handle's [`Served::url`] points at (`/ingest`, `/v1/logs`).
    path: &'static str,
    pub(crate) shared: Arc<S>,
}

impl<S: Counted> Served<S> {
    /// Binds `listen` and runs `serve(listener, shared, stop)` on a thread of its own (see
    /// [`Running::start`]); `path` is what [`Served::url`] appends.
    pub(crate) fn start<F, Fut>(
        listen: SocketAddr,
        name: &str,
        path: &'static str,
        shared: S,
        serve: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(tokio::net::TcpListener, Arc<S>, tokio::sync::oneshot::Receiver<()>) -> Fut
            + Send
            + 'static,
        Fut: Future<Output = ()>,
    {
        let shared = Arc::new(shared);
        let thread_shared = shared.clone();
        let running = Running::start(listen, name, move |listener, stop| {
            serve(listener, thread_shared, stop)
        })?;
        Ok(Served {
            running,
            path,
            shared,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// `http://ADDR/PATH`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}{}", self.running.addr, self.path)
    }

    pub(crate) fn stats(&self) -> S::Stats {
        self.shared.stats()
    }

    /// Polls until `cond` holds for the counters, or `timeout`; returns whether it held.
    pub(crate) fn wait_until(&self, timeout: Duration, cond: impl Fn(&S::Stats) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&self.stats()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops serving (see [`Running::stop_and_join`]) and returns the final counters.
    pub(crate) fn shutdown(mut self) -> S::Stats {
        self.running.stop_and_join();
        self.stats()
    }

    /// The handle's `Debug`: its name, address and counters.
    pub(crate) fn debug(&self, f: &mut std::fmt::Formatter<'_>, name: &str) -> std::fmt::Result {
        f.debug_struct(name)
            .field("addr", &self.running.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Serves each accepted connection with a service from `make_service` until `stop`, then lets open
/// connections finish for up to `grace` (idle keep-alive ones close at once). `on_error` hears of
/// failed accepts (out of file descriptors and the like), after which the loop waits a little rather
/// than spin.
pub(crate) async fn accept_loop<S, B>(
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    grace: Duration,
    on_error: impl Fn(&std::io::Error),
    make_service: impl Fn() -> S,
) where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    on_error(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .serve_connection(hyper_util::rt::TokioIo::new(stream), make_service());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}
