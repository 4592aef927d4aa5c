//! Everything that differs between operating systems and processors, and the only place in
//! Chronus with `unsafe` code: real-time priority for the clock thread, the thread's
//! voluntary-switch counter (how the audio side notices that it blocked), ALSA's error
//! chatter, and flush-to-zero for denormals.
//!
//! It sits below every other module, so the engine (which sets flush-to-zero on the thread
//! that renders) and the audio drivers can both use it.
#![allow(unsafe_code)]

/// Asks for real-time scheduling (SCHED_FIFO, a modest priority) for the calling thread, as
/// audio threads get from JACK or a sound server, so other work on a busy machine cannot
/// delay a period. Returns false, changing nothing, where the system does not allow it.
pub fn promote_to_realtime() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain libc calls on the current thread with a fully initialised argument.
        unsafe {
            let param = libc::sched_param { sched_priority: 20 };
            libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// How often the calling thread has given up the CPU to wait (a cheap syscall: no
/// allocation, no I/O).
pub fn voluntary_switches() -> i64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage fills the zeroed struct it is given for the calling thread.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_THREAD, &mut usage) == 0 {
                return usage.ru_nvcsw;
            }
        }
    }
    0
}

/// Keeps ALSA's own error chatter off the terminal for this thread. The returned guard holds
/// the buffer ALSA writes into; keep it alive while ALSA is used from this thread.
pub fn silence_alsa() -> Option<impl Sized> {
    alsa::Output::local_error_handler().ok()
}
/// Sets flush-to-zero and denormals-are-zero (MXCSR) for the current thread on x86_64;
/// a no-op on other targets.
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
