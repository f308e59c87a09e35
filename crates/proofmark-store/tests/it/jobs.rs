//! The durable job queue on both backends: disjoint claims under concurrency, leases that expire when a
//! worker dies, retries, dead jobs, and a stale worker that cannot complete a job someone else holds.
use std::collections::HashSet;
use std::sync::Arc;

use proofmark_store::{Job, JobState, Store, Timestamp};

use crate::support::backends;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_claim_disjoint_jobs_and_every_job_once() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let jobs: Vec<Job> = (0..200).map(|i| Job::new("test", format!("{{\"n\":{i}}}"), 3, Timestamp(100))).collect();
        s.enqueue(&jobs).await.unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|w| {
                let s: Arc<dyn Store> = s.clone();
                tokio::spawn(async move {
                    let worker = format!("w{w}");
                    let mut mine = Vec::new();
                    loop {
                        let got = s.claim_jobs(&["test"], &worker, Timestamp(200), 60, 7).await.unwrap();
                        if got.is_empty() {
                            break;
                        }
                        for j in got {
                            assert!(s.finish_job(&j.job_id, &worker, Timestamp(201)).await.unwrap());
                            mine.push(j.job_id);
                        }
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!((all.len(), distinct.len()), (200, 200), "{b}: each job claimed and finished exactly once");
        assert!(s.claim_jobs(&["test"], "late", Timestamp(10_000), 60, 10).await.unwrap().is_empty(), "{b}");
    }
}

#[tokio::test]
async fn leases_retries_and_dead_jobs() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let job = Job::new("test", "{}".into(), 2, Timestamp(100));
        s.enqueue(std::slice::from_ref(&job)).await.unwrap();
        assert!(s.claim_jobs(&["other"], "w", Timestamp(100), 60, 10).await.unwrap().is_empty(), "{b}: by kind");
        assert!(s.claim_jobs(&["test"], "w", Timestamp(99), 60, 10).await.unwrap().is_empty(), "{b}: not due yet");
        // Worker A claims it and dies; within its lease nobody else gets it, after it worker B does.
        let got = s.claim_jobs(&["test"], "a", Timestamp(100), 60, 10).await.unwrap();
        assert_eq!((got.len(), got[0].attempts, got[0].state), (1, 1, JobState::Running), "{b}");
        assert!(s.claim_jobs(&["test"], "b", Timestamp(159), 60, 10).await.unwrap().is_empty(), "{b}");
        let got = s.claim_jobs(&["test"], "b", Timestamp(161), 60, 10).await.unwrap();
        assert_eq!(got[0].attempts, 2, "{b}");
        // A comes back: it holds nothing any more, so it can neither finish nor fail the job.
        assert!(!s.finish_job(&job.job_id, "a", Timestamp(162)).await.unwrap(), "{b}");
        assert!(!s.fail_job(&job.job_id, "a", "late", Timestamp(170)).await.unwrap(), "{b}");
        // B fails it on its last attempt: dead, with the error kept.
        assert!(s.fail_job(&job.job_id, "b", "receiver down", Timestamp(300)).await.unwrap(), "{b}");
        let dead = s.job(&job.job_id).await.unwrap().unwrap();
        assert_eq!((dead.state, dead.last_error.as_deref()), (JobState::Dead, Some("receiver down")), "{b}");
        assert!(s.claim_jobs(&["test"], "c", Timestamp(10_000), 60, 10).await.unwrap().is_empty(), "{b}");
        // A failure with attempts left queues it again for the retry time.
        let retry = Job::new("test", "{\"webhook\":\"x\"}".into(), 5, Timestamp(100));
        s.enqueue(std::slice::from_ref(&retry)).await.unwrap();
        s.claim_jobs(&["test"], "d", Timestamp(100), 60, 10).await.unwrap();
        assert!(s.fail_job(&retry.job_id, "d", "503", Timestamp(400)).await.unwrap(), "{b}");
        assert!(s.claim_jobs(&["test"], "d", Timestamp(399), 60, 10).await.unwrap().is_empty(), "{b}: backoff");
        assert_eq!(s.claim_jobs(&["test"], "d", Timestamp(400), 60, 10).await.unwrap().len(), 1, "{b}");
        assert!(s.finish_job(&retry.job_id, "d", Timestamp(401)).await.unwrap(), "{b}");
        let found = s.jobs_matching("test", "\"webhook\":\"x\"", 10).await.unwrap();
        assert_eq!((found.len(), found[0].state, found[0].attempts), (1, JobState::Done, 2), "{b}");
    }
}
