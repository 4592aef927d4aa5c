//! OSC latency through the whole session: a client sends `/seq/bpm` and waits for the reply
//! while the session's loop (the one the tracker and headless mode turn) sleeps until woken.
//! The round trip bounds "datagram to Command applied" from above: it adds the reply's way
//! back. Criterion reports the mean; a second pass prints p50/p90/p99/max over 5 000 trips.
//! Target: p99 ≤ 0.5 ms on loopback.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chronus::app::{ENGINE_POLL, Session, SessionOptions};
use chronus::audio::AudioArgs;
use chronus::control::Command;
use chronus::sources::osc::OscArgs;
use criterion::{Criterion, criterion_group, criterion_main};
use rosc::{OscMessage, OscPacket, OscType};

fn session(dir: &std::path::Path) -> (Session, SocketAddr) {
    let opts = SessionOptions {
        audio: AudioArgs {
            no_audio: true,
            buffer: 128,
            voices: 8,
            ..AudioArgs::default()
        },
        osc: Some(OscArgs {
            osc_port: 0,
            osc_out: vec!["127.0.0.1:9".into()],
            ..OscArgs::default()
        }),
        watch: false,
    };
    let mut s = Session::start(dir, &opts);
    s.apply(Command::Play).unwrap();
    let line = s
        .status_lines()
        .into_iter()
        .find(|l| l.starts_with("OSC "))
        .unwrap();
    let addr = line[4..].split(' ').next().unwrap().parse().unwrap();
    (s, addr)
}

fn bpm_packet(v: f32) -> Vec<u8> {
    rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: "/seq/bpm".into(),
        args: vec![OscType::Float(v)],
    }))
    .unwrap()
}

/// Runs `trips` round trips from a client thread while this thread turns the session;
/// returns each trip's time.
fn round_trips(s: &mut Session, addr: SocketAddr, trips: u64) -> Vec<Duration> {
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let client_done = done.clone();
    let waker = s.waker();
    let client = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let packets = [bpm_packet(120.0), bpm_packet(121.0)];
        let mut buf = [0u8; 2048];
        let mut times = Vec::with_capacity(trips as usize);
        for i in 0..trips {
            let t0 = Instant::now();
            sock.send_to(&packets[(i % 2) as usize], addr).unwrap();
            sock.recv_from(&mut buf).expect("a reply");
            times.push(t0.elapsed());
        }
        client_done.store(true, Ordering::Relaxed);
        waker.wake();
        tx.send(times).unwrap();
    });
    while !done.load(Ordering::Relaxed) {
        s.wait(ENGINE_POLL);
        s.turn();
    }
    client.join().unwrap();
    rx.recv().unwrap()
}

fn latency(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, addr) = session(dir.path());
    let mut g = c.benchmark_group("osc_latency");
    g.bench_function("seq_bpm_round_trip_through_session", |b| {
        b.iter_custom(|iters| round_trips(&mut s, addr, iters).into_iter().sum())
    });
    g.finish();
    let mut times = round_trips(&mut s, addr, 5000);
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "osc_latency/seq_bpm_round_trip (5000 trips): p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        pick(0.5),
        pick(0.9),
        pick(0.99),
        pick(1.0)
    );
}

criterion_group!(benches, latency);
criterion_main!(benches);
