//! Everything that differs between operating systems and processors, and the only place in
//! Chronus with `unsafe` code or `cfg(target_os)`: real-time priority for the clock thread,
//! the thread's voluntary-switch counter (how the audio side notices that it blocked), ALSA's
//! error chatter, flush-to-zero for denormals, opening user files without waiting, and how
//! files are replaced, synced and linked on each system.
//!
//! It sits below every other module, so the engine (which sets flush-to-zero on the thread
//! that renders) and the audio drivers can both use it.
#![allow(unsafe_code)]

/// The calling thread runs at real-time priority while this is alive (dropping it changes
/// nothing: the thread keeps its priority until it ends).
pub struct Realtime {
    /// The handle of the real-time grant, where the system gave one.
    _handle: Option<audio_thread_priority::RtPriorityHandle>,
}

/// Asks for real-time priority for the calling thread, as audio threads get from JACK or a
/// sound server, so other work on a busy machine cannot delay a period of `frames` frames at
/// `rate` Hz. `None`, changing nothing, where the system does not allow it.
///
/// - Linux: SCHED_FIFO straight away where the user may (root, or an `rtprio` limit as audio
///   setups grant to the `audio` group), else through rtkit over D-Bus (the desktop way);
/// - Windows: the MMCSS "Pro Audio" task class; macOS: a Mach time-constraint policy sized to
///   the period (both through `audio_thread_priority`).
pub fn promote_to_realtime(frames: u32, rate: u32) -> Option<Realtime> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain libc calls on the current thread with a fully initialised argument.
        let direct = unsafe {
            let param = libc::sched_param { sched_priority: 20 };
            libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0
        };
        if direct {
            return Some(Realtime { _handle: None });
        }
    }
    audio_thread_priority::promote_current_thread_to_real_time(frames, rate)
        .ok()
        .map(|h| Realtime { _handle: Some(h) })
}

/// True where [`voluntary_switches`] counts: where the audio side can notice that it waited
/// (Linux). Elsewhere `blocked` is not counted, and reports say so rather than show 0.
pub const COUNTS_WAITS: bool = cfg!(target_os = "linux");

/// How often the calling thread has given up the CPU to wait (a cheap syscall: no
/// allocation, no I/O); `None` where the system keeps no such count per thread.
pub fn voluntary_switches() -> Option<i64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage fills the zeroed struct it is given for the calling thread.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_THREAD, &mut usage) == 0 {
                return Some(usage.ru_nvcsw);
            }
        }
    }
    None
}

/// Keeps ALSA's own error chatter off the terminal for this thread (Linux; elsewhere there is
/// no ALSA and nothing to keep quiet). Keep the returned guard alive while ALSA is used from
/// this thread: it holds the buffer ALSA writes into.
pub fn silence_alsa() -> Option<impl Sized> {
    #[cfg(target_os = "linux")]
    {
        alsa::Output::local_error_handler().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None::<()>
    }
}

/// Sets flush-to-zero for the current thread, so denormal numbers in decaying filters and
/// reverb tails cost no more than any other: FTZ and DAZ in MXCSR on x86_64, FZ in FPCR on
/// aarch64 (Apple silicon, ARM laptops); a no-op on other processors.
pub fn set_flush_to_zero() {
    #[cfg(target_arch = "x86_64")]
    {
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        let mut csr: u32 = 0;
        // SAFETY: STMXCSR/LDMXCSR read and write this thread's SSE control register through a
        // valid, aligned u32 on our stack; setting FTZ/DAZ only changes how denormals round.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr as *mut u32, options(nostack, preserves_flags));
            csr |= FTZ | DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr as *const u32, options(nostack, preserves_flags, readonly));
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        const FZ: u64 = 1 << 24;
        let mut fpcr: u64;
        // SAFETY: MRS/MSR read and write this thread's floating-point control register; setting
        // FZ only changes how denormals round.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
            fpcr |= FZ;
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
    }
}

/// Off: [`with_wide_lanes`] runs the portable code even where the CPU has AVX2 (tests compare
/// the two, which must give the same bits).
static WIDE_LANES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Lets [`with_wide_lanes`] use AVX2 where the CPU has it (the default), or not.
pub fn allow_wide_lanes(on: bool) {
    WIDE_LANES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Runs `f` compiled for AVX2 (eight f32 lanes a register instead of four) when this CPU has
/// it, else as built for the baseline processor. Everything `f` does must be inlined into it
/// to be compiled for AVX2: mark the closure itself `#[inline(always)]` (a closure is not
/// inlined into a function of other target features otherwise) and the functions it calls
/// down the call tree. FMA is not enabled and
/// Rust never fuses a multiply and an add by itself, so both versions compute the same bits;
/// only the width of the registers differs.
#[inline(always)]
pub fn with_wide_lanes<R>(f: impl FnOnce() -> R) -> R {
    /// Work that needs no shuffles: the closure alone.
    struct Plain<F>(F);
    impl<R, F: FnOnce() -> R> OnLanes for Plain<F> {
        type Output = R;
        #[inline(always)]
        fn run<L: Lanes>(self, _: L) -> R {
            (self.0)()
        }
    }
    with_lanes(Plain(f))
}

/// Moves between eight rows of eight f32 and their transpose in registers: what a unit
/// whose lanes are separate delay lines (the reverb's combs, one lane each) needs to read and
/// write eight consecutive samples of each line as eight vectors, one per sample.
/// [`Portable`] does it with plain array code; [`Avx2`] with AVX shuffles. Both move the same
/// bits.
pub trait Lanes: Copy {
    /// The 8×8 block whose row `j` holds the `j`-th value of every row given:
    /// `out[j][k] == rows[k][j]`.
    fn load_transposed(self, rows: [&[f32; 8]; 8]) -> [[f32; 8]; 8];
    /// Writes the transpose of `block` into `rows`: `rows[k][j] = block[j][k]`.
    fn store_transposed(self, block: [[f32; 8]; 8], rows: [&mut [f32; 8]; 8]);
}

/// [`Lanes`] for any processor (the compiler picks the instructions).
#[derive(Clone, Copy, Debug)]
pub struct Portable;

impl Lanes for Portable {
    #[inline(always)]
    fn load_transposed(self, rows: [&[f32; 8]; 8]) -> [[f32; 8]; 8] {
        std::array::from_fn(|j| std::array::from_fn(|k| rows[k][j]))
    }

    #[inline(always)]
    fn store_transposed(self, block: [[f32; 8]; 8], rows: [&mut [f32; 8]; 8]) {
        for (k, row) in rows.into_iter().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = block[j][k];
            }
        }
    }
}

/// [`Lanes`] with AVX shuffles (x86_64). A value exists only where the CPU has AVX2: only
/// [`with_lanes`] makes one, after asking the CPU.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx2(());

/// Transposes the two 4×4 blocks held in the low and the high halves of four vectors.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn transpose_halves(
    [a, b, c, d]: [std::arch::x86_64::__m256; 4],
) -> [std::arch::x86_64::__m256; 4] {
    use std::arch::x86_64::*;
    // SAFETY: only reached through an `Avx2` value, which exists only where the CPU has AVX.
    unsafe {
        let (ab_lo, ab_hi) = (_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
        let (cd_lo, cd_hi) = (_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
        [
            _mm256_shuffle_ps::<0x44>(ab_lo, cd_lo),
            _mm256_shuffle_ps::<0xee>(ab_lo, cd_lo),
            _mm256_shuffle_ps::<0x44>(ab_hi, cd_hi),
            _mm256_shuffle_ps::<0xee>(ab_hi, cd_hi),
        ]
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    /// Half rows are loaded straight into the halves of the vectors (a load and an insert
    /// from memory), so only the in-half shuffles are left: 16 of them, not 24.
    #[inline(always)]
    fn load_transposed(self, rows: [&[f32; 8]; 8]) -> [[f32; 8]; 8] {
        use std::arch::x86_64::*;
        // SAFETY: `self` exists only where the CPU has AVX2 (see `with_lanes`); every load
        // reads four f32 inside one of the `[f32; 8]` rows (at 0 or 4).
        unsafe {
            let halves = |at: usize| -> [__m256; 4] {
                std::array::from_fn(|k| {
                    let lo = _mm_loadu_ps(rows[k].as_ptr().add(at));
                    let hi = _mm_loadu_ps(rows[k + 4].as_ptr().add(at));
                    _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(lo), hi)
                })
            };
            let first = transpose_halves(halves(0));
            let last = transpose_halves(halves(4));
            std::mem::transmute::<[[__m256; 4]; 2], [[f32; 8]; 8]>([first, last])
        }
    }

    /// The in-half shuffles, then each half stored on its own (a store and an extract to
    /// memory), as in `load_transposed`.
    #[inline(always)]
    fn store_transposed(self, block: [[f32; 8]; 8], rows: [&mut [f32; 8]; 8]) {
        use std::arch::x86_64::*;
        // SAFETY: `self` exists only where the CPU has AVX2 (see `with_lanes`); every store
        // writes four f32 inside one of the `[f32; 8]` rows (at 0 or 4).
        unsafe {
            let [first, last] = std::mem::transmute::<[[f32; 8]; 8], [[__m256; 4]; 2]>(block);
            for (at, quarter) in [(0, first), (4, last)] {
                for (k, v) in transpose_halves(quarter).into_iter().enumerate() {
                    _mm_storeu_ps(rows[k].as_mut_ptr().add(at), _mm256_castps256_ps128(v));
                    _mm_storeu_ps(
                        rows[k + 4].as_mut_ptr().add(at),
                        _mm256_extractf128_ps::<1>(v),
                    );
                }
            }
        }
    }
}

/// Work that runs with a [`Lanes`] implementation (see [`with_lanes`]).
pub trait OnLanes {
    /// What the work returns.
    type Output;
    /// Does the work; everything it calls must be `#[inline(always)]` to be compiled for AVX2
    /// (see [`with_wide_lanes`]).
    fn run<L: Lanes>(self, lanes: L) -> Self::Output;
}

/// As [`with_wide_lanes`], and hands the work the shuffles that go with the instructions it
/// was compiled for: [`Avx2`] where the CPU has AVX2 (and wide lanes are allowed), else
/// [`Portable`].
#[inline(always)]
pub fn with_lanes<T: OnLanes>(task: T) -> T::Output {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx,avx2")]
        fn wide<T: OnLanes>(task: T) -> T::Output {
            task.run(Avx2(()))
        }
        if WIDE_LANES.load(std::sync::atomic::Ordering::Relaxed)
            && std::arch::is_x86_feature_detected!("avx2")
        {
            // SAFETY: the CPU reports AVX and AVX2, the only features `wide` is compiled for.
            return unsafe { wide(task) };
        }
    }
    task.run(Portable)
}

/// What a path on disk is, as far as reading it goes: only a regular file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link (seen only when the link itself is asked about).
    Symlink,
    /// A FIFO (named pipe): reading it waits for a writer.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device (a disk).
    BlockDevice,
    /// Anything else the system has.
    Other,
}

impl FileKind {
    /// The kind of `ft`.
    pub fn of(ft: &std::fs::FileType) -> FileKind {
        if ft.is_file() {
            return FileKind::Regular;
        }
        if ft.is_dir() {
            return FileKind::Directory;
        }
        if ft.is_symlink() {
            return FileKind::Symlink;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_fifo() {
                return FileKind::Fifo;
            }
            if ft.is_socket() {
                return FileKind::Socket;
            }
            if ft.is_char_device() {
                return FileKind::CharDevice;
            }
            if ft.is_block_device() {
                return FileKind::BlockDevice;
            }
        }
        FileKind::Other
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Symlink => "a symbolic link",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Other => "not a regular file",
        })
    }
}

/// Opens `path` for reading without ever waiting: a FIFO with no writer opens at once
/// (instead of blocking until one appears), and a terminal device does not become the
/// controlling terminal. Reads of a regular file are unaffected.
pub fn open_for_reading(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Makes a rename or a new file in `dir` durable. On Unix the folder itself is synced (its
/// entry is what a rename changes). Windows cannot open a folder as a file, and NTFS journals
/// its metadata: there, flushing the file before the rename (which every writer does) is
/// what the system offers, so this does nothing.
pub fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        std::fs::File::open(dir).and_then(|d| d.sync_all())
    }
    // macOS and the BSDs: `sync_all` asks for F_FULLFSYNC on Apple systems, which some file
    // systems refuse for a folder. The file itself was fully synced before its rename; a
    // folder sync the file system does not offer is not a failed save (as in SQLite).
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP)) => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// How long [`replace_file`] keeps trying while another program has the file open without
/// sharing it (Windows: an editor saving, a virus scanner, a backup tool).
pub const REPLACE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Renames `from` to `to`, replacing `to` atomically (POSIX `rename`; on Windows `MoveFileEx`
/// with replace, which is what `std::fs::rename` does). On Windows a file another program
/// holds open without sharing refuses that for a moment: the rename is tried again for up to
/// [`REPLACE_RETRY`] before the error is returned.
pub fn replace_file(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        match std::fs::rename(from, to) {
            Err(e) if held_by_another_program(&e) && start.elapsed() < REPLACE_RETRY => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// True for the errors Windows gives while another program has a file open without sharing
/// it: a sharing or lock violation, or access denied (what a pending delete or a scanner's
/// handle gives a rename). Never on other systems, where such a rename does not fail.
fn held_by_another_program(e: &std::io::Error) -> bool {
    #[cfg(windows)]
    {
        const ERROR_ACCESS_DENIED: i32 = 5;
        const ERROR_SHARING_VIOLATION: i32 = 32;
        const ERROR_LOCK_VIOLATION: i32 = 33;
        matches!(
            e.raw_os_error(),
            Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION)
        )
    }
    #[cfg(not(windows))]
    {
        let _ = e;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8×8 block of distinct values, `rows[k][j] = 8k + j + 0.5` (negated on odd k).
    fn block() -> [[f32; 8]; 8] {
        std::array::from_fn(|k| {
            let sign = if k % 2 == 1 { -1.0 } else { 1.0 };
            std::array::from_fn(|j| sign * ((8 * k + j) as f32 + 0.5))
        })
    }

    /// Loads the transpose of `block()` and stores it back transposed (so into rows again).
    fn round_trip<L: Lanes>(lanes: L) -> ([[f32; 8]; 8], [[f32; 8]; 8]) {
        let rows = block();
        let t = lanes.load_transposed(rows.each_ref());
        let mut back = [[0.0; 8]; 8];
        lanes.store_transposed(t, back.each_mut());
        (t, back)
    }

    #[test]
    fn the_portable_transposes_move_row_k_value_j_to_row_j_value_k() {
        let rows = block();
        let (t, back) = round_trip(Portable);
        for k in 0..8 {
            for j in 0..8 {
                assert_eq!(t[j][k].to_bits(), rows[k][j].to_bits(), "{j} {k}");
            }
        }
        assert_eq!(back, rows);
    }

    #[test]
    fn avx2_and_the_portable_transposes_agree() {
        struct Both;
        impl OnLanes for Both {
            type Output = ([[f32; 8]; 8], [[f32; 8]; 8]);
            #[inline(always)]
            fn run<L: Lanes>(self, lanes: L) -> Self::Output {
                round_trip(lanes)
            }
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            assert_eq!(round_trip(Avx2(())), round_trip(Portable));
        }
        assert_eq!(with_lanes(Both), round_trip(Portable));
    }

    #[test]
    fn a_replace_puts_the_new_content_under_the_old_name() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("new.tmp"), dir.path().join("slot.json"));
        std::fs::write(&from, "new").unwrap();
        std::fs::write(&to, "old").unwrap();
        replace_file(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "new");
        assert!(!from.exists());
        sync_dir(dir.path()).unwrap();
    }

    /// Windows: another program (an editor, a virus scanner) holds the slot file open without
    /// sharing it; the replace waits for it to let go instead of failing the save.
    #[cfg(windows)]
    #[test]
    fn a_replace_waits_while_another_program_holds_the_file() {
        use std::os::windows::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("new.tmp"), dir.path().join("slot.json"));
        std::fs::write(&from, "new").unwrap();
        std::fs::write(&to, "old").unwrap();
        let held = std::fs::OpenOptions::new()
            .read(true)
            .share_mode(0)
            .open(&to)
            .unwrap();
        assert!(std::fs::rename(&from, &to).is_err(), "the file is not held");
        let letting_go = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(held);
        });
        let t0 = std::time::Instant::now();
        replace_file(&from, &to).unwrap();
        assert!(t0.elapsed() >= std::time::Duration::from_millis(200));
        letting_go.join().unwrap();
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "new");
    }
}
