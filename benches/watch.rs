//! Hot reload latency: from an editor's rename of a new version over the playing slot to the
//! snapshot being queued for the next bar: a session as headless mode starts it (the engine
//! on the paced internal clock, the watcher service, the disk thread), its loop woken by the
//! watcher or at the headless cadence. Prints p50/p95/max over 200 saves, then lets criterion
//! measure the mean.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chronus::app::{AudioArgs, ENGINE_POLL, Session, SessionOptions};
use chronus::control::{Command, Notice};
use chronus::model::slot::{Slot, Track};
use chronus::sources::watch::QUIET;
use chronus::store::{SlotNumber, Store};
use criterion::{Criterion, criterion_group, criterion_main};

struct Player {
    _dir: tempfile::TempDir,
    session: Session,
    path: PathBuf,
    saves: u64,
}

fn song(i: u64) -> Slot {
    let mut s = Slot::default();
    s.metadata.name = format!("Take {i}");
    let kick = if i.is_multiple_of(2) {
        "X...X...X...X.x."
    } else {
        "X...X...X...X..."
    };
    s.sequencer.tracks.push(Track::new("kick", "voice1", kick));
    s.sequencer
        .tracks
        .push(Track::new("hat", "voice2", "..x...x...x...x."));
    s
}

impl Player {
    fn new() -> Player {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let slot = SlotNumber::new(3).unwrap();
        Store::new(&root).save(slot, &song(0)).unwrap();
        let opts = SessionOptions {
            audio: AudioArgs {
                no_audio: true,
                buffer: 128,
                voices: 8,
                ..AudioArgs::default()
            },
            osc: None,
            watch: true,
        };
        let mut session = Session::start(&root, &opts);
        session
            .apply(Command::LoadSlot {
                slot,
                immediate: true,
            })
            .unwrap();
        session.apply(Command::Play).unwrap();
        let path = Store::new(&root).slot_path(slot);
        Player {
            _dir: dir,
            session,
            path,
            saves: 0,
        }
    }

    /// Turns the loop as headless mode does; true when a reload from disk was queued.
    fn turn(&mut self) -> bool {
        self.session.wait(ENGINE_POLL);
        self.session
            .turn()
            .iter()
            .any(|n| matches!(n, Notice::DiskReloaded { .. }))
    }

    /// Saves a new version the way VS Code does and returns the time until it is queued.
    fn save_and_wait(&mut self) -> Duration {
        self.saves += 1;
        let dir: &Path = self.path.parent().unwrap();
        let tmp = dir.join(format!(".edit{}.tmp", self.saves));
        fs::write(&tmp, song(self.saves).to_json()).unwrap();
        let t0 = Instant::now();
        fs::rename(&tmp, &self.path).unwrap();
        while !self.turn() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the save was not picked up"
            );
        }
        t0.elapsed()
    }
}

fn reload_latency(c: &mut Criterion) {
    let mut player = Player::new();
    let mut delays: Vec<Duration> = (0..200).map(|_| player.save_and_wait()).collect();
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "watch/rename_to_queued over {} saves (quiet {} ms, loop woken or every {} ms): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        delays.len(),
        QUIET.as_millis(),
        ENGINE_POLL.as_millis(),
        ms(delays[delays.len() / 2]),
        ms(delays[delays.len() * 95 / 100]),
        ms(delays[delays.len() - 1]),
    );

    let mut g = c.benchmark_group("watch");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("rename_to_queued", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| player.save_and_wait()).sum())
    });
    g.finish();
}

criterion_group!(benches, reload_latency);
criterion_main!(benches);
