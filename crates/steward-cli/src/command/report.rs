//! `steward report compliance`: a compliance report (SPEC §10) for one framework and
//! period, fetched from the server as Markdown (default) or JSON.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use crate::client::{Client, ClientArgs, encode};
use crate::command::audit::EXIT_VERIFY_FAILED;
use crate::output::{print, print_json};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// A compliance report (admin, auditor, compliance_officer): the changes in the
    /// framework's scope (each permit with its task, worker and level, requester,
    /// approvers with role and time, evidence, window, outcome, rollback and audit events),
    /// the framework's controls with the period's event counts, every exception linked to
    /// its audit events (seq), the verification of the stored chain and the latest signed
    /// checkpoint. Dates and times are shown in `--tz` (UTC by default).
    ///
    /// Exit codes: 0 report printed, 2 bad arguments or refused, 3 the audit chain does
    /// not verify (the report is still printed and names the first bad seq).
    Compliance {
        #[arg(long, value_enum)]
        framework: Framework,
        /// First day of the period, YYYY-MM-DD (in `--tz`).
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last day of the period, YYYY-MM-DD (in `--tz`), inclusive.
        #[arg(long, value_name = "DATE")]
        to: String,
        /// The report's time zone: an IANA name (`Europe/Paris`) or a UTC offset
        /// (`+02:00`, `UTC-05:30`). Default: UTC.
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// `markdown` (default) or `json` (`--json` also prints JSON).
        #[arg(long, value_enum, default_value = "markdown")]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Framework {
    #[value(name = "SOC2")]
    Soc2,
    #[value(name = "HIPAA")]
    Hipaa,
    #[value(name = "PCI_DSS")]
    PciDss,
    #[value(name = "GDPR")]
    Gdpr,
    #[value(name = "SOX")]
    Sox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Markdown,
    Json,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    match args.command {
        ReportCommand::Compliance {
            framework,
            from,
            to,
            tz,
            format,
        } => {
            let framework = match framework {
                Framework::Soc2 => "SOC2",
                Framework::Hipaa => "HIPAA",
                Framework::PciDss => "PCI_DSS",
                Framework::Gdpr => "GDPR",
                Framework::Sox => "SOX",
            };
            let mut query = format!(
                "/v1/reports/compliance?framework={framework}&from={}&to={}",
                encode(&from),
                encode(&to)
            );
            if let Some(tz) = tz {
                query.push_str(&format!("&tz={}", encode(&tz)));
            }
            let intact;
            if format == Format::Json || args.client.json {
                let report = client.get(&query)?;
                intact = report["verification"]["ok"] == serde_json::Value::Bool(true);
                print_json(&report)?;
            } else {
                let mut text = Vec::new();
                client.download(&format!("{query}&format=markdown"), |chunk| {
                    text.extend_from_slice(chunk);
                    Ok(())
                })?;
                let text = String::from_utf8_lossy(&text);
                intact = !text.contains("\n**BROKEN** at seq ");
                print(&text)?;
            }
            Ok(if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_VERIFY_FAILED)
            })
        }
    }
}
