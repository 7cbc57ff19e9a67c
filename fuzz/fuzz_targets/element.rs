//! Fuzzes the serialized certificate element and store parser (profile files, registry blobs,
//! `.sst`): any input must give a result or an error, never a panic or an overlong loop.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certfleet_agent::element::parse_element(data);
    let store = certfleet_agent::element::parse_store(data);
    for el in store.elements {
        let _ = certfleet_certinfo::parse_der(&el.der);
    }
});
