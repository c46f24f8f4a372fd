//! The sandbox on a thread and runtime of its own, inside another program: how the relay's
//! tests start one (each test its own, on a free port, stopped when dropped) without needing
//! this crate's binary built first. It serves real HTTP on loopback, exactly as the binary does.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::{bind, router, serve, SandboxArgs};

/// A running sandbox; dropping it stops it.
pub struct EmbeddedSandbox {
    /// `http://ADDR`, the vendors' base URL to configure.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedSandbox {
    /// Starts a sandbox from flags as `ordersync-sandbox` takes them (`--listen 127.0.0.1:0`
    /// for a free port).
    pub fn from_flags(flags: &[&str]) -> anyhow::Result<EmbeddedSandbox> {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            args: SandboxArgs,
        }
        let argv = std::iter::once("ordersync-sandbox").chain(flags.iter().copied());
        Self::start(<Flags as clap::Parser>::try_parse_from(argv)?.args)
    }

    /// Checks `args`, binds `args.listen` and starts serving before returning. Everything
    /// runs on the sandbox's own thread, so this may be called from inside another runtime
    /// (an async test) too.
    pub fn start(args: SandboxArgs) -> anyhow::Result<EmbeddedSandbox> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (bound, bound_here) = std::sync::mpsc::channel::<anyhow::Result<String>>();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sandbox".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let (listener, sandbox) = match bind(&args).await {
                        Ok(bound) => bound,
                        Err(error) => return drop(bound.send(Err(error))),
                    };
                    let url = listener.local_addr().map(|a| format!("http://{a}"));
                    let _ = bound.send(url.map_err(anyhow::Error::from));
                    serve(listener, router(Arc::clone(&sandbox)), async {
                        let _ = stopped.await;
                    })
                    .await;
                });
            })?;
        let url = bound_here.recv()??;
        Ok(EmbeddedSandbox {
            url,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EmbeddedSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
