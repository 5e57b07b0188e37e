//! Release builds for Linux link a position-dependent executable (`-no-pie`, as Go links its
//! daemons, Prometheus Alertmanager among them): without it the dynamic loader rewrites about
//! 67,000 pointers at every start, which keeps 1.5 MB of relocation entries and 1.5 MB of
//! relocated data resident for the life of `liandong run` — a tenth of its idle memory.
//! Shared libraries, the stack and the heap are still placed at random.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // `sqlx::migrate!` reads the migrations at compile time: a new or edited one must rebuild.
    println!("cargo:rerun-if-changed=migrations");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
