//! Time comes from an injected clock so that expiry, windows and lock-outs are tested by
//! moving time, never by sleeping.

use crate::date::JstDateTime;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> JstDateTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> JstDateTime {
        let us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        JstDateTime(us)
    }
}

/// A clock that stands still until moved; for tests.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn new(at: JstDateTime) -> Self {
        FixedClock(AtomicI64::new(at.0))
    }
    pub fn set(&self, at: JstDateTime) {
        self.0.store(at.0, Ordering::SeqCst)
    }
    pub fn advance_seconds(&self, s: i64) {
        self.0.fetch_add(s * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> JstDateTime {
        JstDateTime(self.0.load(Ordering::SeqCst))
    }
}
