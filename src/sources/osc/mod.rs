//! OSC: the Music Chronus address space over UDP, answered to the sender, plus what Chronus
//! sends out (visual levels, a beat clock for other instruments, slot changes) and
//! `--clock follow`, which plays in time with another instrument's clock.
//!
//! The server is a [`Service`]: the control loop drains its non-blocking socket on every turn
//! and every message becomes [`crate::control::Command`]s through the same `apply` as the
//! keyboard. Timetags of incoming bundles are not used for scheduling (as in the original);
//! only the clock reads them.

mod follow;
mod routes;
mod schema;
mod server;
pub mod wire;

use std::net::IpAddr;

use clap::{Args, ValueEnum};

use crate::control::Service;

pub use follow::{FollowAction, FollowState, FollowStatus, Follower};
pub use routes::{Handler, ROUTES, Route, RouteGroup};
pub use schema::{engine_list, registered_routes, schema_json};
pub use server::{MAX_ANSWER_NOTICES, OscServer, OscSetupError, OscStats, clock_bundle, parse_out};
pub use wire::{decode, ntp_from_unix, unix_from_ntp};

/// Port the server listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 5005;
/// Where visual data, the clock and slot changes go unless told otherwise.
pub const DEFAULT_OUT: &str = "127.0.0.1:5006";

/// Where the tempo comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ClockMode {
    /// Chronus's own clock.
    #[default]
    Internal,
    /// Take tempo and bar phase from incoming `/chronus/clock` bundles.
    Follow,
    /// Take tempo, bar phase and start/stop from MIDI clock (`--midi-in` or `--midi-virtual`).
    Midi,
}

/// OSC options of the tracker and of headless mode.
#[derive(Debug, Args, Clone, PartialEq, Eq)]
pub struct OscArgs {
    /// UDP port the OSC server listens on (0: any free port).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_PORT, allow_negative_numbers = true, value_parser = crate::model::limits::parse_listen_port)]
    pub osc_port: u16,
    /// Address the OSC server listens on (default 127.0.0.1). Anything but loopback lets
    /// other machines control Chronus.
    #[arg(long, value_name = "IP")]
    pub osc_bind: Option<IpAddr>,
    /// No OSC at all: no server, nothing sent.
    #[arg(long, conflicts_with_all = ["osc_bind", "osc_out"])]
    pub no_osc: bool,
    /// Where visual data, the beat clock and slot changes are sent; repeat for several
    /// destinations (default 127.0.0.1:5006).
    #[arg(long, value_name = "HOST:PORT")]
    pub osc_out: Vec<String>,
    /// Tempo source: the own clock, a leader's /chronus/clock bundles (follow), or MIDI clock
    /// from --midi-in (midi).
    #[arg(long, value_enum, default_value_t = ClockMode::Internal)]
    pub clock: ClockMode,
}

impl Default for OscArgs {
    fn default() -> Self {
        OscArgs {
            osc_port: DEFAULT_PORT,
            osc_bind: None,
            no_osc: false,
            osc_out: Vec::new(),
            clock: ClockMode::Internal,
        }
    }
}

/// The OSC server the options ask for (`None` with `--no-osc`), for callers that want its
/// status (address, traffic, clock follower) besides polling it.
pub fn server(args: &OscArgs) -> anyhow::Result<Option<OscServer>> {
    if args.no_osc {
        return Ok(None);
    }
    Ok(Some(OscServer::from_args(args)?))
}

/// The control-loop services for the OSC options: the server, or nothing with `--no-osc`.
/// Fails when the port cannot be bound or an `--osc-out` does not resolve.
pub fn services(args: &OscArgs) -> anyhow::Result<Vec<Box<dyn Service>>> {
    Ok(server(args)?
        .map(|s| Box::new(s) as Box<dyn Service>)
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        osc: OscArgs,
    }

    #[test]
    fn flags_parse_with_their_defaults() {
        let a = Cli::parse_from(["x"]).osc;
        assert_eq!(a, OscArgs::default());
        let a = Cli::parse_from([
            "x",
            "--osc-port",
            "6000",
            "--osc-out",
            "127.0.0.1:7000",
            "--osc-out",
            "localhost:7001",
            "--clock",
            "follow",
            "--osc-bind",
            "0.0.0.0",
        ])
        .osc;
        assert_eq!(a.osc_port, 6000);
        assert_eq!(a.osc_out.len(), 2);
        assert_eq!(a.clock, ClockMode::Follow);
        assert_eq!(a.osc_bind, Some("0.0.0.0".parse().unwrap()));
        assert!(Cli::try_parse_from(["x", "--no-osc", "--osc-bind", "0.0.0.0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--osc-bind", "not-an-ip"]).is_err());
        assert!(Cli::try_parse_from(["x", "--no-osc"]).unwrap().osc.no_osc);
    }

    #[test]
    fn bad_outputs_and_taken_ports_are_errors_naming_the_flag() {
        let e = parse_out("nowhere").unwrap_err().to_string();
        assert!(e.contains("--osc-out \"nowhere\""), "{e}");
        assert_eq!(
            parse_out("127.0.0.1:5006").unwrap(),
            "127.0.0.1:5006".parse().unwrap()
        );
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let args = OscArgs {
            osc_port: taken.local_addr().unwrap().port(),
            ..OscArgs::default()
        };
        let e = services(&args).err().unwrap().to_string();
        assert!(e.contains("cannot listen for OSC on 127.0.0.1:"), "{e}");
        assert!(e.contains("--osc-port"), "{e}");
        assert!(
            services(&OscArgs {
                no_osc: true,
                ..OscArgs::default()
            })
            .unwrap()
            .is_empty()
        );
    }
}
