//! OSC dispatch cost on the control thread: how many messages per second one core can turn
//! into commands (decode + route + `Controller::apply` + engine message), for the shapes a
//! performance sends: one knob swept (its undo steps coalesce), several knobs swept in turn
//! (each message a new undo step), a status query, and undecodable garbage.

use std::hint::black_box;

use chronus::app::{AudioArgs, Session, SessionOptions};
use chronus::control::Command;
use chronus::engine::link::EngineRunner;
use chronus::model::slot::Track;
use chronus::sources::osc::OscServer;
use criterion::{Criterion, criterion_group, criterion_main};
use rosc::{OscMessage, OscPacket, OscType};

struct Bench {
    _dir: tempfile::TempDir,
    runner: EngineRunner,
    session: Session,
    server: OscServer,
    buf: Vec<f32>,
    n: u64,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let opts = SessionOptions {
            audio: AudioArgs {
                voices: 8,
                ..AudioArgs::default()
            },
            osc: None,
            watch: false,
        };
        let (mut session, runner) = Session::offline(dir.path(), &opts, 48_000);
        for (name, voice) in [("kick", "voice1"), ("bass", "voice2"), ("hat", "voice3")] {
            session
                .apply(Command::AddTrack(Box::new(Track::new(
                    name, voice, "x.x.X...",
                ))))
                .unwrap();
        }
        let server = OscServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        Bench {
            _dir: dir,
            runner,
            session,
            server,
            buf: vec![0.0; 32],
            n: 0,
        }
    }

    /// Handles one datagram; every 256 the engine renders a tiny block so its command ring
    /// drains as it would in the audio callback.
    fn handle(&mut self, bytes: &[u8]) -> usize {
        let replies = self.server.handle_datagram(self.session.ctl_mut(), bytes);
        self.n += 1;
        if self.n.is_multiple_of(256) {
            self.runner.render(&mut self.buf);
            self.session.turn();
        }
        replies.len()
    }
}

fn packet(addr: &str, v: f32) -> Vec<u8> {
    rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: addr.to_string(),
        args: vec![OscType::Float(v)],
    }))
    .unwrap()
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("osc_dispatch");

    let mut b = Bench::new();
    let one: Vec<Vec<u8>> = (0..64)
        .map(|i| packet("/mod/voice1/filter/freq", 200.0 + i as f32 * 10.0))
        .collect();
    g.bench_function("mod_setter_one_knob", |bn| {
        let mut i = 0;
        bn.iter(|| {
            i = (i + 1) % one.len();
            black_box(b.handle(&one[i]))
        })
    });

    let mut b = Bench::new();
    let knobs = [
        "/mod/voice1/filter/freq",
        "/mod/voice2/filter/freq",
        "/mod/acid1/cutoff",
        "/mod/voice3/amp",
    ];
    let four: Vec<Vec<u8>> = (0..64)
        .map(|i| packet(knobs[i % 4], 0.2 + i as f32 * 10.0))
        .collect();
    // Fill the undo history first: the steady state of a long performance.
    for i in 0..1000 {
        b.handle(&four[i % four.len()]);
    }
    g.bench_function("mod_setter_four_knobs_in_turn", |bn| {
        let mut i = 0;
        bn.iter(|| {
            i = (i + 1) % four.len();
            black_box(b.handle(&four[i]))
        })
    });

    let mut b = Bench::new();
    let status = rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: "/seq/status".into(),
        args: vec![],
    }))
    .unwrap();
    g.bench_function("seq_status_query", |bn| {
        bn.iter(|| black_box(b.handle(&status)))
    });

    let mut b = Bench::new();
    let garbage: Vec<u8> = (0..256u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    g.bench_function("garbage_datagram", |bn| {
        bn.iter(|| black_box(b.handle(&garbage)))
    });
    g.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
