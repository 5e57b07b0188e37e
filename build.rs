//! `sqlx::migrate!` reads the migrations at compile time: a new or edited one must rebuild.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
}
