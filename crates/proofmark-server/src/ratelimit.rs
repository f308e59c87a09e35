//! Token-bucket rate limits per client IP and per device token (SPEC §1.6). Per process: with several
//! server processes each enforces its own budget.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    map: HashMap<String, Bucket>,
    swept: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_minute` requests per minute, in bursts of up to `per_minute`; 0 means unlimited.
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, buckets: Mutex::new(Buckets { map: HashMap::new(), swept: Instant::now() }) }
    }

    /// Clients with a bucket (state) right now.
    pub fn tracked(&self) -> usize {
        self.buckets.lock().map(|b| b.map.len()).unwrap_or(0)
    }

    /// Take one token for `key`. `Err(seconds)` says when to retry.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let rate = capacity / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        // Once a minute, forget buckets that have refilled completely: they carry no state. The map holds
        // about one minute's worth of distinct clients, and no request pays for a scan more than once a minute.
        if now.saturating_duration_since(buckets.swept).as_secs() >= 60 {
            buckets
                .map
                .retain(|_, b| b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < capacity);
            buckets.swept = now;
        }
        let bucket = buckets.map.entry(key.to_owned()).or_insert(Bucket { tokens: capacity, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(60);
        let t0 = Instant::now();
        for _ in 0..60 {
            limiter.check("ip", t0).unwrap();
        }
        assert_eq!(limiter.check("ip", t0), Err(1));
        limiter.check("other", t0).unwrap();
        limiter.check("ip", t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(limiter.check("ip", t0 + Duration::from_secs(1)), Err(1));
        assert_eq!(RateLimiter::new(0).check("ip", t0), Ok(()));
    }
}
