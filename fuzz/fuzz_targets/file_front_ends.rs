//! Fuzzes every file front end through content sniffing (PEM, DER, PKCS#7, PKCS#12, stores),
//! plus the X.509 parser on whatever they extract.
#![no_main]

#[path = "../checks/file_front_ends.rs"]
mod check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| check::run(data));
