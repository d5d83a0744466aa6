//! Compiles the .proto files with protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/shop/v1/order.proto",
        "proto/shop/v1/events.proto",
        "proto/shop/v1/notifier.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_build::configure().compile_fds(descriptors)?;
    Ok(())
}
