//! certfleet-loadgen: simulates a fleet of enrolled terminals reporting certificate snapshots to
//! a real collector over gRPC+TLS, and reports throughput, latency percentiles and errors by
//! status code. Certificates are generated before the timed phase so rcgen is not measured.
//!
//! With several `--collector` URLs the fleet is spread over replicas (terminal i reports to
//! replica i mod n) and a terminal whose replica is down retries on another one, as behind a
//! load balancer; `--ack-log` writes one JSON line per acknowledged report so a test can check
//! afterwards that every acknowledged snapshot is in the database.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certfleet_proto::v1 as pb;
use certfleet_proto::v1::inventory_client::InventoryClient;
use chrono::Utc;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

/// Metadata key in which the collector advises how long to wait before retrying.
const RETRY_AFTER_MS: &str = "retry-after-ms";

#[derive(Parser, Debug)]
#[command(
    name = "certfleet-loadgen",
    about = "Load generator for the certfleet collector"
)]
struct Args {
    /// Collector gRPC URL, e.g. https://localhost:50051. Repeat it for replicas: terminal i
    /// reports to replica i mod n and retries on the next replica when its own one is down.
    #[arg(long, required = true)]
    collector: Vec<String>,
    /// CA certificate (PEM) that signed the collector's TLS certificate.
    #[arg(long)]
    ca: PathBuf,
    /// TLS server name to verify (default: the URL's host).
    #[arg(long)]
    tls_domain: Option<String>,
    /// File holding the enroll secret.
    #[arg(long)]
    enroll_secret_file: PathBuf,
    /// Number of simulated terminals (distinct machine ids).
    #[arg(long, default_value_t = 1000)]
    terminals: usize,
    /// Reports in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Rounds: every terminal reports once per round (ignored with --duration).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Share of terminals whose snapshot changes between two of their reports (renewal,
    /// removal or a location change); the rest send the same holdings again.
    #[arg(long, default_value_t = 0.1)]
    changed_fraction: f64,
    /// Steady load instead of rounds: run for this long (e.g. 90s, 30m) at --rate.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Reports per second in steady mode (terminals report in turn).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// HTTP/2 connections to each collector, shared by the simulated terminals.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Certificates per terminal: N or MIN-MAX.
    #[arg(long, default_value = "1-5", value_parser = parse_range)]
    certs: (usize, usize),
    /// Machine id prefix; distinct prefixes give distinct fleets on one database.
    #[arg(long)]
    machine_prefix: Option<String>,
    /// Seed of the certificate mix and of the change decisions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Timeout of one RPC attempt.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    rpc_timeout: Duration,
    /// Attempts per report before it counts as failed.
    #[arg(long, default_value_t = 100)]
    max_attempts: u32,
    /// Print the results as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Sample RSS (VmRSS/VmHWM) and open file descriptors of this process (the collector)
    /// every second.
    #[arg(long)]
    watch_pid: Option<u32>,
    /// Append one JSON line per acknowledged report to this file (machine id, report id,
    /// scan time in µs, outcome, replica, and the holdings sent as serial, path and key flag).
    /// Each line is written as soon as the acknowledgement arrives.
    #[arg(long)]
    ack_log: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unit must be ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: usize = a.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    let b: usize = b.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    if a == 0 || b < a {
        return Err(format!("{s:?}: need 1 <= MIN <= MAX"));
    }
    Ok((a, b))
}

/// One certificate as a terminal lists it.
#[derive(Clone)]
struct Item {
    der: Arc<Vec<u8>>,
    /// Serial number as the collector stores it (lowercase hex): unlike the DER, whose ECDSA
    /// signature is random, it is the same in two runs with one seed.
    serial: Arc<str>,
    path: String,
    has_key: Option<bool>,
}

/// A simulated terminal: two pre-generated holdings variants; a "changed" report flips between
/// them, so every change is a real renewal, removal or location change.
struct Terminal {
    machine_id: String,
    variants: [Vec<Item>; 2],
    current: AtomicU8,
    /// Reports sent so far (report ids are `<machine>-<seq>`).
    seq: AtomicU32,
    node_key: Mutex<String>,
    /// One report at a time per terminal, as a real agent does.
    busy: tokio::sync::Mutex<()>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    First,
    Unchanged,
    Changed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::First => "first",
            Kind::Unchanged => "unchanged",
            Kind::Changed => "changed",
        }
    }
}

/// Counters and latencies of one phase.
#[derive(Default)]
struct Stats {
    /// Latency of each successful attempt, µs, by kind.
    ok_latency_us: BTreeMap<Kind, Vec<u32>>,
    /// From the first attempt to the acknowledgement, including retries, µs.
    completion_us: Vec<u32>,
    /// Every unsuccessful attempt, by status code.
    errors: BTreeMap<String, u64>,
    /// Reports given up on, by the last status code.
    failed: BTreeMap<String, u64>,
    retries: u64,
    /// Acknowledgements by replica (index of its `--collector`).
    acked_by_collector: BTreeMap<usize, u64>,
    stored: u64,
    duplicate: u64,
    superseded: u64,
    accepted_certificates: u64,
    rejected_certificates: u64,
}

fn code_name(code: Code) -> String {
    format!("{code:?}")
}

/// As the agent does: a report id is idempotent, so anything transient is retried. `Unknown` is
/// how tonic reports a connection that broke mid-call (a collector killed after its commit).
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::Cancelled
    )
}

/// The delay before retry `attempt`: the server's advice (or exponential backoff from 100 ms,
/// capped at 10 s) plus up to half again as jitter, so retries spread out.
fn retry_delay(status: &Status, attempt: u32, rng: &mut impl Rng) -> Duration {
    let advice = status
        .metadata()
        .get(RETRY_AFTER_MS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let base = advice.unwrap_or_else(|| (100u64 << attempt.min(7)).min(10_000));
    Duration::from_millis(base + rng.random_range(0..=base / 2))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

fn latency_json(v: &mut [u32]) -> serde_json::Value {
    v.sort_unstable();
    serde_json::json!({
        "count": v.len(),
        "p50_ms": percentile(v, 0.50),
        "p90_ms": percentile(v, 0.90),
        "p99_ms": percentile(v, 0.99),
        "max_ms": percentile(v, 1.0),
    })
}

/// Generates the certificate mix: per terminal MIN..=MAX office certificates of
/// `KANAGAWA KOKUHOREN CA`, and a second variant differing by a renewal, a removal or a moved
/// file. One leaf key pair is shared: the collector parses certificates, it never checks keys,
/// and a fresh key per certificate would make generation dominate short runs.
fn generate_fleet(args: &Args, prefix: &str) -> Vec<Terminal> {
    let ca = certfleet_testsupport::TestCa::kanagawa();
    let issuer = ca.issuer();
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let now = time::OffsetDateTime::now_utc();

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = args.terminals.div_ceil(threads).max(1);
    let indices: Vec<usize> = (0..args.terminals).collect();
    let mut fleet: Vec<Terminal> = Vec::with_capacity(args.terminals);
    std::thread::scope(|scope| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .map(|part| {
                let (issuer, leaf_key) = (&issuer, &leaf_key);
                scope.spawn(move || {
                    part.iter()
                        .map(|&i| terminal(i, args, prefix, issuer, leaf_key, now))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            fleet.extend(h.join().expect("certificate generation thread"));
        }
    });
    fleet
}

fn terminal(
    i: usize,
    args: &Args,
    prefix: &str,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
    leaf_key: &rcgen::KeyPair,
    now: time::OffsetDateTime,
) -> Terminal {
    let mut rng = StdRng::seed_from_u64(args.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let cert =
        |office: u64, start_days: i64, days: i64, rng: &mut StdRng| -> (Arc<Vec<u8>>, Arc<str>) {
            let mut p = rcgen::CertificateParams::default();
            p.distinguished_name
                .push(rcgen::DnType::CommonName, format!("{office:010}"));
            p.distinguished_name
                .push(rcgen::DnType::OrganizationName, "KANAGAWA KOKUHOREN");
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            p.not_before = now - time::Duration::days(start_days);
            p.not_after = now + time::Duration::days(days);
            let mut serial: [u8; 16] = rng.random();
            serial[0] = (serial[0] & 0x7f) | 0x10;
            p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
            // The first byte is 0x10..=0x7f: no DER sign padding, so the collector's hex is this.
            let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
            (
                Arc::new(p.signed_by(leaf_key, issuer).expect("sign").der().to_vec()),
                hex.into(),
            )
        };
    let count = rng.random_range(args.certs.0..=args.certs.1);
    // Offices: a terminal holds certificates of its own office and, sometimes, of neighbours
    // (a shared reception PC), as the field survey found.
    let home_office = 1_000_000_000 + (i as u64 / 3);
    let mut a = Vec::with_capacity(count);
    for k in 0..count {
        let office = if k == 0 {
            home_office
        } else {
            home_office + rng.random_range(1..50)
        };
        let (der, serial) = cert(
            office,
            rng.random_range(1..1000),
            rng.random_range(-30..1100),
            &mut rng,
        );
        a.push(Item {
            der,
            serial,
            path: format!(r"C:\Users\user{k}\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates\{i:06}{k}"),
            has_key: Some(rng.random_bool(0.9)),
        });
    }
    let mut b = a.clone();
    let which = rng.random_range(0..b.len());
    match rng.random_range(0..100) {
        // Renewal: the new certificate of the same office is installed next to the old one.
        0..60 => {
            let (der, serial) = cert(home_office, 0, 1095, &mut rng);
            b.push(Item {
                der,
                serial,
                path: format!(r"C:\Users\user0\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates\{i:06}r"),
                has_key: Some(true),
            });
        }
        // Removal of an old certificate.
        60..85 if b.len() > 1 => {
            b.remove(which);
        }
        // The same certificate found elsewhere (profile moved, key re-linked).
        _ => {
            b[which].path.push_str(".moved");
            b[which].has_key = Some(!b[which].has_key.unwrap_or(false));
        }
    }
    Terminal {
        machine_id: format!("{prefix}-{i:06}"),
        variants: [a, b],
        current: AtomicU8::new(0),
        seq: AtomicU32::new(0),
        node_key: Mutex::new(String::new()),
        busy: tokio::sync::Mutex::new(()),
    }
}

fn facts(machine_id: &str) -> Option<pb::TerminalFacts> {
    Some(pb::TerminalFacts {
        machine_id: machine_id.to_owned(),
        hostname: format!("pc-{machine_id}"),
        os_name: "windows".into(),
        os_version: "10.0.19045".into(),
        agent_version: "loadgen".into(),
    })
}

/// Deterministic "does this terminal's n-th report change its holdings" decision.
fn changes(seed: u64, terminal: usize, seq: u32, fraction: f64) -> bool {
    let mut rng = StdRng::seed_from_u64(
        seed.wrapping_mul(31)
            ^ (terminal as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(seq).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
    );
    rng.random_bool(fraction.clamp(0.0, 1.0))
}

/// One collector replica: its connections and, after a connection-level failure, the moment
/// before which terminals prefer the other replicas (a load balancer's failed health check).
struct Replica {
    channels: Vec<Channel>,
    down_until: Mutex<Option<Instant>>,
}

/// How long a replica that failed at the connection level is avoided before it is tried again.
const REPLICA_HOLD_DOWN: Duration = Duration::from_secs(1);

struct Ctx {
    args: Args,
    replicas: Vec<Replica>,
    fleet: Vec<Terminal>,
    secret: String,
    stats: Mutex<Stats>,
    /// The acknowledgement log (`--ack-log`) and the instant its `t_s` are measured from.
    ack_log: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
    started: Instant,
}

impl Ctx {
    /// The replica terminal `i` uses for `attempt`: its own one (i mod n), moving on to the next
    /// replica on each retry, and skipping replicas that are held down while another is up.
    fn pick(&self, i: usize, attempt: u32) -> usize {
        let n = self.replicas.len();
        let first = (i + attempt as usize) % n;
        let now = Instant::now();
        (0..n)
            .map(|k| (first + k) % n)
            .find(|&r| {
                self.replicas[r]
                    .down_until
                    .lock()
                    .unwrap()
                    .is_none_or(|until| until <= now)
            })
            .unwrap_or(first)
    }

    fn client(&self, replica: usize, i: usize) -> InventoryClient<Channel> {
        let channels = &self.replicas[replica].channels;
        InventoryClient::new(channels[i % channels.len()].clone())
    }

    /// Holds `replica` down after a failure that says the connection, not the collector's
    /// answer, failed: no `retry-after-ms` advice, which every answer the collector itself
    /// gives with UNAVAILABLE or RESOURCE_EXHAUSTED carries.
    fn note_replica_failure(&self, replica: usize, status: &Status) {
        let transport = matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled
        ) && status.metadata().get(RETRY_AFTER_MS).is_none();
        if transport && self.replicas.len() > 1 {
            *self.replicas[replica].down_until.lock().unwrap() =
                Some(Instant::now() + REPLICA_HOLD_DOWN);
        }
    }

    async fn enroll(&self, i: usize) {
        let t = &self.fleet[i];
        let mut rng = StdRng::from_os_rng();
        let first = Instant::now();
        for attempt in 0..self.args.max_attempts {
            let started = Instant::now();
            let req = pb::EnrollRequest {
                enroll_secret: self.secret.clone(),
                terminal: facts(&t.machine_id),
            };
            let replica = self.pick(i, attempt);
            let result =
                tokio::time::timeout(self.args.rpc_timeout, self.client(replica, i).enroll(req))
                    .await;
            let status = match result {
                Ok(Ok(resp)) => {
                    *t.node_key.lock().unwrap() = resp.into_inner().node_key;
                    let mut s = self.stats.lock().unwrap();
                    s.ok_latency_us
                        .entry(Kind::First)
                        .or_default()
                        .push(micros(started.elapsed()));
                    s.completion_us.push(micros(first.elapsed()));
                    *s.acked_by_collector.entry(replica).or_default() += 1;
                    s.stored += 1;
                    return;
                }
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("client-side RPC timeout"),
            };
            self.note_replica_failure(replica, &status);
            if !self.note_error(&status, attempt) {
                return;
            }
            tokio::time::sleep(retry_delay(&status, attempt, &mut rng)).await;
        }
    }

    /// Counts a failed attempt; true when it is worth retrying.
    fn note_error(&self, status: &Status, attempt: u32) -> bool {
        let mut s = self.stats.lock().unwrap();
        *s.errors.entry(code_name(status.code())).or_default() += 1;
        let retry = retryable(status.code()) && attempt + 1 < self.args.max_attempts;
        if retry {
            s.retries += 1;
        } else {
            *s.failed.entry(code_name(status.code())).or_default() += 1;
            if s.failed.values().sum::<u64>() <= 5 {
                eprintln!("report failed: {:?}: {}", status.code(), status.message());
            }
        }
        retry
    }

    /// One report of terminal `i`, retried until acknowledged or given up.
    async fn report(&self, i: usize) {
        let t = &self.fleet[i];
        let _one_at_a_time = t.busy.lock().await;
        let seq = t.seq.fetch_add(1, Ordering::Relaxed);
        let kind = if seq == 0 {
            Kind::First
        } else if changes(self.args.seed, i, seq, self.args.changed_fraction) {
            t.current.fetch_xor(1, Ordering::Relaxed);
            Kind::Changed
        } else {
            Kind::Unchanged
        };
        let items = &t.variants[usize::from(t.current.load(Ordering::Relaxed))];
        // Whole microseconds: PostgreSQL keeps no more, so the acknowledgement log's scan time
        // compares exactly with the stored `last_scanned_at`.
        let scanned_us = Utc::now().timestamp_micros();
        let report_id = format!("{}-{seq}", t.machine_id);
        let request = pb::ReportRequest {
            report_id: report_id.clone(),
            terminal: facts(&t.machine_id),
            scanned_at: Some(prost_types::Timestamp {
                seconds: scanned_us.div_euclid(1_000_000),
                nanos: i32::try_from(scanned_us.rem_euclid(1_000_000) * 1000).unwrap_or(0),
            }),
            certificates: items
                .iter()
                .map(|it| pb::ReportedCertificate {
                    der: it.der.as_ref().clone(),
                    locations: vec![pb::Location {
                        source: pb::Source::ProfileFile as i32,
                        store: "My".into(),
                        user: "user".into(),
                        path: it.path.clone(),
                    }],
                    has_private_key: it.has_key,
                    friendly_name: String::new(),
                })
                .collect(),
            errors: vec![],
        };
        let key = format!("Bearer {}", t.node_key.lock().unwrap());
        let mut rng = StdRng::from_os_rng();
        let first = Instant::now();
        for attempt in 0..self.args.max_attempts {
            let mut req = tonic::Request::new(request.clone());
            req.metadata_mut()
                .insert("authorization", key.parse().expect("ASCII node key"));
            let started = Instant::now();
            let replica = self.pick(i, attempt);
            let result =
                tokio::time::timeout(self.args.rpc_timeout, self.client(replica, i).report(req))
                    .await;
            let status = match result {
                Ok(Ok(resp)) => {
                    let resp = resp.into_inner();
                    let outcome = if resp.duplicate {
                        "duplicate"
                    } else if resp.superseded {
                        "superseded"
                    } else {
                        "stored"
                    };
                    if let Some(log) = &self.ack_log {
                        let line = serde_json::json!({
                            "machine_id": t.machine_id,
                            "report_id": report_id,
                            "seq": seq,
                            "scanned_at_us": scanned_us,
                            "outcome": outcome,
                            "collector": replica,
                            "t_s": (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
                            "holdings": items.iter().map(|it| serde_json::json!({
                                "serial": &*it.serial,
                                "path": it.path,
                                "has_key": it.has_key,
                            })).collect::<Vec<_>>(),
                        });
                        let mut w = log.lock().unwrap();
                        // A line per acknowledgement, flushed at once: a test can follow the
                        // log while the run goes on, and a killed generator loses nothing
                        // it claimed.
                        writeln!(w, "{line}")
                            .and_then(|()| w.flush())
                            .unwrap_or_else(|e| fail(&format!("--ack-log: {e}")));
                    }
                    let mut s = self.stats.lock().unwrap();
                    *s.acked_by_collector.entry(replica).or_default() += 1;
                    s.ok_latency_us
                        .entry(kind)
                        .or_default()
                        .push(micros(started.elapsed()));
                    s.completion_us.push(micros(first.elapsed()));
                    if resp.duplicate {
                        s.duplicate += 1;
                    } else if resp.superseded {
                        s.superseded += 1;
                    } else {
                        s.stored += 1;
                    }
                    s.accepted_certificates += u64::from(resp.accepted_certificates);
                    s.rejected_certificates += resp.rejected.len() as u64;
                    return;
                }
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("client-side RPC timeout"),
            };
            self.note_replica_failure(replica, &status);
            if !self.note_error(&status, attempt) {
                return;
            }
            tokio::time::sleep(retry_delay(&status, attempt, &mut rng)).await;
        }
    }

    /// Takes the counters of the finished phase, leaving fresh ones.
    fn take_stats(&self) -> Stats {
        std::mem::take(&mut *self.stats.lock().unwrap())
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Runs `job(i)` for every terminal with `concurrency` workers.
async fn for_all(ctx: &Arc<Ctx>, enroll: bool) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..ctx.args.concurrency.max(1) {
        let (ctx, next) = (ctx.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ctx.fleet.len() {
                    return;
                }
                if enroll {
                    ctx.enroll(i).await;
                } else {
                    ctx.report(i).await;
                }
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        r.expect("worker task");
    }
}

fn phase_json(
    name: &str,
    stats: Stats,
    elapsed: Duration,
    extra: &serde_json::Value,
) -> serde_json::Value {
    let Stats {
        mut ok_latency_us,
        mut completion_us,
        errors,
        failed,
        retries,
        acked_by_collector,
        stored,
        duplicate,
        superseded,
        accepted_certificates,
        rejected_certificates,
    } = stats;
    let by_collector: serde_json::Map<String, serde_json::Value> = acked_by_collector
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    let acknowledged = stored + duplicate + superseded;
    let mut all: Vec<u32> = ok_latency_us.values().flatten().copied().collect();
    let by_kind: serde_json::Map<String, serde_json::Value> = ok_latency_us
        .iter_mut()
        .map(|(k, v)| (k.name().to_owned(), latency_json(v)))
        .collect();
    serde_json::json!({
        "phase": name,
        "elapsed_s": elapsed.as_secs_f64(),
        "acknowledged": acknowledged,
        "throughput_per_s": acknowledged as f64 / elapsed.as_secs_f64().max(1e-9),
        "stored": stored,
        "duplicate": duplicate,
        "superseded": superseded,
        "failed": failed,
        "failed_total": failed.values().sum::<u64>(),
        "errors_by_code": errors,
        "retries": retries,
        "acknowledged_by_collector": by_collector,
        "accepted_certificates": accepted_certificates,
        "rejected_certificates": rejected_certificates,
        "latency": latency_json(&mut all),
        "latency_by_kind": by_kind,
        "completion_latency": latency_json(&mut completion_us),
        "extra": extra,
    })
}

fn print_phase(p: &serde_json::Value) {
    let lat = |v: &serde_json::Value| {
        format!(
            "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
            v["p50_ms"].as_f64().unwrap_or(0.0),
            v["p90_ms"].as_f64().unwrap_or(0.0),
            v["p99_ms"].as_f64().unwrap_or(0.0),
            v["max_ms"].as_f64().unwrap_or(0.0),
            v["count"]
        )
    };
    println!(
        "== {}: {} acknowledged in {:.2} s = {:.0}/s (stored {}, duplicate {}, superseded {}, failed {}, retries {})",
        p["phase"].as_str().unwrap_or(""),
        p["acknowledged"],
        p["elapsed_s"].as_f64().unwrap_or(0.0),
        p["throughput_per_s"].as_f64().unwrap_or(0.0),
        p["stored"],
        p["duplicate"],
        p["superseded"],
        p["failed_total"],
        p["retries"],
    );
    println!("   latency      {}", lat(&p["latency"]));
    if let Some(m) = p["latency_by_kind"].as_object() {
        for (k, v) in m {
            println!("   {k:<12} {}", lat(v));
        }
    }
    println!("   completion   {}", lat(&p["completion_latency"]));
    if p["errors_by_code"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
    {
        println!("   errors by code {}", p["errors_by_code"]);
    }
    if p["acknowledged_by_collector"]
        .as_object()
        .is_some_and(|m| m.len() > 1)
    {
        println!(
            "   acknowledged by collector {}",
            p["acknowledged_by_collector"]
        );
    }
    if p["extra"].as_object().is_some_and(|m| !m.is_empty()) {
        println!("   {}", p["extra"]);
    }
}

/// One sample of the watched process: (seconds since start, VmRSS kB, VmHWM kB, open fds).
type Sample = (f64, u64, u64, usize);

/// VmRSS kB, VmHWM kB and open descriptors of `pid`.
fn sample_process(pid: u32) -> Option<(u64, u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    Some((field("VmRSS:"), field("VmHWM:"), fds))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let ca_pem = std::fs::read(&args.ca)
        .unwrap_or_else(|e| fail(&format!("--ca {}: {e}", args.ca.display())));
    let secret = std::fs::read_to_string(&args.enroll_secret_file)
        .unwrap_or_else(|e| {
            fail(&format!(
                "--enroll-secret-file {}: {e}",
                args.enroll_secret_file.display()
            ))
        })
        .trim()
        .to_owned();
    let prefix = args
        .machine_prefix
        .clone()
        .unwrap_or_else(|| format!("lg{:08x}", rand::random::<u32>()));

    let started = Instant::now();
    let fleet = generate_fleet(&args, &prefix);
    let cert_count: usize = fleet
        .iter()
        .map(|t| t.variants[0].len() + t.variants[1].len())
        .sum();
    eprintln!(
        "generated {} terminals ({cert_count} certificates incl. change variants) in {:.1} s",
        fleet.len(),
        started.elapsed().as_secs_f64()
    );

    let mut replicas = Vec::new();
    for url in &args.collector {
        let mut endpoint = Endpoint::from_shared(url.clone())
            .unwrap_or_else(|e| fail(&format!("--collector {url}: {e}")))
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true);
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca_pem));
            if let Some(d) = &args.tls_domain {
                tls = tls.domain_name(d.clone());
            }
            endpoint = endpoint
                .tls_config(tls)
                .unwrap_or_else(|e| fail(&format!("TLS: {e}")));
        }
        let mut connecting = tokio::task::JoinSet::new();
        for _ in 0..args.connections.max(1) {
            let ep = endpoint.clone();
            connecting.spawn(async move { ep.connect().await });
        }
        let mut channels = Vec::new();
        while let Some(r) = connecting.join_next().await {
            match r.expect("connect task") {
                Ok(c) => channels.push(c),
                Err(e) => fail(&format!("connect to {url}: {e} ({e:?})")),
            }
        }
        replicas.push(Replica {
            channels,
            down_until: Mutex::new(None),
        });
    }
    let ack_log = args.ack_log.as_ref().map(|path| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| fail(&format!("--ack-log {}: {e}", path.display())));
        Mutex::new(std::io::BufWriter::new(file))
    });

    let watch = args.watch_pid;
    let ctx = Arc::new(Ctx {
        args,
        replicas,
        fleet,
        secret,
        stats: Mutex::new(Stats::default()),
        ack_log,
        started: Instant::now(),
    });

    // Memory and descriptor samples of the collector, once a second.
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let sampler = watch.map(|pid| {
        let samples = samples.clone();
        let t0 = Instant::now();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some((rss, hwm, fds)) = sample_process(pid) {
                    samples
                        .lock()
                        .unwrap()
                        .push((t0.elapsed().as_secs_f64(), rss, hwm, fds));
                }
            }
        })
    });

    let mut phases = Vec::new();
    let t = Instant::now();
    for_all(&ctx, true).await;
    phases.push(phase_json(
        "enroll",
        ctx.take_stats(),
        t.elapsed(),
        &serde_json::json!({}),
    ));
    if !ctx.args.json {
        print_phase(&phases[0]);
    }

    let run_started = Instant::now();
    if let Some(duration) = ctx.args.duration {
        phases.push(steady(&ctx, duration).await);
    } else {
        for round in 0..ctx.args.rounds {
            let t = Instant::now();
            for_all(&ctx, false).await;
            phases.push(phase_json(
                &format!("round {}", round + 1),
                ctx.take_stats(),
                t.elapsed(),
                &serde_json::json!({}),
            ));
        }
    }
    let total_elapsed = run_started.elapsed();
    if !ctx.args.json {
        for p in &phases[1..] {
            print_phase(p);
        }
    }
    if let Some(s) = sampler {
        s.abort();
    }

    let report_phases = &phases[1..];
    let sum = |key: &str| -> u64 {
        report_phases
            .iter()
            .map(|p| p[key].as_u64().unwrap_or(0))
            .sum()
    };
    // Per-key totals of a map field over the report phases (errors by code, acks by replica).
    let sum_map = |key: &str| -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for p in report_phases {
            for (k, v) in p[key].as_object().into_iter().flatten() {
                *total.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
            }
        }
        total
    };
    let failed = sum("failed_total") + phases[0]["failed_total"].as_u64().unwrap_or(0);
    let expected_holdings: usize = ctx
        .fleet
        .iter()
        .filter(|t| t.seq.load(Ordering::Relaxed) > 0)
        .map(|t| t.variants[usize::from(t.current.load(Ordering::Relaxed))].len())
        .sum();
    let samples = samples.lock().unwrap().clone();
    let watched = if samples.is_empty() {
        serde_json::Value::Null
    } else {
        let peak_rss = samples.iter().map(|s| s.1).max().unwrap_or(0);
        let hwm = samples.iter().map(|s| s.2).max().unwrap_or(0);
        let (fd_min, fd_max) = (
            samples.iter().map(|s| s.3).min().unwrap_or(0),
            samples.iter().map(|s| s.3).max().unwrap_or(0),
        );
        // Every 10th sample keeps the curve readable for long soaks.
        let step = (samples.len() / 60).max(1);
        let curve: Vec<_> = samples
            .iter()
            .step_by(step)
            .map(|s| serde_json::json!([(s.0 * 10.0).round() / 10.0, s.1, s.3]))
            .collect();
        serde_json::json!({
            "pid": watch,
            "rss_kb_first": samples.first().map(|s| s.1),
            "rss_kb_last": samples.last().map(|s| s.1),
            "rss_kb_peak_sampled": peak_rss,
            "vm_hwm_kb": hwm,
            "fds_min": fd_min,
            "fds_max": fd_max,
            "fds_last": samples.last().map(|s| s.3),
            "curve_t_rss_kb_fds": curve,
        })
    };
    let summary = serde_json::json!({
        "collector": ctx.args.collector.join(" "),
        "collectors": ctx.args.collector,
        "machine_prefix": prefix,
        "terminals": ctx.fleet.len(),
        "concurrency": ctx.args.concurrency,
        "connections": ctx.replicas.iter().map(|r| r.channels.len()).sum::<usize>(),
        "certs": [ctx.args.certs.0, ctx.args.certs.1],
        "changed_fraction": ctx.args.changed_fraction,
        "reports_elapsed_s": total_elapsed.as_secs_f64(),
        "reports_acknowledged": sum("acknowledged"),
        "reports_stored": sum("stored"),
        "reports_duplicate": sum("duplicate"),
        "reports_superseded": sum("superseded"),
        "reports_failed": failed,
        "retries": sum("retries"),
        "reports_errors_by_code": sum_map("errors_by_code"),
        "reports_acknowledged_by_collector": sum_map("acknowledged_by_collector"),
        "throughput_per_s": sum("acknowledged") as f64 / total_elapsed.as_secs_f64().max(1e-9),
        "expected_live_holdings": expected_holdings,
        "watched_process": watched,
        "phases": phases,
    });
    if ctx.args.json {
        println!("{}", serde_json::to_string_pretty(&summary).expect("JSON"));
    } else {
        println!(
            "== total: {} reports acknowledged in {:.2} s = {:.0}/s; failed {}; retries {}; live holdings expected {}",
            summary["reports_acknowledged"],
            total_elapsed.as_secs_f64(),
            summary["throughput_per_s"].as_f64().unwrap_or(0.0),
            failed,
            summary["retries"],
            expected_holdings
        );
        if !watched.is_null() {
            println!(
                "   collector pid {}: RSS first {} kB, last {} kB, VmHWM {} kB; fds {}..{}",
                watched["pid"],
                watched["rss_kb_first"],
                watched["rss_kb_last"],
                watched["vm_hwm_kb"],
                watched["fds_min"],
                watched["fds_max"]
            );
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Steady load: report `rate` times a second for `duration`, terminals in turn, at most
/// `concurrency` in flight. Late starts (the collector cannot keep up) are counted, not hidden.
async fn steady(ctx: &Arc<Ctx>, duration: Duration) -> serde_json::Value {
    let total = (duration.as_secs_f64() * ctx.args.rate).round() as u64;
    let slots = Arc::new(tokio::sync::Semaphore::new(ctx.args.concurrency.max(1)));
    let started = Instant::now();
    let tick = Duration::from_secs_f64(1.0 / ctx.args.rate.max(1e-6));
    let mut late = 0u64;
    let mut max_lag = Duration::ZERO;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..total {
        let due = started + tick.mul_f64(k as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
        let lag = started.elapsed().saturating_sub(due - started);
        if lag > Duration::from_millis(100) {
            late += 1;
        }
        max_lag = max_lag.max(lag);
        let ctx = ctx.clone();
        let i = usize::try_from(k).unwrap_or(0) % ctx.fleet.len();
        tasks.spawn(async move {
            ctx.report(i).await;
            drop(permit);
        });
        // Reap finished tasks so a 30-minute soak does not keep a million handles.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    phase_json(
        "steady",
        ctx.take_stats(),
        started.elapsed(),
        &serde_json::json!({
            "target_rate_per_s": ctx.args.rate,
            "started_late_over_100ms": late,
            "max_start_lag_ms": max_lag.as_secs_f64() * 1000.0,
        }),
    )
}

fn fail(message: &str) -> ! {
    eprintln!("certfleet-loadgen: {message}");
    std::process::exit(2);
}
