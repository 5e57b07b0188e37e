//! The `liandong` binary: parse the command line, run it, map the outcome to an exit code
//! (0 success, 1 the job ran but something failed, 2 usage or configuration error).
#![forbid(unsafe_code)]

use std::process::ExitCode;

// Imports allocate many small values on a reader thread and free them on the writer's; mimalloc
// handles that cross-thread pattern far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    liandong::cli::main()
}
