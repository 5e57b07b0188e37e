//! `liandong user …`: the web console's accounts.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use super::args::UserCommand;
use crate::app::App;
use crate::app::accounts;
use crate::output::{self, Format};

pub(super) async fn run(app: &App, cmd: &UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add {
            login,
            role,
            unit,
            password_file,
        } => {
            let password = read_password(password_file.as_deref())?;
            let u = accounts::add_user(app, login, *role, unit.as_deref(), &password).await?;
            match &u.unit_id {
                Some(unit) => println!("added {} ({}, unit {unit})", u.login, u.role.as_str()),
                None => println!("added {} ({})", u.login, u.role.as_str()),
            }
        }
        UserCommand::List { format } => {
            let users = app.store.users().await?;
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    vec![
                        u.login.clone(),
                        u.role.as_str().to_string(),
                        u.unit_id.clone().unwrap_or_default(),
                        crate::domain::values::local_minute(u.created_at),
                        u.disabled_at
                            .map(crate::domain::values::local_minute)
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            let headers = ["login", "role", "unit", "created", "disabled"];
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&users)?),
                Format::Csv => output::csv(std::io::stdout().lock(), &headers, &rows)?,
                Format::Table if rows.is_empty() => {
                    println!("no accounts: add one with `liandong user add LOGIN --role ROLE`")
                }
                Format::Table => print!("{}", output::table(&headers, &rows)),
            }
        }
        UserCommand::Disable { login } => {
            if !app.store.disable_user(login, app.clock.wall()).await? {
                anyhow::bail!("no account has the login {login:?}");
            }
            println!("disabled {login}; its sessions are ended");
        }
        UserCommand::Passwd {
            login,
            password_file,
        } => {
            let password = read_password(password_file.as_deref())?;
            accounts::set_password(app, login, &password).await?;
            println!("password of {login} set; its sessions are ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The password: the first line of `file`, or a line of standard input (asked for without echo
/// on a terminal).
fn read_password(file: Option<&Path>) -> anyhow::Result<String> {
    let line = match file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the password file {}", f.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        None => {
            let stdin = std::io::stdin();
            let mut line = String::new();
            if stdin.is_terminal() {
                eprint!("Password: ");
                std::io::stderr().flush()?;
                let _echo = EchoOff::new();
                stdin.lock().read_line(&mut line)?;
                eprintln!();
            } else {
                stdin.lock().read_line(&mut line)?;
            }
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if line.is_empty() {
        anyhow::bail!("no password given (a line on standard input, or --password-file)");
    }
    Ok(line)
}

/// Turns a terminal's echo off until dropped.
struct EchoOff {
    fd: std::io::Stdin,
    before: Option<rustix::termios::Termios>,
}

impl EchoOff {
    fn new() -> EchoOff {
        let fd = std::io::stdin();
        let before = rustix::termios::tcgetattr(&fd).ok();
        if let Some(t) = &before {
            let mut quiet = t.clone();
            quiet.local_modes -= rustix::termios::LocalModes::ECHO;
            let _ = rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &quiet);
        }
        EchoOff { fd, before }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = &self.before {
            let _ = rustix::termios::tcsetattr(&self.fd, rustix::termios::OptionalActions::Now, t);
        }
    }
}
