//! The build script of the four functions (each Cargo.toml's `build`): links the bootstrap as a
//! position-dependent executable. A PIE binary of this size carries ~23,500 relative
//! relocations that the dynamic loader applies, and copies the pages they touch, at every cold
//! start; without them the start takes ~0.3 ms and ~0.3 M instructions less and the binary is
//! ~8% smaller (README, "Cold start"). Only the executable is affected: proc-macros and
//! libraries stay position-independent. The cost is ASLR for the executable's own image (the
//! stack, heap and shared libraries are still randomised).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=../build-no-pie.rs");
}
