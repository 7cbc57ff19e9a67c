//! A malicious *enrolled* agent against a real collector process on PostgreSQL: every hostile
//! request is refused with an exact status code and a clear message, the collector keeps
//! serving, and an innocent terminal's stored state does not move.

use std::path::Path;

use certfleet_e2e::{
    CollectorProcess, TestCa, agent_cmd, collector_cmd, describe, http_get, step, write_cert,
};
use certfleet_proto::v1 as pb;
use certfleet_testsupport::PgCluster;
use chrono::{Duration, Utc};
use prost::Message;
use prost::bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

/// Sends and receives raw bytes, so the test can put on the wire what no honest client would.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// `Report` with a hand-made body.
async fn raw_report(
    channel: &Channel,
    key: &str,
    body: Vec<u8>,
) -> Result<pb::ReportResponse, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/certfleet.v1.Inventory/Report");
    let resp = grpc.unary(with_key(body, key), path, RawCodec).await?;
    Ok(pb::ReportResponse::decode(resp.into_inner().as_slice())
        .expect("collector answers a valid ReportResponse"))
}

/// `Report` with a hand-made body and any `authorization` value (or none).
async fn raw_report_auth(
    channel: &Channel,
    authorization: Option<&str>,
    body: Vec<u8>,
) -> Result<pb::ReportResponse, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/certfleet.v1.Inventory/Report");
    let mut req = tonic::Request::new(body);
    if let Some(value) = authorization {
        req.metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    let resp = grpc.unary(req, path, RawCodec).await?;
    Ok(pb::ReportResponse::decode(resp.into_inner().as_slice())
        .expect("collector answers a valid ReportResponse"))
}

/// Asks the reflection service to list the services: `Ok` when it is served.
async fn reflection_lists_services(channel: &Channel) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    );
    // ServerReflectionRequest { list_services = "" } (field 7).
    let requests = tonic::codegen::tokio_stream::iter(vec![vec![0x3a, 0x00]]);
    let mut answers = grpc
        .streaming(tonic::Request::new(requests), path, RawCodec)
        .await?
        .into_inner();
    answers.message().await?;
    Ok(())
}

fn with_key<T>(msg: T, key: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    req
}

fn facts(machine: &str) -> Option<pb::TerminalFacts> {
    Some(pb::TerminalFacts {
        machine_id: machine.into(),
        hostname: format!("host-{machine}"),
        os_name: "test".into(),
        ..Default::default()
    })
}

fn ts(t: chrono::DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn cert(der: Vec<u8>, path: &str) -> pb::ReportedCertificate {
    pb::ReportedCertificate {
        der,
        locations: vec![pb::Location {
            source: pb::Source::ProfileFile as i32,
            store: "My".into(),
            user: "u".into(),
            path: path.into(),
        }],
        has_private_key: Some(true),
        friendly_name: String::new(),
    }
}

fn report(
    id: &str,
    machine: &str,
    at: chrono::DateTime<Utc>,
    certificates: Vec<pb::ReportedCertificate>,
) -> pb::ReportRequest {
    pb::ReportRequest {
        report_id: id.into(),
        terminal: facts(machine),
        scanned_at: ts(at),
        certificates,
        errors: vec![],
    }
}

/// One row per live or removed holding of `machine`, everything that could be overwritten.
fn holdings(database_url: &str, machine: &str) -> String {
    psql(
        database_url,
        &format!(
            "SELECT h.sha256, h.locations::text, h.has_private_key, h.friendly_name, h.first_seen, h.last_seen, h.removed_at, \
             t.hostname, t.last_scanned_at, t.last_report_at, t.holdings_digest \
             FROM terminals t LEFT JOIN holdings h ON h.terminal_id = t.id WHERE t.machine_id = '{machine}' ORDER BY h.sha256"
        ),
    )
}

fn psql(database_url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([database_url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql {sql}: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn live_count(database_url: &str, machine: &str) -> i64 {
    psql(
        database_url,
        &format!("SELECT count(*) FROM holdings h JOIN terminals t ON t.id = h.terminal_id WHERE t.machine_id = '{machine}' AND h.removed_at IS NULL"),
    )
    .trim()
    .parse()
    .unwrap()
}

/// Protobuf varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field `number` holding `bytes`, whatever the proto says the field is.
fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(number << 3 | 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn expect_status(
    result: Result<pb::ReportResponse, Status>,
    code: Code,
    message_part: &str,
    case: &str,
) {
    let err = result.expect_err(case);
    assert_eq!(err.code(), code, "{case}: {err:?}");
    assert!(
        err.message().contains(message_part),
        "{case}: message {:?} lacks {message_part:?}",
        err.message()
    );
}

/// The attack's state shared by its steps: the attacker's connection and node key, and the
/// certificates it plays with.
struct Attack {
    database_url: String,
    channel: Channel,
    client: pb::inventory_client::InventoryClient<Channel>,
    secret: String,
    /// The attacker's own node key (it is a properly enrolled terminal).
    key: String,
    now: chrono::DateTime<Utc>,
    der_a: Vec<u8>,
    der_b: Vec<u8>,
    der_c: Vec<u8>,
    /// The innocent terminal's id, which no refusal may reveal.
    innocent_id: String,
    /// The collector's `init` directory (CLI commands need its config).
    config: std::path::PathBuf,
}

impl Attack {
    fn enroll(&self, machine: &str) -> pb::EnrollRequest {
        pb::EnrollRequest {
            enroll_secret: self.secret.clone(),
            terminal: facts(machine),
        }
    }

    /// A well-formed report of the attacker: the base of the malformed ones.
    fn base(&self) -> pb::ReportRequest {
        report(
            "evil-raw",
            "m-evil",
            self.now - Duration::seconds(30),
            vec![cert(self.der_a.clone(), "a")],
        )
    }
}

/// Everything the attack runs against.
struct Scene {
    collector: CollectorProcess,
    root: tempfile::TempDir,
    cx: Attack,
    innocent: pb::EnrollResponse,
    /// The innocent terminal's stored state before the attack.
    innocent_before: String,
}

/// A collector (from `init`) on PostgreSQL; an innocent terminal that has reported once; the
/// attacker, a properly enrolled terminal.
async fn setup(pg: &PgCluster) -> Scene {
    let database_url = pg.fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("collector");
    let out = collector_cmd(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--san",
        "localhost",
        "--san",
        "127.0.0.1",
    ]);
    assert!(out.status.success(), "init: {}", describe(&out));
    let file = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    // The attacker sends dozens of reports in seconds to show each refusal; the per-terminal
    // rate, which would stop it after 12, is shown by the locked-down scenario instead.
    let config = std::fs::read_to_string(file("collector.toml")).unwrap();
    std::fs::write(
        file("collector.toml"),
        config.replacen(
            "[limits]\n",
            "[limits]\nreports_per_terminal_per_hour = 0\n",
            1,
        ),
    )
    .unwrap();
    let collector = CollectorProcess::serve(&[
        "--config",
        &file("collector.toml"),
        "--database-url",
        &database_url,
    ]);
    let ca_pem = std::fs::read(file("ca.pem")).unwrap();
    let secret = std::fs::read_to_string(file("enroll-secret.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca_pem))
        .domain_name("localhost");
    let channel =
        Endpoint::from_shared(format!("https://127.0.0.1:{}", collector.grpc_addr.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .expect("connect");
    let mut client = pb::inventory_client::InventoryClient::new(channel.clone());

    let now = Utc::now();
    let ca = TestCa::kanagawa();
    let office_der =
        |office| ca.office_cert_der(office, now - Duration::days(30), now + Duration::days(700));
    let (der_a, der_b, der_c) = (
        office_der("1000000001"),
        office_der("1000000002"),
        office_der("1000000003"),
    );

    // The innocent terminal reports first; its stored state is the reference.
    let enroll = |machine: &str| pb::EnrollRequest {
        enroll_secret: secret.clone(),
        terminal: facts(machine),
    };
    let innocent = client
        .enroll(enroll("m-innocent"))
        .await
        .expect("enroll innocent")
        .into_inner();
    let r = client
        .report(with_key(
            report(
                "innocent-1",
                "m-innocent",
                now - Duration::minutes(5),
                vec![cert(der_c.clone(), "c")],
            ),
            &innocent.node_key,
        ))
        .await
        .expect("innocent report")
        .into_inner();
    assert_eq!(
        (r.accepted_certificates, r.duplicate, r.superseded),
        (1, false, false)
    );
    let innocent_before = holdings(&database_url, "m-innocent");
    assert!(!innocent_before.trim().is_empty());

    // The attacker: a properly enrolled terminal.
    let evil = client
        .enroll(enroll("m-evil"))
        .await
        .expect("enroll attacker")
        .into_inner();

    let cx = Attack {
        database_url: database_url.clone(),
        channel: channel.clone(),
        client,
        secret,
        key: evil.node_key,
        now,
        der_a,
        der_b,
        der_c,
        innocent_id: innocent.terminal_id.clone(),
        config: dir.join("collector.toml"),
    };
    Scene {
        collector,
        root,
        cx,
        innocent,
        innocent_before,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_enrolled_agent_is_refused_and_changes_nothing_for_others() {
    let pg = PgCluster::start();
    let Scene {
        collector,
        root,
        mut cx,
        innocent,
        innocent_before,
    } = step("setup: collector, innocent terminal, attacker", setup(&pg)).await;
    step(
        "re-enrolling under the innocent terminal's machine id is refused",
        takeover_by_reenrollment_is_refused(&mut cx),
    )
    .await;
    step(
        "a node key cannot write another machine id",
        another_machine_id_is_refused(&mut cx),
    )
    .await;
    step(
        "replayed and reordered snapshots are stored once, never rolled back",
        replayed_and_reordered_snapshots_are_stored_once(&mut cx),
    )
    .await;
    step(
        "a message above max_message_bytes is refused",
        oversized_message_never_reaches_the_service(&mut cx),
    )
    .await;
    step(
        "bytes that are not a ReportRequest are refused",
        bytes_that_are_not_a_report_are_refused(&mut cx),
    )
    .await;
    step(
        "invalid UTF-8 in string fields is refused",
        invalid_utf8_strings_are_refused(&mut cx),
    )
    .await;
    step(
        "DER bombs are refused per certificate",
        der_bombs_are_refused_per_certificate(&mut cx),
    )
    .await;
    step(
        "too many certificates in one report are refused",
        too_many_certificates_are_refused(&mut cx),
    )
    .await;
    step(
        "oversized strings and incomplete reports are refused",
        oversized_strings_and_whole_report_problems_are_refused(&mut cx),
    )
    .await;
    step(
        "agent strings with control, bidi or markup characters are refused, naming the field",
        agent_strings_are_checked(&mut cx),
    )
    .await;
    step(
        "scan errors are stored up to their byte budget",
        scan_errors_are_capped(&mut cx),
    )
    .await;
    step(
        "a report id another terminal uses is not taken from it",
        report_ids_are_per_terminal(&mut cx),
    )
    .await;
    step(
        "missing and malformed node keys are refused before the message is read",
        bad_keys_are_refused_unread(&mut cx),
    )
    .await;
    step(
        "after a reset only the one-time token claims the machine id",
        reset_needs_the_token(&mut cx),
    )
    .await;
    step(
        "reflection is served by default",
        reflection_is_on_by_default(&mut cx),
    )
    .await;
    step(
        "unknown, missing and revoked node keys are refused",
        unknown_missing_and_revoked_keys_are_refused(&mut cx),
    )
    .await;

    // The collector is unaffected: alive, healthy, no panic, and a normal agent reports fine.
    step(
        "the collector and the innocent terminal are unaffected",
        collector_is_unaffected(
            &mut cx,
            &collector,
            root.path(),
            &innocent,
            &innocent_before,
        ),
    )
    .await;
    assert!(collector.terminate(), "graceful shutdown after the attack");
}

/// Enrolling again under the innocent terminal's machine id (the enroll secret is shared by the
/// whole fleet) must not hand over its node key, with or without the attacker's own key
/// presented.
async fn takeover_by_reenrollment_is_refused(cx: &mut Attack) {
    let err = cx
        .client
        .enroll(cx.enroll("m-innocent"))
        .await
        .expect_err("take-over by re-enrollment");
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("already enrolled"), "{err:?}");
    assert!(
        !err.message().contains(&cx.innocent_id),
        "the answer names the innocent terminal's id: {err:?}"
    );
    let err = cx
        .client
        .enroll(with_key(cx.enroll("m-innocent"), &cx.key))
        .await
        .expect_err("take-over with another terminal's key");
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
}

/// Wrong machine id: its node key cannot write another terminal's data.
async fn another_machine_id_is_refused(cx: &mut Attack) {
    let err = cx
        .client
        .report(with_key(
            report(
                "evil-as-innocent",
                "m-innocent",
                cx.now,
                vec![cert(cx.der_a.clone(), "x")],
            ),
            &cx.key,
        ))
        .await
        .expect_err("foreign machine id");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("another machine id"), "{err:?}");
}

/// Replayed and reordered snapshots: newer first, then an older one, then both replayed.
async fn replayed_and_reordered_snapshots_are_stored_once(cx: &mut Attack) {
    let newer = report(
        "evil-newer",
        "m-evil",
        cx.now - Duration::minutes(1),
        vec![cert(cx.der_a.clone(), "a"), cert(cx.der_b.clone(), "b")],
    );
    let older = report(
        "evil-older",
        "m-evil",
        cx.now - Duration::hours(1),
        vec![cert(cx.der_a.clone(), "a")],
    );
    let r = cx
        .client
        .report(with_key(newer.clone(), &cx.key))
        .await
        .expect("newer")
        .into_inner();
    assert_eq!(
        (r.accepted_certificates, r.duplicate, r.superseded),
        (2, false, false)
    );
    let r = cx
        .client
        .report(with_key(older.clone(), &cx.key))
        .await
        .expect("older")
        .into_inner();
    assert!(
        r.superseded && !r.duplicate,
        "an older snapshot is recorded but does not roll back: {r:?}"
    );
    for replay in [&newer, &older, &newer] {
        let r = cx
            .client
            .report(with_key(replay.clone(), &cx.key))
            .await
            .expect("replay")
            .into_inner();
        assert!(r.duplicate, "a replayed report id is stored once: {r:?}");
    }
    assert_eq!(
        live_count(&cx.database_url, "m-evil"),
        2,
        "holdings stay at the newest snapshot"
    );
    assert_eq!(
        psql(
            &cx.database_url,
            "SELECT count(*) FROM reports WHERE report_id LIKE 'evil-%'"
        )
        .trim(),
        "2"
    );
}

/// A message above max_message_bytes (4 MiB by default) never reaches the service.
async fn oversized_message_never_reaches_the_service(cx: &mut Attack) {
    let huge = report(
        "evil-huge",
        "m-evil",
        cx.now,
        vec![cert(vec![0x30; 5 * 1024 * 1024], "h")],
    );
    let err = cx
        .client
        .report(with_key(huge, &cx.key))
        .await
        .expect_err("oversized");
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("too large"), "{err:?}");
}

/// Bytes that are not a ReportRequest. tonic maps a protobuf decode failure to INTERNAL with
/// prost's reason; gRPC's status-code table prescribes INTERNAL for "error parsing request proto",
/// every gRPC implementation does the same, and the message names the problem, so the collector
/// keeps this behaviour rather than a custom codec.
async fn bytes_that_are_not_a_report_are_refused(cx: &mut Attack) {
    let decode_error = "failed to decode Protobuf message";
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    expect_status(
        raw_report(&cx.channel, &cx.key, garbage).await,
        Code::Internal,
        decode_error,
        "garbage bytes",
    );
    expect_status(
        raw_report(&cx.channel, &cx.key, vec![0x22, 0xff, 0xff, 0xff, 0x0f]).await,
        Code::Internal,
        decode_error,
        "truncated length",
    );
    // Unknown groups nested 100k deep: prost's recursion limit stops them, no stack overflow.
    let mut nested = Vec::new();
    for _ in 0..100_000 {
        varint(99 << 3 | 3, &mut nested);
    }
    for _ in 0..100_000 {
        varint(99 << 3 | 4, &mut nested);
    }
    expect_status(
        raw_report(&cx.channel, &cx.key, nested).await,
        Code::Internal,
        "recursion limit",
        "nested groups",
    );
    // Deeply nested length-delimited unknown fields are skipped without recursion: accepted.
    let mut deep = Vec::new();
    for _ in 0..2_000 {
        deep = field(98, &deep);
    }
    let mut body = cx.base().encode_to_vec();
    body.extend(deep);
    let r = raw_report(&cx.channel, &cx.key, body)
        .await
        .expect("unknown fields are ignored");
    assert!(
        !r.duplicate && !r.superseded && r.accepted_certificates == 1,
        "stored: {r:?}"
    );
}

/// Invalid UTF-8 where the proto says string: at top level and inside nested messages.
async fn invalid_utf8_strings_are_refused(cx: &mut Attack) {
    let mut body = field(1, b"evil-\xff\xfe");
    let mut rest = cx.base();
    rest.report_id.clear();
    body.extend(rest.encode_to_vec());
    expect_status(
        raw_report(&cx.channel, &cx.key, body).await,
        Code::Internal,
        "not UTF-8",
        "report_id",
    );
    let mut body = cx.base();
    body.certificates.clear();
    let mut body = body.encode_to_vec();
    let mut location = field(2, b"My");
    location.extend(field(4, b"C:\\\xc3\x28"));
    let mut item = field(1, &cx.der_a);
    item.extend(field(2, &location));
    body.extend(field(4, &item));
    expect_status(
        raw_report(&cx.channel, &cx.key, body).await,
        Code::Internal,
        "not UTF-8",
        "location path",
    );
    let mut body = field(
        2,
        &[field(1, b"m-evil"), field(2, b"\xed\xa0\x80")].concat(),
    );
    let mut rest = cx.base();
    rest.terminal = None;
    body.extend(rest.encode_to_vec());
    expect_status(
        raw_report(&cx.channel, &cx.key, body).await,
        Code::Internal,
        "not UTF-8",
        "hostname (UTF-16 surrogate)",
    );
}

/// DER bombs: each refused by index with its reason, the honest certificate stored.
async fn der_bombs_are_refused_per_certificate(cx: &mut Attack) {
    let huge_length = vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00];
    let mut nested_der = vec![0x05, 0x00];
    while nested_der.len() < 60_000 {
        let mut len = Vec::new();
        let n = nested_der.len();
        if n < 0x80 {
            len.push(n as u8);
        } else if n < 0x100 {
            len.extend([0x81, n as u8]);
        } else {
            len.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        nested_der = [vec![0x30], len, nested_der].concat();
    }
    let mut too_big = vec![0x30, 0x83, 0x01, 0x00, 0x00];
    too_big.resize(64 * 1024 + 1, 0x41);
    let truncated = cx.der_b[..cx.der_b.len() / 2].to_vec();
    let bombs = report(
        "evil-bombs",
        "m-evil",
        cx.now - Duration::seconds(10),
        vec![
            cert(huge_length, "1"),
            cert(nested_der, "2"),
            cert(too_big, "3"),
            cert(truncated, "4"),
            cert(cx.der_b.clone(), "ok"),
            cert(Vec::new(), "5"),
        ],
    );
    let r = cx
        .client
        .report(with_key(bombs, &cx.key))
        .await
        .expect("bombs are per-item errors")
        .into_inner();
    assert_eq!(r.accepted_certificates, 1, "{r:?}");
    let rejected: Vec<u32> = r.rejected.iter().map(|x| x.index).collect();
    assert_eq!(rejected, vec![0, 1, 2, 3, 5], "{r:?}");
    for x in &r.rejected {
        assert!(
            !x.reason.trim().is_empty() && x.reason.len() < 500,
            "a short, clear reason: {x:?}"
        );
    }
    assert!(
        r.rejected[2].reason.contains("65536-byte limit"),
        "{:?}",
        r.rejected[2]
    );
    assert_eq!(
        live_count(&cx.database_url, "m-evil"),
        1,
        "the bomb snapshot is the newest: only the honest certificate"
    );
}

/// 100,000 certificates in one report (under the message limit): refused as a whole.
async fn too_many_certificates_are_refused(cx: &mut Attack) {
    let many = report(
        "evil-many",
        "m-evil",
        cx.now,
        (0..100_000)
            .map(|_| pb::ReportedCertificate {
                der: vec![0x30],
                ..Default::default()
            })
            .collect(),
    );
    assert!(many.encoded_len() < 4 * 1024 * 1024);
    let err = cx
        .client
        .report(with_key(many, &cx.key))
        .await
        .expect_err("100k certificates");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message()
            .contains("100000 certificates, more than the limit of 1000"),
        "{err:?}"
    );
    // …and 100,000 real certificates do not fit in a message at all.
    let many_real = report(
        "evil-many-real",
        "m-evil",
        cx.now,
        vec![cert(cx.der_a.clone(), "a"); 100_000],
    );
    let err = cx
        .client
        .report(with_key(many_real, &cx.key))
        .await
        .expect_err("100k real certificates");
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
}

/// Oversized strings and other whole-report problems.
async fn oversized_strings_and_whole_report_problems_are_refused(cx: &mut Attack) {
    let mut long_id = cx.base();
    long_id.report_id = "x".repeat(129);
    expect_status(
        cx.client
            .report(with_key(long_id, &cx.key))
            .await
            .map(|r| r.into_inner()),
        Code::InvalidArgument,
        "report_id is 129 bytes",
        "long report id",
    );
    let mut long_host = cx.base();
    long_host.terminal.as_mut().unwrap().hostname = "h".repeat(100_000);
    expect_status(
        cx.client
            .report(with_key(long_host, &cx.key))
            .await
            .map(|r| r.into_inner()),
        Code::InvalidArgument,
        "terminal.hostname",
        "long hostname",
    );
    let mut no_time = cx.base();
    no_time.report_id = "evil-no-time".into();
    no_time.scanned_at = None;
    expect_status(
        cx.client
            .report(with_key(no_time, &cx.key))
            .await
            .map(|r| r.into_inner()),
        Code::InvalidArgument,
        "scanned_at",
        "no scan time",
    );
    let mut locations = cx.base();
    locations.report_id = "evil-locations".into();
    locations.certificates[0].locations = vec![pb::Location::default(); 65];
    let r = cx
        .client
        .report(with_key(locations, &cx.key))
        .await
        .expect("too many locations is per item")
        .into_inner();
    assert_eq!(r.rejected.len(), 1);
    assert!(r.rejected[0].reason.contains("locations"), "{r:?}");
}

/// Hostnames keep to hostname characters; control and bidi characters are refused in every
/// string, as INVALID_ARGUMENT naming the field (a NUL used to reach PostgreSQL and come back
/// INTERNAL, which agents retry forever); certificate strings reject only their certificate.
async fn agent_strings_are_checked(cx: &mut Attack) {
    for (hostname, case) in [
        ("<!channel> <https://evil.example|renew>", "Slack markup"),
        ("pc-01\nRenew at https://evil.example", "newline"),
        ("pc\u{0}01", "NUL"),
        ("pc\u{202e}10", "bidi override"),
    ] {
        let mut enroll = cx.enroll("m-strings");
        enroll.terminal.as_mut().unwrap().hostname = hostname.into();
        let err = cx.client.enroll(enroll).await.expect_err(case);
        assert_eq!(err.code(), Code::InvalidArgument, "{case}: {err:?}");
        assert!(
            err.message().starts_with("terminal.hostname"),
            "{case}: {err:?}"
        );
        let mut r = cx.base();
        r.report_id = format!("evil-host-{}", hostname.len());
        r.terminal.as_mut().unwrap().hostname = hostname.into();
        expect_status(
            cx.client
                .report(with_key(r, &cx.key))
                .await
                .map(|r| r.into_inner()),
            Code::InvalidArgument,
            "terminal.hostname",
            case,
        );
    }
    let mut r = cx.base();
    r.report_id = "evil-os".into();
    r.terminal.as_mut().unwrap().os_version = "10.0\u{0}".into();
    expect_status(
        cx.client
            .report(with_key(r, &cx.key))
            .await
            .map(|r| r.into_inner()),
        Code::InvalidArgument,
        "terminal.os_version contains U+0000",
        "NUL in os_version",
    );
    let mut r = cx.base();
    r.report_id = "evil-id\u{0}".into();
    expect_status(
        cx.client
            .report(with_key(r, &cx.key))
            .await
            .map(|r| r.into_inner()),
        Code::InvalidArgument,
        "report_id contains U+0000",
        "NUL in report_id",
    );
    // Per certificate: a NUL in the friendly name, in a path, and in the DER's commonName.
    let ca = TestCa::kanagawa();
    let nul_cn = ca.office_cert_der(
        "10000\u{0}0004",
        cx.now - Duration::days(1),
        cx.now + Duration::days(100),
    );
    let mut named = cert(cx.der_b.clone(), "named");
    named.friendly_name = "renew\u{0}now".into();
    let mut pathed = cert(cx.der_b.clone(), "x");
    pathed.locations[0].path = "C:\\certs\u{0}.cer".into();
    let r = cx
        .client
        .report(with_key(
            report(
                "evil-cert-strings",
                "m-evil",
                cx.now - Duration::seconds(5),
                vec![
                    named,
                    pathed,
                    cert(nul_cn, "cn"),
                    cert(cx.der_a.clone(), "ok"),
                ],
            ),
            &cx.key,
        ))
        .await
        .expect("certificate strings are per-item problems")
        .into_inner();
    let rejected: Vec<(u32, &str)> = r
        .rejected
        .iter()
        .map(|x| (x.index, x.reason.as_str()))
        .collect();
    assert_eq!(
        rejected.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "{rejected:?}"
    );
    assert!(
        rejected[0].1.starts_with("friendly_name contains U+0000"),
        "{rejected:?}"
    );
    assert!(
        rejected[1]
            .1
            .starts_with("locations[0].path contains U+0000"),
        "{rejected:?}"
    );
    assert!(rejected[2].1.contains("U+0000"), "{rejected:?}");
    assert_eq!(r.accepted_certificates, 1);
}

/// A megabyte of scan errors (within the message limit) stores the byte budget and a note.
async fn scan_errors_are_capped(cx: &mut Attack) {
    let mut r = cx.base();
    r.report_id = "evil-scan-errors".into();
    r.scanned_at = ts(cx.now - Duration::seconds(4));
    r.errors = (0..200)
        .map(|i| pb::ScanError {
            source: pb::Source::File as i32,
            path: format!("C:\\{i}\\{}", "p".repeat(4000)),
            message: "m".repeat(1000),
        })
        .collect();
    assert!(r.encoded_len() > 1_000_000);
    cx.client
        .report(with_key(r, &cx.key))
        .await
        .expect("scan errors are diagnostics, never a refusal");
    let stored: usize = psql(
        &cx.database_url,
        "SELECT octet_length(scan_errors::text) FROM reports WHERE report_id = 'evil-scan-errors'",
    )
    .trim()
    .parse()
    .unwrap();
    assert!(stored < 20 * 1024, "{stored} bytes of scan errors stored");
    let note = psql(
        &cx.database_url,
        "SELECT scan_errors->-1->>'message' FROM reports WHERE report_id = 'evil-scan-errors'",
    );
    assert!(note.contains("more scan errors were dropped"), "{note}");
}

/// The attacker sends, first, the report id the innocent terminal will use next. Ids are
/// unique per terminal: the innocent's report is still stored (checked in the last step).
async fn report_ids_are_per_terminal(cx: &mut Attack) {
    let mut r = cx.base();
    r.report_id = "innocent-2".into();
    r.scanned_at = ts(cx.now - Duration::seconds(3));
    let r = cx
        .client
        .report(with_key(r, &cx.key))
        .await
        .expect("the attacker's own report")
        .into_inner();
    assert!(!r.duplicate, "{r:?}");
}

/// A body that is not even protobuf, with no key or a malformed one: UNAUTHENTICATED, not the
/// decoder's INTERNAL, because the key is checked before the message is read.
async fn bad_keys_are_refused_unread(cx: &mut Attack) {
    let garbage = vec![0xff; 3 * 1024 * 1024];
    expect_status(
        raw_report_auth(&cx.channel, None, garbage.clone()).await,
        Code::Unauthenticated,
        "missing node key",
        "no key",
    );
    for bad in ["Bearer 1234", "Bearer ' OR 1=1 --", "Basic dXNlcjpwYXNz"] {
        expect_status(
            raw_report_auth(&cx.channel, Some(bad), garbage.clone()).await,
            Code::Unauthenticated,
            "malformed node key",
            bad,
        );
    }
}

/// `terminal reset` prints a one-time token; without it nobody can claim the machine id, with
/// it the reinstalled PC enrolls once.
async fn reset_needs_the_token(cx: &mut Attack) {
    let first = cx
        .client
        .enroll(cx.enroll("m-reset"))
        .await
        .expect("enroll m-reset")
        .into_inner();
    let config = cx.config.to_str().unwrap().to_owned();
    let out = collector_cmd(&[
        "terminal",
        "reset",
        "m-reset",
        "--config",
        &config,
        "--database-url",
        &cx.database_url,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout
        .split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no token in {stdout}"))
        .to_owned();
    // Anyone with the enroll secret, with no key, with the attacker's key or with the old key.
    for key in [None, Some(cx.key.clone()), Some(first.node_key.clone())] {
        let request = match &key {
            Some(k) => with_key(cx.enroll("m-reset"), k),
            None => tonic::Request::new(cx.enroll("m-reset")),
        };
        let err = cx
            .client
            .enroll(request)
            .await
            .expect_err("claimed without the token");
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
        assert!(!err.message().contains(&first.terminal_id), "{err:?}");
    }
    let again = cx
        .client
        .enroll(with_key(cx.enroll("m-reset"), &token))
        .await
        .expect("the token enrolls")
        .into_inner();
    assert_eq!(again.terminal_id, first.terminal_id);
    let err = cx
        .client
        .enroll(with_key(cx.enroll("m-reset"), &token))
        .await
        .expect_err("the token works once");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
}

async fn reflection_is_on_by_default(cx: &mut Attack) {
    reflection_lists_services(&cx.channel)
        .await
        .expect("the reflection service answers");
}

/// Unknown, missing and revoked node keys.
async fn unknown_missing_and_revoked_keys_are_refused(cx: &mut Attack) {
    let unknown = "00".repeat(32);
    expect_status(
        cx.client
            .report(with_key(cx.base(), &unknown))
            .await
            .map(|r| r.into_inner()),
        Code::Unauthenticated,
        "unknown node key",
        "unknown key",
    );
    expect_status(
        cx.client.report(cx.base()).await.map(|r| r.into_inner()),
        Code::Unauthenticated,
        "missing node key",
        "no key",
    );
    let out = collector_cmd(&[
        "terminal",
        "revoke",
        "m-evil",
        "--database-url",
        &cx.database_url,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let mut after = cx.base();
    after.report_id = "evil-after-revoke".into();
    expect_status(
        cx.client
            .report(with_key(after, &cx.key))
            .await
            .map(|r| r.into_inner()),
        Code::Unauthenticated,
        "revoked",
        "revoked",
    );
    // A revoked terminal cannot enroll its way back in.
    let err = cx
        .client
        .enroll(cx.enroll("m-evil"))
        .await
        .expect_err("re-enroll of a revoked terminal");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("revoked"), "{err:?}");
}

/// Afterwards the innocent terminal's stored state has not moved, the collector is healthy and
/// has not panicked, a normal agent reports, and so does the innocent terminal.
async fn collector_is_unaffected(
    cx: &mut Attack,
    collector: &CollectorProcess,
    root: &Path,
    innocent: &pb::EnrollResponse,
    innocent_before: &str,
) {
    assert_eq!(
        holdings(&cx.database_url, "m-innocent"),
        innocent_before,
        "the innocent terminal's stored state did not move"
    );
    assert_eq!(http_get(collector.http_addr, "/healthz", None).0, 200);
    let fx = root.join("fixtures");
    write_cert(
        &fx,
        "office.pem",
        &TestCa::kanagawa().office_cert(
            "1000000009",
            cx.now - Duration::days(10),
            cx.now + Duration::days(100),
        ),
    );
    let out = normal_agent(
        &collector.grpc_url(),
        &root.join("collector/ca.pem").to_string_lossy(),
        &root.join("collector/enroll-secret.txt").to_string_lossy(),
        &root.join("state"),
        &fx,
    );
    assert!(
        out.status.success(),
        "normal agent after the attack: {}",
        describe(&out)
    );
    assert_eq!(live_count(&cx.database_url, "m-normal"), 1);
    let r = cx
        .client
        .report(with_key(
            report(
                "innocent-2",
                "m-innocent",
                cx.now,
                vec![cert(cx.der_c.clone(), "c"), cert(cx.der_b.clone(), "b")],
            ),
            &innocent.node_key,
        ))
        .await
        .expect("the innocent terminal still reports")
        .into_inner();
    assert_eq!(
        (r.accepted_certificates, r.duplicate, r.superseded),
        (2, false, false)
    );
    let log = collector.log();
    assert!(
        !log.contains("panicked"),
        "collector log shows a panic:\n{log}"
    );
}

fn normal_agent(
    url: &str,
    ca: &str,
    secret: &str,
    state: &Path,
    fixtures: &Path,
) -> std::process::Output {
    agent_cmd(&[
        "report",
        "--collector",
        url,
        "--ca",
        ca,
        "--enroll-secret-file",
        secret,
        "--state-dir",
        state.to_str().unwrap(),
        "--machine-id",
        "m-normal",
        "--hostname",
        "pc-normal",
        "--path",
        fixtures.to_str().unwrap(),
        "--attempts",
        "1",
    ])
}

/// A TLS channel to the collector on `port` (each one its own connection).
async fn connect(ca_pem: &[u8], port: u16) -> Result<Channel, tonic::transport::Error> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
}

/// [`connect`], retried for up to 10 s while the collector's connection slots are full: the
/// server frees a slot only once it sees a closed connection's end.
async fn connect_when_a_slot_is_free(ca_pem: &[u8], port: u16) -> Channel {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match connect(ca_pem, port).await {
            Ok(channel) => return channel,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("a closed connection frees its slot: {e:?}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// The `retry-after-ms` advice of a status, which must be there and positive.
fn retry_after(status: &Status) -> u64 {
    let ms: u64 = status
        .metadata()
        .get("retry-after-ms")
        .unwrap_or_else(|| panic!("no retry-after-ms in {status:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ms > 0, "{status:?}");
    ms
}

/// A collector with tight admission limits, approval mode, a pinned issuer CA and no
/// reflection. Each limit refuses what it should with a clear status, before any database
/// work where the issue asks for it, and the collector keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_down_collector_limits_clients_before_any_work() {
    let pg = PgCluster::start();
    let database_url = pg.fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("collector");
    let out = collector_cmd(&["init", "--dir", dir.to_str().unwrap(), "--san", "localhost"]);
    assert!(out.status.success(), "init: {}", describe(&out));
    let real_ca = TestCa::kanagawa();
    write_cert(&dir, "kokuhoren-ca.pem", &real_ca.ca_cert().pem);
    let config = dir.join("collector.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    for table in ["[enroll]\n", "[limits]\n", "[grpc]\n"] {
        assert_eq!(
            text.matches(table).count(),
            1,
            "one {table} in the init config"
        );
    }
    let text = text
        .replace("[enroll]\n", "[enroll]\napproval = true\n")
        .replace(
            "[limits]\n",
            "[limits]\nenroll_per_peer_per_minute = 4\nunauthenticated_per_peer_per_minute = 3\n\
             reports_per_terminal_per_hour = 2\n",
        )
        .replace(
            "[grpc]\n",
            "[grpc]\nreflection = false\nmax_connections = 3\ntls_handshake_timeout_seconds = 1\n",
        )
        + "\n[trust]\nissuer_ca_file = \"kokuhoren-ca.pem\"\n";
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let collector =
        CollectorProcess::serve(&["--config", &config, "--database-url", &database_url]);
    let port = collector.grpc_addr.port();
    let ca_pem = std::fs::read(dir.join("ca.pem")).unwrap();
    let secret = std::fs::read_to_string(dir.join("enroll-secret.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let token = std::fs::read_to_string(dir.join("api-token.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let enroll = |machine: &str| pb::EnrollRequest {
        enroll_secret: secret.clone(),
        terminal: facts(machine),
    };
    let now = Utc::now();
    let office = |ca: &TestCa, n: &str| {
        ca.office_cert_der(n, now - Duration::days(30), now + Duration::days(20))
    };

    step(
        "an idle connection is closed after the TLS handshake timeout",
        async {
            use tokio::io::AsyncReadExt as _;
            let mut idle = tokio::net::TcpStream::connect(collector.grpc_addr)
                .await
                .unwrap();
            let started = std::time::Instant::now();
            let mut buf = [0u8; 16];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(10), idle.read(&mut buf))
                    .await
                    .expect("the collector closes a connection that never completes its handshake");
            assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        },
    )
    .await;

    step(
        "a connection beyond max_connections is closed at once",
        async {
            let mut open = Vec::new();
            for _ in 0..3 {
                open.push(connect(&ca_pem, port).await.expect("within the cap"));
            }
            connect(&ca_pem, port)
                .await
                .expect_err("a fourth connection is refused");
            drop(open.pop());
            connect_when_a_slot_is_free(&ca_pem, port).await;
        },
    )
    .await;

    let channel = connect_when_a_slot_is_free(&ca_pem, port).await;
    let mut client = pb::inventory_client::InventoryClient::new(channel.clone());
    let keys = step("enrollment is limited per client address", async {
        let mut keys = Vec::new();
        for machine in ["m-1", "m-2", "m-3", "m-4"] {
            keys.push(
                client
                    .enroll(enroll(machine))
                    .await
                    .expect("within the enrollment rate")
                    .into_inner()
                    .node_key,
            );
        }
        let err = client
            .enroll(enroll("m-5"))
            .await
            .expect_err("a fifth enrollment within the minute");
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert!(
            err.message()
                .contains("too many enrollments from this address"),
            "{err:?}"
        );
        retry_after(&err);
        keys
    })
    .await;

    step(
        "a terminal pending approval counts nowhere until approved",
        async {
            let r = client
                .report(with_key(
                    report(
                        "p-1",
                        "m-1",
                        now,
                        vec![cert(office(&real_ca, "1400000001"), "a")],
                    ),
                    &keys[0],
                ))
                .await
                .expect("a pending terminal's report is stored")
                .into_inner();
            assert_eq!(r.accepted_certificates, 1);
            let listed = |path: &str| http_get(collector.http_addr, path, Some(&token));
            let (status, body) = listed("/api/v1/reports/terminals");
            assert_eq!(status, 200, "{body}");
            assert!(
                !body.contains("\"m-1\""),
                "pending terminal reported: {body}"
            );
            let db = ["--config", &config, "--database-url", &database_url];
            let out = collector_cmd(&[&["terminal", "pending"], &db[..]].concat());
            assert!(out.status.success(), "{}", describe(&out));
            let pending = String::from_utf8(out.stdout).unwrap();
            assert!(
                pending.contains("m-1") && pending.contains("127.0.0.1"),
                "{pending}"
            );
            let (status, page) = listed("/pending");
            assert_eq!(status, 200, "{page}");
            assert!(
                page.contains("host-m-1") && page.contains("data-testid=\"pending-row\""),
                "the dashboard lists the pending terminal: {page}"
            );
            let out = collector_cmd(&[&["terminal", "approve", "m-1"], &db[..]].concat());
            assert!(out.status.success(), "{}", describe(&out));
            assert!(String::from_utf8_lossy(&out.stdout).contains("approved terminal"));
            let (_, body) = listed("/api/v1/reports/terminals");
            assert!(
                body.contains("\"m-1\""),
                "approved terminal missing: {body}"
            );
            let (_, body) = listed("/api/v1/reports/expiring");
            assert!(body.contains("1400000001"), "{body}");
        },
    )
    .await;

    step(
        "an office certificate no pinned CA signed is refused",
        async {
            let forger = TestCa::kanagawa();
            let r = client
                .report(with_key(
                    report(
                        "p-2",
                        "m-2",
                        now,
                        vec![
                            cert(office(&forger, "1400000002"), "forged"),
                            cert(office(&real_ca, "1400000002"), "genuine"),
                        ],
                    ),
                    &keys[1],
                ))
                .await
                .expect("report with a forgery")
                .into_inner();
            assert_eq!(r.accepted_certificates, 1, "{r:?}");
            assert_eq!(r.rejected.len(), 1, "{r:?}");
            assert_eq!(r.rejected[0].index, 0);
            assert!(
                r.rejected[0].reason.contains("trust.issuer_ca_file"),
                "{r:?}"
            );
        },
    )
    .await;

    step(
        "a terminal reporting too often is told when to come back",
        async {
            for id in ["p-3a", "p-3b"] {
                client
                    .report(with_key(report(id, "m-3", now, vec![]), &keys[2]))
                    .await
                    .expect("within the hourly budget");
            }
            let err = client
                .report(with_key(report("p-3c", "m-3", now, vec![]), &keys[2]))
                .await
                .expect_err("a third report within the hour");
            assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
            assert!(
                err.message()
                    .contains("limits.reports_per_terminal_per_hour"),
                "{err:?}"
            );
            assert!(retry_after(&err) > 60_000, "{err:?}");
        },
    )
    .await;

    step("reflection is off when configured so", async {
        let err = reflection_lists_services(&channel)
            .await
            .expect_err("reflection disabled");
        assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    })
    .await;

    step(
        "failed authentications block an address before any work",
        async {
            for i in 0..3 {
                let unknown = format!("{i:0>64}");
                expect_status(
                    client
                        .report(with_key(report("p-4", "m-4", now, vec![]), &unknown))
                        .await
                        .map(|r| r.into_inner()),
                    Code::Unauthenticated,
                    "unknown node key",
                    "unknown key",
                );
            }
            // Now even a valid key from this address waits: refused unread, with advice.
            let err = client
                .report(with_key(report("p-4", "m-4", now, vec![]), &keys[3]))
                .await
                .expect_err("blocked address");
            assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
            assert!(
                err.message()
                    .contains("too many failed authentications from this address"),
                "{err:?}"
            );
            retry_after(&err);
        },
    )
    .await;

    step("/metrics counts every refusal", async {
        let (status, metrics) = http_get(collector.http_addr, "/metrics", Some(&token));
        assert_eq!(status, 200);
        for reason in [
            "connection_cap",
            "enroll_rate",
            "report_rate",
            "unauthenticated_rate",
        ] {
            let line = metrics
                .lines()
                .find(|l| {
                    l.starts_with(&format!(
                        "certfleet_grpc_refused_total{{reason=\"{reason}\"}}"
                    ))
                })
                .unwrap_or_else(|| panic!("no {reason} in /metrics"));
            let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(n >= 1, "{line}");
        }
    })
    .await;

    let log = collector.log();
    assert!(
        !log.contains("panicked"),
        "collector log shows a panic:\n{log}"
    );
    drop((client, channel));
    assert!(collector.terminate(), "graceful shutdown");
}
