//! Generates the tonic/prost code for `certfleet.v1` with a vendored `protoc`, so no system
//! protobuf compiler is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // tonic-prost-build finds the compiler through the PROTOC variable.
    unsafe_env_set(&protoc);
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // No `InventoryClient::connect`: it needs tonic's transport for everyone who links
        // this crate. Clients build their own TLS channel and call `InventoryClient::new`.
        .build_transport(false)
        .file_descriptor_set_path(out_dir.join("certfleet_v1_descriptor.bin"))
        .compile_protos(&["proto/certfleet/v1/inventory.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}

#[allow(unsafe_code)]
fn unsafe_env_set(protoc: &std::path::Path) {
    // SAFETY: a build script runs on one thread; no other thread reads the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
}
