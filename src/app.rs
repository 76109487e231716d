//! The assembled service: settings, templates, channels, outbox, mailer; and how it starts.

use std::sync::Arc;

use crate::channel::Registry;
use crate::delivery::{retention::Retention, Delivery};
use crate::mail::Mailer;
use crate::render::Templates;
use crate::settings::Settings;
use crate::store::{PgOptions, PgStore, SqliteStore, Store};
use crate::t;

pub struct App {
    pub settings: Settings,
    pub templates: Arc<Templates>,
    pub channels: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub mailer: Arc<Mailer>,
    pub delivery: Arc<Delivery>,
    /// The newest console template version taken ([`App::sync_templates`]).
    pub templates_seen: std::sync::atomic::AtomicI64,
}

impl App {
    /// Loads templates, opens the outbox and builds the channels; starts nothing.
    pub async fn build(settings: Settings) -> anyhow::Result<Arc<App>> {
        let templates = Templates::load(
            &settings.templates.dir,
            settings.templates.check_interval,
            &settings.links,
        )
        .map_err(|e| t!("settings-key-error", key = "templates", why = e.text()))?
        .with_max_resource_lines(settings.render.max_resource_lines);
        let default_locale = &settings.templates.default_locale;
        if templates.locale(default_locale).is_none() {
            return Err(t!(
                "settings-no-default-locale",
                locale = default_locale.as_str(),
                dir = settings.templates.dir.display().to_string()
            )
            .into());
        }
        let channels = Arc::new(Registry::new(&settings)?);
        check_lease(&settings.delivery, &channels)?;
        let delivery = &settings.delivery;
        let store: Arc<dyn Store> = match delivery.postgres_url() {
            Some(url) => Arc::new(
                PgStore::connect(
                    url,
                    PgOptions {
                        pool_size: delivery.pool_size,
                        statement_timeout: delivery.statement_timeout,
                        lease: delivery.lease,
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("delivery.database (PostgreSQL): {e}"))?,
            ),
            None => Arc::new(SqliteStore::open(&delivery.sqlite_path(), delivery.fsync).await?),
        };
        let mailer = Arc::new(
            Mailer::new(
                &settings.mail,
                settings.server.language,
                &settings.server.public_url,
                store.clone(),
            )
            .await?,
        );
        let delivery = Arc::new(Delivery::new(
            store.clone(),
            channels.clone(),
            mailer.clone(),
            settings.delivery.clone(),
        ));
        let app = App {
            settings,
            templates: Arc::new(templates),
            channels,
            store,
            mailer,
            delivery,
            templates_seen: std::sync::atomic::AtomicI64::new(0),
        };
        app.sync_templates()
            .await
            .map_err(|e| t!("settings-console-templates", why = e.to_string()))?;
        Ok(Arc::new(app))
    }

    /// Resumes interrupted deliveries, then starts the delivery worker and the mailer.
    pub async fn start_workers(self: &Arc<Self>) -> anyhow::Result<()> {
        self.delivery.resume_interrupted().await?;
        self.delivery.admission.look().await;
        tokio::spawn(self.delivery.admission.clone().watch());
        tokio::spawn(self.delivery.clone().run());
        tokio::spawn(self.mailer.clone().run());
        tokio::spawn(self.clone().watch_templates());
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

/// On PostgreSQL another instance takes over a delivery after `delivery.lease`: it must be well
/// above the longest attempt of any channel (and the wait for the first one).
fn check_lease(delivery: &crate::settings::Delivery, channels: &Registry) -> anyhow::Result<()> {
    if delivery.postgres_url().is_none() {
        return Ok(());
    }
    let longest = channels.longest_attempt().max(delivery.respond_within);
    anyhow::ensure!(
        delivery.lease > longest * 2,
        "bad settings: delivery.lease: {} is too short; give at least twice the longest attempt ({}, from the channels' timeouts and delivery.respond_within)",
        humantime::format_duration(delivery.lease),
        humantime::format_duration(longest)
    );
    Ok(())
}
