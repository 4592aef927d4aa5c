//! Hot reload latency: from an editor's rename of a new version over the playing slot to the
//! snapshot being queued for the next bar, with the engine on the paced internal clock and
//! the control loop polling at the headless cadence (every 5 ms). Prints p50/p95/max over
//! 200 saves, then lets criterion measure the mean.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chronus::audio::{AudioOutput, Recorder};
use chronus::control::{Command, Controller, Service};
use chronus::engine::Engine;
use chronus::model::slot::{Slot, Track};
use chronus::sources::watch::{QUIET, SlotWatcher};
use chronus::store::{SlotNumber, Store};
use criterion::{Criterion, criterion_group, criterion_main};

/// How long the headless loop sleeps between turns.
const LOOP_SLEEP: Duration = Duration::from_millis(5);

struct Player {
    _dir: tempfile::TempDir,
    _output: AudioOutput,
    ctl: Controller,
    watcher: SlotWatcher,
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
        let mut recorder = Recorder::new();
        let (output, link) =
            chronus::audio::open_engine(Engine::new(48_000.0, 8), 128, &mut recorder);
        let mut ctl = Controller::new(Store::new(&root), 8, link, recorder);
        ctl.apply(Command::LoadSlot {
            slot,
            immediate: true,
        })
        .unwrap();
        ctl.apply(Command::Play).unwrap();
        let watcher = SlotWatcher::new(&root).unwrap();
        let path = Store::new(&root).slot_path(slot);
        Player {
            _dir: dir,
            _output: output,
            ctl,
            watcher,
            path,
            saves: 0,
        }
    }

    fn turn(&mut self) {
        self.ctl.poll();
        self.watcher.poll(&mut self.ctl);
        self.ctl.drain_notices().for_each(drop);
    }

    /// Saves a new version the way VS Code does and returns the time until it is queued.
    fn save_and_wait(&mut self) -> Duration {
        self.saves += 1;
        let dir: &Path = self.path.parent().unwrap();
        let tmp = dir.join(format!(".edit{}.tmp", self.saves));
        fs::write(&tmp, song(self.saves).to_json()).unwrap();
        let before = self.watcher.reloads();
        let t0 = Instant::now();
        fs::rename(&tmp, &self.path).unwrap();
        while self.watcher.reloads() == before {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the save was not picked up"
            );
            std::thread::sleep(LOOP_SLEEP);
            self.turn();
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
        "watch/rename_to_queued over {} saves (quiet {} ms, loop sleep {} ms): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        delays.len(),
        QUIET.as_millis(),
        LOOP_SLEEP.as_millis(),
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
