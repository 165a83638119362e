//! The `webstack-operator` binary: `run` (the controller manager), `plan` (what applying or deleting
//! manifests would change in AWS) and `crds` (print every CRD, or with `--reference` the API
//! reference generated from them). Installed as `kubectl-webstack` (a copy or a link), it is the
//! kubectl plugin `kubectl webstack plan ...`: the name it runs under changes nothing.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use webstack_operator::{api, manager, plan};

#[derive(Parser)]
#[command(
    name = "webstack-operator",
    version,
    about = "Turns WebStack manifests into a web stack on AWS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller manager against the current kubeconfig / in-cluster config and AWS.
    Run(Box<manager::RunOptions>),
    /// Show every AWS change applying (or with --delete, deleting) manifests would make, without
    /// making any: the controllers' own plan, read-only AWS clients, server-side dry-runs.
    Plan(Box<plan::PlanOptions>),
    /// Print every CustomResourceDefinition as YAML (the source of `crds/`).
    Crds {
        /// Print instead the field-by-field API reference generated from the CRDs, as Markdown (the
        /// source of `docs/api-reference.md`).
        #[arg(long)]
        reference: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Command::Run(opts) = &cli.command {
        runtime.worker_threads(opts.worker_threads());
    }
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(command(cli)),
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn command(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Crds { reference: false } => match api::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: rendering the CRDs: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Crds { reference: true } => match api::reference::reference_markdown() {
            Ok(markdown) => {
                print!("{markdown}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: rendering the API reference: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Plan(opts) => {
            manager::init_tracing_at("warn");
            let (format, detailed) = (opts.output, opts.detailed_exitcode);
            match plan::run(*opts).await {
                Ok(plan) => {
                    match format {
                        plan::Format::Text => print!("{}", plan.text()),
                        plan::Format::Json => println!("{}", plan.json()),
                    }
                    ExitCode::from(plan.exit_code(detailed))
                }
                Err(err) => {
                    eprintln!("error: {}", manager::report(&err));
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run(opts) => {
            manager::init_tracing();
            match manager::run(*opts).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("error: {}", manager::report(&err));
                    ExitCode::FAILURE
                }
            }
        }
    }
}
