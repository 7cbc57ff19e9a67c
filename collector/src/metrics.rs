//! Process-wide counters and latency histograms of the collector, rendered in the Prometheus
//! text format by the HTTP listener.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::admission::Refusal;

/// Upper bounds (seconds) of the ingest latency histogram buckets.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Ingest counters by outcome and a latency histogram.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    reports: BTreeMap<&'static str, u64>,
    latency: Histogram,
    /// Calls and connections refused by admission control, by reason.
    refused: BTreeMap<Refusal, u64>,
}

impl Metrics {
    /// Records one Report call with its outcome label.
    pub fn observe_ingest(&self, outcome: &'static str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.reports.entry(outcome).or_default() += 1;
        let h = &mut inner.latency;
        h.count += 1;
        h.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
    }

    /// Counts one call or connection refused by admission control.
    pub fn refused(&self, why: Refusal) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.refused.entry(why).or_default() += 1;
    }

    /// Appends the ingest metrics in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str(
            "# HELP certfleet_grpc_refused_total gRPC calls and connections refused before \
             reaching the service, by reason.\n",
        );
        out.push_str("# TYPE certfleet_grpc_refused_total counter\n");
        for why in Refusal::ALL {
            let n = inner.refused.get(&why).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "certfleet_grpc_refused_total{{reason=\"{}\"}} {n}",
                why.label()
            );
        }
        out.push_str("# HELP certfleet_ingest_reports_total Report calls by outcome.\n");
        out.push_str("# TYPE certfleet_ingest_reports_total counter\n");
        for (outcome, n) in &inner.reports {
            let _ = writeln!(
                out,
                "certfleet_ingest_reports_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP certfleet_ingest_duration_seconds Time to validate and store one report.\n",
        );
        out.push_str("# TYPE certfleet_ingest_duration_seconds histogram\n");
        let h = &inner.latency;
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "certfleet_ingest_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                h.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "certfleet_ingest_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "certfleet_ingest_duration_seconds_sum {}", h.sum);
        let _ = writeln!(out, "certfleet_ingest_duration_seconds_count {}", h.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_ingest("accepted", Duration::from_millis(3));
        m.observe_ingest("accepted", Duration::from_millis(30));
        m.observe_ingest("invalid", Duration::from_secs(10));
        let mut s = String::new();
        m.render(&mut s);
        assert!(s.contains("certfleet_ingest_reports_total{outcome=\"accepted\"} 2"));
        assert!(s.contains("certfleet_ingest_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(s.contains("certfleet_ingest_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(s.contains("certfleet_ingest_duration_seconds_bucket{le=\"+Inf\"} 3"));
        // Every refusal reason is there from the start, at 0.
        m.refused(Refusal::EnrollRate);
        let mut s = String::new();
        m.render(&mut s);
        assert!(s.contains("certfleet_grpc_refused_total{reason=\"enroll_rate\"} 1"));
        assert!(s.contains("certfleet_grpc_refused_total{reason=\"connection_cap\"} 0"));
    }
}
