//! Compiles the `certfleet.v1` contract *as released in 0.1.0* (a frozen copy in
//! `proto/released-0.1.0/`, never edited) into a client for `tests/tests/compat.rs`: the
//! previous agents' wire format, checked against the current collector on every test run.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // The vendored protoc, named in the prost configuration (no PROTOC variable to set).
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        .file_descriptor_set_path(out_dir.join("released_0_1_0_descriptor.bin"))
        .compile_with_config(
            config,
            &["proto/released-0.1.0/certfleet/v1/inventory.proto"],
            &["proto/released-0.1.0"],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
