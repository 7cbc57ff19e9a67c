//! The agent/collector compatibility policy (issue 16, docs/OPERATIONS.md "Upgrading"):
//! collectors are upgraded first, and a collector accepts every agent release since 0.1.0.
//! The previous agents' wire format is a frozen copy of the released `certfleet.v1` contract
//! (`tests/proto/released-0.1.0/`, compiled by `tests/build.rs`):
//!
//! - `the_contract_only_grows`: every message, field (number, type, label) and method of the
//!   released contract is still in the current one, unchanged; only additions are allowed.
//! - `a_released_agent_still_reports`: a client compiled from the released contract enrolls and
//!   reports a real office certificate to the current `serve` over TLS, and the report shows it.
//!
//! Why a frozen .proto rather than building the 0.1.0 agent: the agent's side of the wire is
//! exactly this generated code (prost messages, tonic calls, the `authorization` metadata), and
//! building an old workspace in a test would cost minutes of CI and gigabytes of disk.

use std::collections::BTreeMap;

use certfleet_e2e::{CollectorProcess, TestCa, collector_cmd, describe};
use chrono::{Duration, Utc};
use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorSet};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// The released 0.1.0 contract, as the agents of that release were compiled.
mod released {
    #![allow(clippy::all, rust_2018_idioms)]
    tonic::include_proto!("certfleet.v1");
}

const RELEASED_DESCRIPTOR: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/released_0_1_0_descriptor.bin"));

/// `package.Message` → its descriptor, for every message (nested ones too) of `certfleet.*`.
fn messages(set: &FileDescriptorSet) -> BTreeMap<String, DescriptorProto> {
    fn walk(prefix: &str, m: &DescriptorProto, out: &mut BTreeMap<String, DescriptorProto>) {
        let name = format!("{prefix}.{}", m.name());
        for nested in &m.nested_type {
            walk(&name, nested, out);
        }
        out.insert(name, m.clone());
    }
    let mut out = BTreeMap::new();
    for file in set
        .file
        .iter()
        .filter(|f| f.package().starts_with("certfleet"))
    {
        for m in &file.message_type {
            walk(file.package(), m, &mut out);
        }
    }
    out
}

/// `Service.Method` → (input, output, client streaming, server streaming).
fn methods(set: &FileDescriptorSet) -> BTreeMap<String, (String, String, bool, bool)> {
    let mut out = BTreeMap::new();
    for file in set
        .file
        .iter()
        .filter(|f| f.package().starts_with("certfleet"))
    {
        for s in &file.service {
            for m in &s.method {
                out.insert(
                    format!("{}.{}.{}", file.package(), s.name(), m.name()),
                    (
                        m.input_type().to_owned(),
                        m.output_type().to_owned(),
                        m.client_streaming(),
                        m.server_streaming(),
                    ),
                );
            }
        }
    }
    out
}

#[test]
fn the_contract_only_grows() {
    let released = FileDescriptorSet::decode(RELEASED_DESCRIPTOR).unwrap();
    let current = FileDescriptorSet::decode(certfleet_proto::v1::FILE_DESCRIPTOR_SET).unwrap();
    let (old, new) = (messages(&released), messages(&current));
    assert!(
        old.contains_key("certfleet.v1.ReportRequest"),
        "{:?}",
        old.keys()
    );
    let mut broken = Vec::new();
    for (name, m) in &old {
        let Some(now) = new.get(name) else {
            broken.push(format!("message {name} was removed"));
            continue;
        };
        for f in &m.field {
            let shape = |f: &prost_types::FieldDescriptorProto| {
                (
                    f.number(),
                    f.r#type(),
                    f.label(),
                    f.type_name().to_owned(),
                    f.proto3_optional(),
                )
            };
            match now.field.iter().find(|g| g.name() == f.name()) {
                None => broken.push(format!("{name}.{} was removed", f.name())),
                Some(g) if shape(g) != shape(f) => broken.push(format!(
                    "{name}.{} changed from {:?} to {:?}",
                    f.name(),
                    shape(f),
                    shape(g)
                )),
                Some(_) => {}
            }
            if let Some(g) = now
                .field
                .iter()
                .find(|g| g.number() == f.number() && g.name() != f.name())
            {
                broken.push(format!(
                    "{name}: field number {} now names {} instead of {}",
                    f.number(),
                    g.name(),
                    f.name()
                ));
            }
        }
    }
    let (old_methods, new_methods) = (methods(&released), methods(&current));
    for (name, sig) in &old_methods {
        match new_methods.get(name) {
            None => broken.push(format!("rpc {name} was removed")),
            Some(now) if now != sig => {
                broken.push(format!("rpc {name} changed: {sig:?} → {now:?}"))
            }
            Some(_) => {}
        }
    }
    assert!(
        broken.is_empty(),
        "certfleet.v1 may only grow (new fields, messages, methods): agents of release 0.1.0 \
         would break on\n  {}",
        broken.join("\n  ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_agent_still_reports() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("collector");
    let out = collector_cmd(&["init", "--dir", dir.to_str().unwrap(), "--san", "localhost"]);
    assert!(out.status.success(), "{}", describe(&out));
    let config = dir.join("collector.toml");
    let collector = CollectorProcess::serve(&["--config", config.to_str().unwrap()]);

    let ca_pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let channel = Endpoint::from_shared(collector.grpc_url())
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca_pem)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = released::inventory_client::InventoryClient::new(channel);
    let facts = released::TerminalFacts {
        machine_id: "released-agent-1".into(),
        hostname: "old-agent-pc".into(),
        os_name: "Windows".into(),
        os_version: "10.0.19045".into(),
        agent_version: "0.1.0".into(),
    };
    let secret = std::fs::read_to_string(dir.join("enroll-secret.txt")).unwrap();
    let enrolled = client
        .enroll(released::EnrollRequest {
            enroll_secret: secret.trim().to_owned(),
            terminal: Some(facts.clone()),
        })
        .await
        .expect("a 0.1.0 agent enrolls")
        .into_inner();
    assert!(!enrolled.node_key.is_empty());

    let now = Utc::now();
    let der = TestCa::kanagawa().office_cert_der(
        "1400000077",
        now - Duration::days(1000),
        now + Duration::days(20),
    );
    let mut request = tonic::Request::new(released::ReportRequest {
        report_id: "0f0e0d0c-0b0a-4900-8000-000000000001".into(),
        terminal: Some(facts),
        scanned_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: 0,
        }),
        certificates: vec![released::ReportedCertificate {
            der,
            locations: vec![released::Location {
                source: released::Source::ProfileFile as i32,
                store: "My".into(),
                user: "S-1-5-21-1-2-3-1001".into(),
                path:
                    r"C:\Users\jimu\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates\AB"
                        .into(),
            }],
            has_private_key: Some(true),
            friendly_name: "kokuhoren".into(),
        }],
        errors: Vec::new(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", enrolled.node_key).parse().unwrap(),
    );
    let ack = client
        .report(request)
        .await
        .expect("a 0.1.0 agent's report is accepted")
        .into_inner();
    assert_eq!(ack.accepted_certificates, 1, "{ack:?}");
    assert!(ack.rejected.is_empty() && !ack.duplicate, "{ack:?}");

    let out = collector_cmd(&[
        "--config",
        config.to_str().unwrap(),
        "report",
        "expiring",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1400000077") && text.contains("old-agent-pc"),
        "{text}"
    );
    assert!(collector.terminate());
}
