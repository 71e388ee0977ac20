//! Latency percentiles and result files.

use serde::Serialize;
use std::time::Duration;

/// p50 / p99 / max of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

pub fn percentiles(samples: &mut [Duration]) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| -> u64 {
        if samples.is_empty() {
            return 0;
        }
        let idx = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[idx].as_micros() as u64
    };
    Percentiles {
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: at(1.0),
    }
}

/// Writes `bench-results/<name>.json` (relative to the current directory).
pub fn write_json(name: &str, value: &serde_json::Value) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::path::Path::new("bench-results");
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n")?;
    Ok(path)
}
