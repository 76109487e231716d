//! The assembled service: settings, templates, channels, outbox, mailer; and how it starts.

use std::{net::SocketAddr, sync::Arc};

use crate::channel::Registry;
use crate::delivery::{retention::Retention, Delivery};
use crate::mail::Mailer;
use crate::render::Templates;
use crate::settings::Settings;
use crate::store::{SqliteStore, Store};

pub struct App {
    pub settings: Settings,
    pub templates: Templates,
    pub channels: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub mailer: Arc<Mailer>,
    pub delivery: Arc<Delivery>,
}

impl App {
    /// Loads templates, opens the outbox and builds the channels; starts nothing.
    pub async fn build(settings: Settings) -> anyhow::Result<Arc<App>> {
        let templates = Templates::load(
            &settings.templates.dir,
            settings.templates.check_interval,
            &settings.links,
        )
        .map_err(|e| anyhow::anyhow!("templates: {e}"))?;
        let default_locale = &settings.templates.default_locale;
        if templates.locale(default_locale).is_none() {
            anyhow::bail!(
                "templates.default_locale: no folder {default_locale} under {}",
                settings.templates.dir.display()
            );
        }
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&settings.delivery.database, settings.delivery.fsync).await?,
        );
        let channels = Arc::new(Registry::new(&settings)?);
        let mailer = Arc::new(Mailer::new(&settings.mail, store.clone())?);
        let delivery = Arc::new(Delivery::new(
            store.clone(),
            channels.clone(),
            mailer.clone(),
            settings.delivery.clone(),
        ));
        Ok(Arc::new(App {
            settings,
            templates,
            channels,
            store,
            mailer,
            delivery,
        }))
    }

    /// Resumes interrupted deliveries, then starts the delivery worker and the mailer.
    pub async fn start_workers(&self) -> anyhow::Result<()> {
        self.delivery.resume_interrupted().await?;
        tokio::spawn(self.delivery.clone().run());
        tokio::spawn(self.mailer.clone().run());
        tokio::spawn(
            Retention::new(
                self.store.clone(),
                self.settings.delivery.retention,
                self.settings.mail.throttle,
            )
            .run(),
        );
        Ok(())
    }
}

/// A running server (for `serve` and for tests).
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub server: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// The graceful stop (SIGTERM, SIGINT): no new connections; requests and provider calls under
    /// way may finish within `server.shutdown_grace`; whatever is unfinished stays in the outbox
    /// and is sent after the next start.
    pub async fn shutdown(self) {
        let deadline = tokio::time::Instant::now() + self.app.settings.server.shutdown_grace;
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.app.delivery.stop(deadline).await;
    }
}

/// Builds the app, starts its workers and serves HTTP on `server.addr` (port 0 picks one).
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    crate::telemetry::init_metrics();
    let app = App::build(settings).await?;
    app.start_workers().await?;
    let listener = tokio::net::TcpListener::bind(app.settings.server.addr)
        .await
        .map_err(|e| anyhow::anyhow!("server.addr {}: {e}", app.settings.server.addr))?;
    let addr = listener.local_addr()?;
    let server_settings = &app.settings.server;
    let limits = crate::server::Limits {
        header_read_timeout: server_settings.header_read_timeout,
        max_connections: server_settings.max_connections,
        shutdown_grace: server_settings.shutdown_grace,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(listener, app.clone(), limits, async {
        // Only `Running::shutdown` stops the server; dropping `Running` does not.
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    }));
    Ok(Running {
        addr,
        app,
        server,
        stop,
    })
}
