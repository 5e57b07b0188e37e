//! The `liandong` binary: parse the command line, run it, map the outcome to an exit code
//! (0 success, 1 the job ran but something failed, 2 usage or configuration error).
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    liandong::cli::main()
}
