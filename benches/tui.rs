//! Drawing one frame of the full tracker screen at 120×40 on ratatui's `TestBackend`, while
//! playing (playhead, meters, spectrum, queued slot). Target: < 2 ms a frame.

#[path = "../tests/fixtures/anthem.rs"]
mod anthem;

use std::hint::black_box;
use std::path::Path;

use chronus::app::{AudioArgs, Session, SessionOptions};
use chronus::frontend::tui::{self, App};
use chronus::keymap::Keymap;
use chronus::model::Slot;
use chronus::store::Store;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

/// The shipped slot 6 when present, else the same 8-track scene built in code.
fn anthem() -> Slot {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns/slots/slot_006.json");
    match chronus::store::read_slot_file(&path) {
        Ok(parsed) => parsed.slot,
        Err(_) => anthem::anthem_breakbeat(),
    }
}

fn bench_draw(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("chronus-bench-tui-{}", std::process::id()));
    let one = chronus::store::SlotNumber::new(1).expect("slot 1");
    Store::new(&dir).save(one, &anthem()).expect("bench slot");
    let opts = SessionOptions {
        audio: AudioArgs {
            voices: 8,
            ..AudioArgs::default()
        },
        osc: None,
        watch: false,
    };
    let (mut session, _runner) = Session::offline(&dir, &opts, 48_000);
    let ctl = session.ctl_mut();
    ctl.apply(chronus::control::Command::LoadSlot {
        slot: one,
        immediate: true,
    })
    .expect("load the bench slot");
    // Unsaved, as while performing.
    ctl.apply(chronus::control::Command::NudgeBpm(1.0))
        .expect("edit");
    let st = ctl.status_mut();
    st.running = true;
    st.global_step = 437;
    st.bar = 27;
    st.step_in_bar = 5;
    st.queued = Some((chronus::store::SlotNumber::new(3).expect("slot 3"), 28));
    st.levels = [
        0.5, 0.25, 0.8, 0.1, 0.6, 0.3, 0.05, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    st.master = [0.7, 0.65];
    st.spectrum = [0.9, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
    st.backend = "internal clock 48000 Hz / 128 frames".into();
    let mut app = App::new(Keymap::defaults());
    app.refresh_slots(ctl);
    app.ui.step = 5;

    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    c.bench_function("tui/frame_120x40_testbackend", |b| {
        b.iter(|| {
            // Alternate the playhead so every frame has changes to flush, as while playing.
            ctl.status_mut().global_step ^= 1;
            term.draw(|f| tui::draw(f, black_box(&app.ui), black_box(&*ctl)))
                .expect("draw");
        })
    });
    let area = Rect::new(0, 0, 120, 40);
    let mut buf = Buffer::empty(area);
    c.bench_function("tui/draw_buffer_120x40", |b| {
        b.iter(|| {
            buf.reset();
            tui::draw_buffer(area, &mut buf, black_box(&app.ui), black_box(&*ctl));
        })
    });
    let mut small = Terminal::new(TestBackend::new(80, 24)).expect("test backend");
    c.bench_function("tui/frame_80x24_testbackend", |b| {
        b.iter(|| {
            small
                .draw(|f| tui::draw(f, black_box(&app.ui), black_box(&*ctl)))
                .expect("draw");
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_draw);
criterion_main!(benches);
