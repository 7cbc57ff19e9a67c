//! The `certfleet.v1` gRPC contract: generated message and service types, nothing else.
#![forbid(unsafe_code)]

/// Version 1 of the contract.
pub mod v1 {
    #![allow(clippy::all, missing_docs, rust_2018_idioms)]
    tonic::include_proto!("certfleet.v1");

    /// Encoded file descriptor set, for the gRPC reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("certfleet_v1_descriptor");
}
