//! The relay deployed as the README shows: Debian's nginx in front, with the README's own
//! `location` block (`deploy/nginx/ordersync.conf`, only the relay's port changed) and the
//! relay trusting that proxy (`ORDERSYNC_TRUSTED_PROXIES=127.0.0.1`). Shoppers come from
//! distinct loopback addresses (`127.0.1.x`), so nginx sees each as its own client.
//!
//! Many shoppers each get 202; one shopper flooding is throttled without throttling the others;
//! a client talking to the relay directly with a forged `X-Forwarded-For` is throttled as
//! itself; every accepted order reaches both sandbox vendors; the log records each client.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// The README's nginx configuration, exactly as the README shows it.
const NGINX_LOCATION: &str = include_str!("../../../deploy/nginx/ordersync.conf");
const README: &str = include_str!("../../../README.md");
/// The relay's default rate limit, which the README's deployment keeps: 60 at once, then 600 a
/// minute.
const RATE_LIMIT_BURST: usize = 60;
const RATE_LIMIT_PER_SECOND: f64 = 10.0;

/// Debian's nginx, from `scripts/setup.sh`.
fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("nginx is installed (scripts/setup.sh installs Debian's nginx)")
}

/// nginx in the foreground, on a free loopback port, with the README's `location` block.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(relay_port: u16) -> Nginx {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let location = NGINX_LOCATION.replace("127.0.0.1:8787", &format!("127.0.0.1:{relay_port}"));
        std::fs::write(dir.path().join("ordersync.conf"), location).unwrap();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir.path(), port)).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx {
            child,
            port,
            _dir: dir,
        };
        nginx.wait_listening();
        nginx
    }

    fn wait_listening(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        wait_for("nginx to listen", DEADLINE, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("error.log"));
                panic!("nginx exited ({status}): {}", log.unwrap_or_default());
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        });
    }

    fn checkouts_url(&self) -> String {
        format!("http://127.0.0.1:{}/ordersync/v1/checkouts", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A whole nginx configuration around the README's block: the shop's `server`, and every file
/// nginx writes kept in the test's own directory.
fn nginx_conf(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name shop.example;
        include {dir}/ordersync.conf;
    }}
}}
"
    )
}

/// An HTTP client whose connections leave from `source`: one shopper's own address.
fn shopper(source: IpAddr) -> reqwest::Client {
    ordersync_relay::vendors::install_crypto_provider();
    reqwest::Client::builder()
        .local_address(source)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// One signed hand-off from `client`; its answer's status.
async fn hand_off(
    client: &reqwest::Client,
    url: &str,
    order_id: u64,
    forwarded_for: Option<&str>,
) -> u16 {
    let token = sign(&checkout(order_id), unix_now() + 600);
    let body = json!({"token": token, "cookieId": format!("CIB1.{order_id}.1764000000")});
    let mut request = client
        .post(url)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_string());
    if let Some(forged) = forwarded_for {
        request = request.header("x-forwarded-for", forged);
    }
    let reply = request.send().await.expect("an answer");
    reply.status().as_u16()
}

/// Hand-offs one client sends all at once, and what came of them.
struct Flood {
    statuses: Vec<u16>,
    accepted: Vec<u64>,
    took: Duration,
}

impl Flood {
    /// How many hand-offs a flood sends: well over the burst.
    const SIZE: u64 = 150;

    /// Sends [`Flood::SIZE`] hand-offs (orders from `first_order`) from `client` at once; with
    /// `forge`, each names another client in `X-Forwarded-For`.
    async fn send(client: &reqwest::Client, url: &str, first_order: u64, forge: bool) -> Flood {
        let started = Instant::now();
        let mut sending = tokio::task::JoinSet::new();
        for n in 0..Self::SIZE {
            let (client, url) = (client.clone(), url.to_owned());
            sending.spawn(async move {
                let order_id = first_order + n;
                let forged = forge.then(|| format!("203.0.113.{}", n % 250));
                (
                    order_id,
                    hand_off(&client, &url, order_id, forged.as_deref()).await,
                )
            });
        }
        let mut flood = Flood {
            statuses: Vec::new(),
            accepted: Vec::new(),
            took: Duration::ZERO,
        };
        while let Some(answer) = sending.join_next().await {
            let (order_id, status) = answer.expect("a hand-off task");
            if status == 202 {
                flood.accepted.push(order_id);
            }
            flood.statuses.push(status);
        }
        flood.took = started.elapsed();
        flood
    }

    /// Some hand-offs were refused with 429, and no more were accepted than the burst plus
    /// what the sustained rate (600 a minute) refilled while the flood lasted.
    fn assert_throttled(&self, what: &str) {
        let refilled = (self.took.as_secs_f64() * RATE_LIMIT_PER_SECOND).ceil() as usize;
        let allowed = RATE_LIMIT_BURST + refilled + 1;
        let statuses = &self.statuses;
        assert!(
            statuses.contains(&429) && self.accepted.len() <= allowed,
            "{what}: {} accepted (at most {allowed}) in {:?}: {statuses:?}",
            self.accepted.len(),
            self.took
        );
        assert!(
            statuses.iter().all(|s| *s == 202 || *s == 429),
            "{what}: {statuses:?}"
        );
    }
}

fn loopback(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

#[test]
fn the_readme_shows_the_tested_nginx_configuration() {
    assert!(
        README.contains(NGINX_LOCATION.trim()),
        "README.md must show deploy/nginx/ordersync.conf exactly as tested"
    );
    assert!(README.contains("ORDERSYNC_TRUSTED_PROXIES=127.0.0.1"));
}

#[test]
fn behind_nginx_each_shopper_is_its_own_client() {
    let sandbox = Sandbox::start(&[]);
    let mut options = RelayOptions::default();
    options
        .env
        .push(("ORDERSYNC_TRUSTED_PROXIES".into(), "127.0.0.1".into()));
    let relay = Relay::start(&sandbox, options);
    let relay_port: u16 = relay.url.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = Nginx::start(relay_port);
    let through_nginx = nginx.checkouts_url();
    let direct = relay.checkouts_url();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut accepted: Vec<u64> = Vec::new();
    runtime.block_on(async {
        // 150 shoppers, each from its own address, each placing one order through nginx.
        for n in 1..=150u8 {
            let order_id = 7_100_000 + u64::from(n);
            let status = hand_off(&shopper(loopback(1, n)), &through_nginx, order_id, None).await;
            assert_eq!(status, 202, "shopper 127.0.1.{n} through nginx");
            accepted.push(order_id);
        }

        // One shopper floods: throttled after its burst, and nobody else is.
        let flooder = shopper(loopback(2, 1));
        let flood = Flood::send(&flooder, &through_nginx, 7_200_000, false).await;
        flood.assert_throttled("the flooding shopper is throttled after its burst");
        accepted.extend(&flood.accepted);
        let bystander = shopper(loopback(1, 200));
        let status = hand_off(&bystander, &through_nginx, 7_100_200, None).await;
        assert_eq!(status, 202, "another shopper is not throttled");
        accepted.push(7_100_200);

        // A client talking to the relay directly cannot choose its rate-limit key with a forged
        // X-Forwarded-For: each request names another address, and it is throttled as itself.
        let forger = shopper(loopback(3, 1));
        let forged = Flood::send(&forger, &direct, 7_300_000, true).await;
        forged.assert_throttled("a forged X-Forwarded-For from an untrusted peer is ignored");
        accepted.extend(&forged.accepted);
    });

    // Every accepted order reaches both vendors.
    sandbox.wait_delivered_to_both(accepted.iter().copied());
    assert!(
        sandbox.violations().is_empty(),
        "{:?}",
        sandbox.violations()
    );

    // The log records the shopper's address, not the proxy's.
    let logs = relay.logs();
    assert!(
        logs.contains("client=127.0.1.7 ") || logs.contains("client=127.0.1.7\n"),
        "the relay logs the forwarded client address"
    );
    assert!(
        logs.contains("client=127.0.3.1"),
        "and the direct client's own"
    );
    relay.assert_no_secret_in_logs();
}
