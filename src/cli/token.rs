//! `heaplab token create|list|revoke`: the named tokens the server's access
//! policy checks. Run it against the server's database (`--db`); a running
//! server sees a new or revoked token on its next request.

use std::process::ExitCode;

use clap::Subcommand;

use super::{print, CliError};
use crate::store::{Store, TokenScope};
use crate::units;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print its secret (shown this once; keep it).
    Create {
        /// A name that says who or what holds it (`ci`, `grafana`, `desk-3`).
        name: String,
        /// `read` (pages, API reads, /metrics), `write` (also every change)
        /// or `ingest` (only agents feeding the server).
        #[arg(long, default_value = "read")]
        scope: TokenScope,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name; it stops working at once.
    Revoke { name: String },
}

pub async fn run(store: &Store, command: TokenCommand) -> Result<ExitCode, CliError> {
    match command {
        TokenCommand::Create { name, scope } => {
            let (record, secret) = store.create_token(&name, scope).await?;
            println!("{secret}");
            eprintln!(
                "token {:?} ({}) created. This is the only time the secret is shown.\n\
                 Scripts: Authorization: Bearer <secret>. Browsers: sign in at /login with it.",
                record.name,
                record.scope.as_str()
            );
        }
        TokenCommand::List { json } => {
            let tokens = store.tokens().await?;
            if json {
                print::json(&tokens);
            } else if tokens.is_empty() {
                println!("no tokens: the server is open (loopback only unless --insecure-no-auth)");
            } else {
                println!("{:<24} {:<7} {:<20} revoked", "name", "scope", "created");
                for t in tokens {
                    println!(
                        "{:<24} {:<7} {:<20} {}",
                        t.name,
                        t.scope.as_str(),
                        units::time(t.created_us),
                        t.revoked_us.map(units::time).unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        TokenCommand::Revoke { name } => {
            let record = store.revoke_token(&name).await?;
            println!("token {:?} revoked", record.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
