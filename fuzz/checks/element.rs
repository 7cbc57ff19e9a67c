//! The body of the `element` fuzz target, shared with the stable corpus-replay test: the
//! serialized certificate element and store parser (profile files, registry blobs, `.sst`).

/// Parses `data` as one element and as a store; any input must give a result or an error,
/// never a panic or an overlong loop, and whatever DER comes out goes through the X.509 parser.
pub fn run(data: &[u8]) {
    let _ = certfleet_agent::element::parse_element(data);
    let store = certfleet_agent::element::parse_store(data);
    for el in store.elements {
        let _ = certfleet_certinfo::parse_der(&el.der);
    }
}
