//! The durable-job worker of a server process: claims due jobs from the store (a lease of [`lease_secs`];
//! on PostgreSQL any number of processes claim disjoint jobs), runs them, and records the outcome. A job
//! whose worker died is claimed again when its lease ends; a worker that lost its lease cannot record an
//! outcome over another's. Webhook deliveries are the first kind; log batching and video come later.
use std::time::Duration;

use anyhow::Result;
use proofmark_store::{Job, Timestamp};

use crate::webhooks::{self, Delivery};
use crate::AppState;

/// How long a claim lasts: longer than any delivery attempt (its timeout for the request and each redirect,
/// plus slack), so a live worker always finishes within its lease.
pub fn lease_secs(config: &crate::config::Config) -> i64 {
    i64::try_from(config.webhooks.timeout_secs).unwrap_or(300) * (webhooks::MAX_REDIRECTS as i64 + 1) + 10
}
/// Jobs claimed at once.
const BATCH: u32 = 16;
/// How often an idle worker looks for due jobs.
pub const POLL: Duration = Duration::from_secs(1);

/// This process's worker id.
pub fn worker_id() -> String {
    format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple())
}

/// Claim and run every due job once; returns how many ran. The server's loop calls it every [`POLL`];
/// tests call it directly.
pub async fn run_due(state: &AppState, worker: &str) -> Result<usize> {
    let now = Timestamp(state.now());
    let jobs = state.store.claim_jobs(&[webhooks::JOB_KIND], worker, now, lease_secs(&state.config), BATCH).await?;
    let n = jobs.len();
    let mut running = tokio::task::JoinSet::new();
    for job in jobs {
        let (state, worker) = (state.clone(), worker.to_owned());
        running.spawn(async move { run_one(&state, &worker, job).await });
    }
    while let Some(result) = running.join_next().await {
        if let Ok(Err(e)) = result {
            tracing::error!("job bookkeeping failed: {e:#}");
        }
    }
    Ok(n)
}

async fn run_one(state: &AppState, worker: &str, job: Job) -> Result<()> {
    let outcome = match job.kind.as_str() {
        webhooks::JOB_KIND => deliver(state, &job).await,
        other => Err(anyhow::anyhow!("no worker for jobs of kind {other:?}")),
    };
    let now = Timestamp(state.now());
    match outcome {
        Ok(()) => {
            if !state.store.finish_job(&job.job_id, worker, now).await? {
                tracing::warn!(job = %job.job_id, "finished after its lease ran out; another worker holds it");
            }
        }
        Err(e) => {
            let retry_at = Timestamp(now.unix() + webhooks::backoff(&state.config.webhooks, job.attempts));
            let error = format!("{e:#}");
            tracing::info!(job = %job.job_id, attempt = job.attempts, "job failed: {error}");
            state.store.fail_job(&job.job_id, worker, &error, retry_at).await?;
        }
    }
    Ok(())
}

/// One webhook delivery. A deleted webhook's deliveries end without sending (done, not failed).
async fn deliver(state: &AppState, job: &Job) -> Result<()> {
    let delivery: Delivery = serde_json::from_str(&job.payload)?;
    let Some(hook) = state.store.webhook(&delivery.webhook_id).await?.filter(|w| w.deleted_at.is_none()) else {
        return Ok(());
    };
    let secret = webhooks::open_secret(state.keys.kek(), &hook)?;
    let config = state.config.webhooks.clone();
    let now = state.now();
    let status =
        tokio::task::spawn_blocking(move || webhooks::deliver(&hook.url, &secret, &delivery, now, &config)).await??;
    tracing::info!(job = %job.job_id, status, "webhook delivered");
    Ok(())
}

/// Run the worker until `stop` resolves.
pub async fn work(state: AppState, stop: impl std::future::Future<Output = ()>) {
    let worker = worker_id();
    tokio::pin!(stop);
    loop {
        let ran = match run_due(&state, &worker).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("job worker: {e:#}");
                0
            }
        };
        if ran == 0 {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
