//! Fuzzes the serialized certificate element and store parser (profile files, registry blobs,
//! `.sst`): any input must give a result or an error, never a panic or an overlong loop.
#![no_main]

#[path = "../checks/element.rs"]
mod check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| check::run(data));
