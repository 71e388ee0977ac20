//! Retry schedules, written the way payment people say them: `15s,15s,30s,3m,10m,...`.

use std::fmt;
use std::str::FromStr;

/// The longest schedule accepted (a bound on how long an event can stay pending).
pub const MAX_STEPS: usize = 64;

/// Delays between consecutive delivery attempts, in milliseconds. The first attempt
/// goes out immediately; after failure `n` (1-based) the next waits `delays_ms[n-1]`;
/// when the list is exhausted the event is marked failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays_ms: Vec<u64>,
}

impl RetrySchedule {
    /// The WeChat-like default: 15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h.
    pub fn business_default() -> Self {
        const DEFAULT: &str = "15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h";
        DEFAULT.parse().unwrap_or(RetrySchedule {
            delays_ms: vec![15_000],
        })
    }

    /// A schedule from explicit delays; empty means "one try only".
    pub fn from_delays_ms(delays_ms: Vec<u64>) -> Result<Self, ScheduleError> {
        if delays_ms.len() > MAX_STEPS {
            return Err(ScheduleError(format!("more than {MAX_STEPS} steps")));
        }
        Ok(RetrySchedule { delays_ms })
    }

    /// The delay before the next try after `failures` failed tries, or `None` when the
    /// schedule is exhausted and the event is to be marked failed.
    pub fn delay_after_failures_ms(&self, failures: u32) -> Option<u64> {
        let idx = usize::try_from(failures).ok()?.checked_sub(1)?;
        self.delays_ms.get(idx).copied()
    }

    /// Total tries including the first.
    pub fn max_tries(&self) -> u32 {
        u32::try_from(self.delays_ms.len() + 1).unwrap_or(u32::MAX)
    }

    /// The delays.
    pub fn delays_ms(&self) -> &[u64] {
        &self.delays_ms
    }
}

/// A schedule string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid retry schedule: {0}")]
pub struct ScheduleError(String);

impl FromStr for RetrySchedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut delays = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            delays.push(parse_duration_ms(part)?);
        }
        RetrySchedule::from_delays_ms(delays)
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.delays_ms.iter().map(|ms| format!("{ms}ms")).collect();
        f.write_str(&parts.join(","))
    }
}

/// Parses `250ms`, `15s`, `3m`, `2h`, `1d` into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, ScheduleError> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| ScheduleError(format!("`{s}` has no unit (ms, s, m, h, d)")))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| ScheduleError(format!("`{s}` does not start with a number")))?;
    let mult = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(ScheduleError(format!("`{s}` has an unknown unit"))),
    };
    n.checked_mul(mult)
        .ok_or_else(|| ScheduleError(format!("`{s}` is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn default_is_the_wechat_like_schedule() {
        let s = RetrySchedule::business_default();
        assert_eq!(s.delays_ms().len(), 15);
        assert_eq!(s.delay_after_failures_ms(0), None, "first try has no delay");
        assert_eq!(s.delay_after_failures_ms(1), Some(15_000));
        assert_eq!(s.delay_after_failures_ms(4), Some(180_000));
        assert_eq!(s.delay_after_failures_ms(15), Some(6 * 3_600_000));
        assert_eq!(s.delay_after_failures_ms(16), None, "then failed");
        assert_eq!(s.max_tries(), 16);
    }

    #[test]
    fn parse_errors_are_clear() {
        assert!("15".parse::<RetrySchedule>().is_err());
        assert!("15x".parse::<RetrySchedule>().is_err());
        assert!("s".parse::<RetrySchedule>().is_err());
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(
            "1s, 2s".parse::<RetrySchedule>().unwrap().delays_ms(),
            &[1000, 2000]
        );
        let long = vec!["1s"; MAX_STEPS + 1].join(",");
        assert!(long.parse::<RetrySchedule>().is_err());
        assert!("99999999999999999999d".parse::<RetrySchedule>().is_err());
    }
}
