//! `hearth serve STORE.db --wave N [--lan [--bind IP]] [--port P] [--interviewer ID]`: the
//! browser interview, and its console on the laptop (pairing codes, devices, revoking).

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

/// Interview in a browser: on this laptop, or on tablets paired over its Wi-Fi (--lan).
///
/// Listens on 127.0.0.1 unless --lan is given. Prints a one-time pairing link and a six-digit
/// code: open the link on the device and type the code. Then type, on this console: `pair`
/// for a new link, `devices` to list paired devices, `revoke N` to revoke one.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// The wave new interviews belong to.
    #[arg(long)]
    pub wave: i64,
    /// Listen on the local network (every address, or --bind's), not only on this laptop.
    /// Traffic on the network is not encrypted: see the README.
    #[arg(long)]
    pub lan: bool,
    /// With --lan: the one address to listen on (e.g. the laptop's hotspot address).
    #[arg(long, requires = "lan")]
    pub bind: Option<IpAddr>,
    /// The port (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Who conducts the interviews, for the audit trail (default $HEARTH_USER or $USER).
    #[arg(long)]
    pub interviewer: Option<String>,
    /// The definition's language to show (default its first).
    #[arg(long)]
    pub lang: Option<String>,
    /// Seconds a pairing link works (tests shorten it).
    #[arg(long, default_value_t = 600, hide = true)]
    pub pair_ttl: u64,
}

/// The address this laptop is reached at on its network: the source address of a route to a
/// private address (a UDP socket that connects sends nothing).
fn lan_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("10.254.254.254:9").ok()?;
    s.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified())
}

fn print_link(control: &hearth::web::Control) -> anyhow::Result<()> {
    let link = control.new_link();
    outln!(
        "pair a device: open {} and type the code {} (works once, for {} minutes)",
        link.url,
        link.code,
        link.minutes
    );
    Ok(())
}

fn console(control: hearth::web::Control) -> anyhow::Result<()> {
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["pair"] => print_link(&control)?,
            ["devices"] => {
                let devices = control.devices();
                if devices.is_empty() {
                    outln!("no device is paired");
                }
                for (d, held) in devices {
                    let state = if d.revoked { "revoked" } else { "paired" };
                    let holding = if held.is_empty() {
                        String::new()
                    } else {
                        format!("; holds interview {}", held.join(", "))
                    };
                    outln!(
                        "{}  {state} {}  last seen {}  {}{holding}",
                        d.number,
                        d.paired_at,
                        d.last_seen,
                        hearth::text::escape(&d.label)
                    );
                }
            }
            ["revoke", n] => match n.parse::<usize>() {
                Ok(n) if control.revoke(n) => outln!("device {n} revoked"),
                _ => outln!("no paired device {}: type `devices` to list them", hearth::text::escape(n)),
            },
            ["release"] => outln!("{} interview(s) let go", control.release("")),
            ["release", id] => outln!("{} interview(s) let go", control.release(id)),
            _ => outln!("commands: pair (a new pairing link), devices (list), revoke N, release [ID] (let another device take an interview)"),
        }
    }
    Ok(())
}

/// Runs `serve`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let ip = match (a.lan, a.bind) {
        (false, _) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (true, Some(ip)) => ip,
        (true, None) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let opts = hearth::web::ServeOptions {
        listen: SocketAddr::new(ip, a.port),
        wave: a.wave,
        interviewer: a.interviewer.unwrap_or_else(hearth::store::default_user),
        lang: a.lang,
        pair_ttl: Duration::from_secs(a.pair_ttl.max(1)),
    };
    let public = if ip.is_unspecified() { lan_address() } else { None };
    let server = hearth::web::Server::bind(store, opts, public)
        .map_err(hearth::Error::from)
        .with_context(|| format!("{}: cannot serve", a.store.display()))?;
    outln!("hearth serve: {} (wave {})", server.url(), a.wave);
    if a.lan {
        outln!("listening on the local network: traffic is not encrypted (see the README: use the laptop's own hotspot)");
    }
    let control = server.control();
    print_link(&control)?;
    outln!("type `pair` for a new link, `devices` to list paired devices, `revoke N` to revoke one; Ctrl-C stops");
    std::thread::Builder::new()
        .name("console".into())
        .spawn(move || {
            if let Err(e) = console(control) {
                crate::cli::note(&format!("console: {e}"));
            }
        })
        .context("cannot start the console")?;
    server.run().map_err(hearth::Error::from)?;
    Ok(())
}
