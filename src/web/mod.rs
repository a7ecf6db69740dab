//! The browser interview (`hearth serve`): HTTP routes and pages over capture's interview
//! engine, for the laptop's own browser and tablets paired over its Wi-Fi.
//!
//! Owns the HTTP server (axum on a single-threaded tokio runtime), pairing and sessions
//! ([`pairing`]), the request guards and security headers ([`guard`]), the pages
//! ([`pages`], compile-time maud templates) and the embedded script and style sheet. It is a
//! thin layer: every answer goes through `capture`'s engine, which saves it with its audit
//! entry; nothing here names SQLite, evaluates an expression or prints to a terminal (the
//! binary's `serve` command drives the [`Control`] from its console).

mod flow;
pub mod guard;
pub mod pages;
pub mod pairing;
mod routes;
mod save;
mod steps;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::Store;

/// What `hearth serve` was asked for, checked.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// The wave new interviews belong to (and whose unfinished interviews are listed).
    pub wave: i64,
    /// Who conducts the interviews, for the audit trail.
    pub interviewer: String,
    /// The definition's language to show, when not its first.
    pub lang: Option<String>,
    /// How long a pairing link works.
    pub pair_ttl: Duration,
}

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The address could not be listened on.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped on an I/O error.
    #[error("the web server stopped")]
    Serve(#[source] std::io::Error),
}

/// A pairing link as the laptop shows it.
#[derive(Debug, Clone)]
pub struct PairLink {
    /// The one-time URL to open on the device.
    pub url: String,
    /// The code to type there.
    pub code: String,
    /// Minutes (rounded up) it works for.
    pub minutes: u64,
}

/// The server's shared state: the store, the engine's open interviews, pairing.
pub(crate) struct App {
    pub(crate) store: Store,
    pub(crate) opts: ServeOptions,
    pub(crate) pairing: pairing::Pairing,
    pub(crate) open: flow::OpenInterviews,
    pub(crate) hosts: guard::Hosts,
    pub(crate) base: String,
}

type Shared = Arc<Mutex<App>>;

fn lock(app: &Shared) -> MutexGuard<'_, App> {
    // a handler that panicked left the state as it was between two engine calls, each of
    // which is one transaction in the store: carry on with it
    app.lock().unwrap_or_else(|p| p.into_inner())
}

/// The laptop's handle on a running server: new pairing links, the paired devices, revoking.
#[derive(Clone)]
pub struct Control {
    app: Shared,
}

impl Control {
    /// A new pairing link (the previous one stops working).
    pub fn new_link(&self) -> PairLink {
        let mut app = lock(&self.app);
        let code = app.pairing.new_code(Instant::now());
        let minutes = app.pairing.ttl().as_secs().div_ceil(60);
        PairLink {
            url: format!("{}pair/{}", app.base, code.token),
            code: code.code,
            minutes,
        }
    }

    /// The paired devices, with the interview each holds.
    pub fn devices(&self) -> Vec<(pairing::Device, Vec<String>)> {
        let app = lock(&self.app);
        app.pairing.devices().iter().map(|d| (d.clone(), app.open.held_by(d.number))).collect()
    }

    /// Lets go of the open interviews whose id starts with `prefix` (all with ""), so that
    /// another device can take them; how many.
    pub fn release(&self, prefix: &str) -> usize {
        lock(&self.app).open.release(prefix)
    }

    /// Revokes device `number` and lets go of the interviews it held; false if there is no
    /// such device (or it is revoked already).
    pub fn revoke(&self, number: usize) -> bool {
        let mut app = lock(&self.app);
        let done = app.pairing.revoke(number);
        if done {
            app.open.release_device(number);
        }
        done
    }
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    app: Shared,
    url: String,
}

impl Server {
    /// Listens on `opts.listen` with `store`. `public_ip`: the address devices reach the laptop
    /// at, for the URLs it shows (the listening address unless that is 0.0.0.0).
    pub fn bind(store: Store, opts: ServeOptions, public_ip: Option<std::net::IpAddr>) -> Result<Server, WebError> {
        let listener = std::net::TcpListener::bind(opts.listen).map_err(|source| WebError::Listen { addr: opts.listen, source })?;
        let local = listener.local_addr().map_err(|source| WebError::Listen { addr: opts.listen, source })?;
        let shown = match public_ip {
            Some(ip) if local.ip().is_unspecified() => SocketAddr::new(ip, local.port()),
            _ => local,
        };
        let url = format!("http://{shown}/");
        let app = App {
            store,
            pairing: pairing::Pairing::new(opts.pair_ttl),
            open: flow::OpenInterviews::default(),
            hosts: guard::Hosts::new(local),
            base: url.clone(),
            opts,
        };
        Ok(Server {
            listener,
            app: Arc::new(Mutex::new(app)),
            url,
        })
    }

    /// The URL the server answers at.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The handle the laptop's console uses.
    pub fn control(&self) -> Control {
        Control { app: self.app.clone() }
    }

    /// Serves until the process ends.
    pub fn run(self) -> Result<(), WebError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(WebError::Serve)?;
        runtime.block_on(async move {
            self.listener.set_nonblocking(true).map_err(WebError::Serve)?;
            let listener = tokio::net::TcpListener::from_std(self.listener).map_err(WebError::Serve)?;
            axum::serve(listener, routes::router(self.app)).await.map_err(WebError::Serve)
        })
    }
}
