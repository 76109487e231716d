//! The retry schedule as data: pauses between attempts, each with ± jitter.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct RetrySchedule {
    steps: Vec<Duration>,
    jitter: f64,
}

impl RetrySchedule {
    pub fn new(steps: Vec<Duration>, jitter: f64) -> Self {
        assert!(
            !steps.is_empty(),
            "a retry schedule needs at least one step"
        );
        RetrySchedule { steps, jitter }
    }

    /// The pause after the attempt number `attempts_before + 1` failed; the last step repeats.
    pub fn delay(&self, attempts_before: i64) -> Duration {
        let index = (attempts_before.max(0) as usize).min(self.steps.len() - 1);
        let base = self.steps[index].as_secs_f64();
        let factor = if self.jitter > 0.0 {
            rand::rng().random_range(1.0 - self.jitter..=1.0 + self.jitter)
        } else {
            1.0
        };
        Duration::from_secs_f64(base * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_then_last_repeats() {
        let s = RetrySchedule::new(vec![Duration::from_secs(5), Duration::from_secs(30)], 0.0);
        assert_eq!(s.delay(0), Duration::from_secs(5));
        assert_eq!(s.delay(1), Duration::from_secs(30));
        assert_eq!(s.delay(9), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let s = RetrySchedule::new(vec![Duration::from_secs(100)], 0.1);
        for _ in 0..200 {
            let d = s.delay(0).as_secs_f64();
            assert!((90.0..=110.0).contains(&d), "{d}");
        }
    }
}
