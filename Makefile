# Chronus: `make run` builds and starts the tracker, `make test` runs the whole test suite.

# cmake, g++ and libclang-dev build Ableton Link (the `link` feature, through rusty_link's
# bindgen); iproute2 gives the Link test the `ip` it brings a private loopback up with.
SYS_PACKAGES := pkg-config libasound2-dev libdbus-1-dev jackd2 libjack-jackd2-dev libasound2-plugins tmux cmake g++ libclang-dev iproute2
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS ?=
PACKAGES ?= $(SYS_PACKAGES)

.PHONY: all run test bench callgrind soak deps build release fmt lint clean check-windows sync-check check-no-link midi-check link-check

all: build

# valgrind (callgrind) and python3 (its report) for `make callgrind` and `make bench` only.
BENCH_PACKAGES := valgrind python3

# Install the system packages the build and the tests need, only when some are missing.
deps:
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(CARGO) build --release

run: build
	./target/release/chronus $(ARGS)

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

# A build without Ableton Link (no C++ toolchain, MIT-only dependencies) must keep building.
check-no-link:
	$(CARGO) check --no-default-features --all-targets

# Tests that need jackd or tmux skip without them (outside CI); deps installs both, and this
# fails loudly if they still cannot be found, so `make test` never skips them. The tests build
# the `link` feature (the default); check-no-link proves the build without it.
test: deps fmt lint check-no-link
	@command -v tmux >/dev/null || { echo "make test: tmux not found after make deps" >&2; exit 1; }
	@[ -x /usr/bin/jackd ] || [ -x /usr/local/bin/jackd ] || { echo "make test: jackd not found after make deps" >&2; exit 1; }
	$(CARGO) test --all-targets
	$(MAKE) link-check

# Two headless Chronus and a third Link peer in a private network namespace: one tempo within
# 2 s, the median bar-start offset after that at most 1 ms. Run alone, after the suite: timed
# across processes, it measures the machine too when tests run beside it.
link-check:
	$(CARGO) test --test it -- --ignored --exact --nocapture link::two_instances_and_a_third_peer_share_tempo_and_bar_lines_in_a_private_network

# Two headless processes, a leader and a follower, compared to the hundredth of a millisecond.
# Not part of `make test`: the follower's bar lines drift by milliseconds in some runs on this
# machine (median bar 1.003 s against 1.000 s, offsets up to 22 ms in 15-second runs), an open
# problem of the clock follower that this measures; see the README's "OSC and sync".
sync-check: deps
	$(CARGO) test --test it -- --ignored --exact --nocapture osc::a_follower_plays_bar_aligned_with_its_leader_and_falls_back_when_it_goes_silent

# Two headless processes through a JACK dummy server: the follower's `--clock midi` against the
# leader's MIDI clock out (median bar offset after lock, followed tempo); then a note track's
# notes captured by jack_midi_dump against its hits' samples (within one period). Run alone.
midi-check: deps
	$(CARGO) test --test it -- --ignored --exact --nocapture midi::a_midi_clock_follower_plays_bar_aligned_with_its_leader
	$(CARGO) test --test it -- --ignored --exact --nocapture midi::a_note_track_sends_notes_at_the_samples_of_its_hits_through_jack

# The criterion benches, then the callgrind figure of the engine.
bench: deps
	$(CARGO) bench
	$(MAKE) callgrind

# Instructions per frame of Engine::process on `chronus render 1 --bars 4` (the release build,
# whose line tables let callgrind split the count by source file: reverb.rs, voice.rs, ...).
callgrind:
	$(MAKE) deps PACKAGES="$(SYS_PACKAGES) $(BENCH_PACKAGES)"
	$(CARGO) build --release
	.ci/callgrind.sh

# Ten minutes of headless under 1000 OSC edits and saves a second with a hot-reloaded file:
# no blocked callback, flat memory, every slot and backup valid (CHRONUS_SOAK_SECONDS=60 for
# a short run).
soak: deps
	$(CARGO) test --test it soak -- --ignored --nocapture

# The Windows build, proven here: cross-compiles for x86_64-pc-windows-gnu (Debian's matching
# rustc/std sources, unpacked privately; mingw-w64 links), checks every target, builds the
# release .exe, runs .ci/windows-smoke.sh under wine, then the unit tests of the store, the
# slot model and the platform layer, built for Windows and run under wine
# (.ci/windows-check.sh says how).
WINDOWS_CHECK ?= .ci/windows-check.sh
WINE_TESTS ?= store:: model:: platform::
# Built without the `link` feature: rusty_link's C++ build needs a mingw g++ and bindgen for
# the Windows target, which this cross set-up does not have (cmake stops at
# "x86_64-w64-mingw32-g++ not found"); a native Windows build with a C++ toolchain has Link.
check-windows:
	CHECK_ARGS="--all-targets" SMOKE=.ci/windows-smoke.sh WINE_TESTS="$(WINE_TESTS)" $(WINDOWS_CHECK) . smoke -- --no-default-features

clean:
	$(CARGO) clean
