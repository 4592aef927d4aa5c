#!/usr/bin/env bash
# windows-check.sh — type-check, build and smoke-run a Rust crate for x86_64-pc-windows-gnu
# on Debian 12 (bookworm) x86_64 with no network except the package registries.
#
# Why this way: rustup cannot download the Windows std, and a std source tree must match the
# compiler exactly (the 1.96 source does NOT compile with rustup's 1.95 stable or 1.97 nightly:
# "intrinsic safety mismatch…" / "definition of an unknown lang item: `drop_in_place`").
# Debian's bookworm-security ships a matching trio: rustc-web + cargo-web + rust-web-src
# (all 1.96.0+dfsg1-1~deb12u2 at the time of writing). Their .debs are unpacked into a private
# prefix (/opt/rust-web-<ver>) — NOT installed — so rustup's cargo/rustc stay untouched.
# std is then built from source for the target with -Zbuild-std (RUSTC_BOOTSTRAP=1), linked
# by mingw-w64 gcc, and run with wine (plus a 20-line bcryptprimitives.dll shim, because
# Debian 12's Wine 8.0 predates that DLL and Rust >= 1.78 std imports ProcessPrng from it).
#
# Usage:
#   windows-check.sh CRATE_DIR [MODE] [-- extra cargo args]
#     MODE = check  (default) cargo check --target x86_64-pc-windows-gnu
#            build  check + cargo build --release
#            smoke  check + build + run under wine: `EXE --help`, then $SMOKE (a bash file
#                   sourced with $EXE, $WINE and $WORK set) if SMOKE is given
# Environment:
#   JOBS=2            cargo -j
#   BIN=name          binary to build/run (default: the package's default binary)
#   CHECK_ARGS="..."  extra args for cargo check only (e.g. --all-targets)
#   TARGET_DIR=...    cargo target dir (default $TMPDIR/windows-target/<crate name>)
#   SMOKE=file        extra smoke commands (bash, sourced), run from CRATE_DIR
#   WINE_TESTS="a b"  (smoke mode) also build the library's unit tests for Windows and run
#                     those whose names contain a or b under wine; their failures count
#   PREFIX=...        where the Debian rust .debs are unpacked (default /opt/rust-web-<M.m>)
set -euo pipefail

CRATE=$(cd "${1:?usage: windows-check.sh CRATE_DIR [check|build|smoke] [-- cargo args]}" && pwd)
shift
MODE=check
if [[ $# -gt 0 && $1 != -- ]]; then MODE=$1; shift; fi
[[ ${1:-} == -- ]] && shift
EXTRA=("$@")
case $MODE in check|build|smoke) ;; *) echo "unknown mode: $MODE (check|build|smoke)" >&2; exit 2;; esac
JOBS=${JOBS:-2}
TRIPLE=x86_64-pc-windows-gnu
NAME=$(basename "$CRATE")
TD=${TARGET_DIR:-${TMPDIR:-/tmp}/windows-target/$NAME}
export DEBIAN_FRONTEND=noninteractive

t0=$(date +%s)
step_start() { STEP=$1; ts=$(date +%s); echo "==> [$STEP] ${2:-}"; }
step_end() { echo "<== [$STEP] $(( $(date +%s) - ts )) s"; }

# ---------------------------------------------------------------- 1. install (idempotent)
step_start install "apt packages + unpacked Debian rustc-web/cargo-web/rust-web-src"
need_apt=0
command -v x86_64-w64-mingw32-gcc >/dev/null || need_apt=1
[[ $MODE == smoke ]] && ! command -v wine >/dev/null && need_apt=1
[[ -n ${PREFIX:-} && -x ${PREFIX}/usr/bin/cargo ]] || need_apt=1
if (( need_apt )); then apt-get update -qq; fi
# The rustc-web version apt offers now (bookworm-security) and its major.minor.
V=$(apt-cache policy rustc-web | awk '/Candidate:/ {print $2}')
[[ -n $V && $V != "(none)" ]] || { echo "rustc-web not available from apt" >&2; exit 1; }
MM=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$V")
PREFIX=${PREFIX:-/opt/rust-web-$MM}
PKGS=(rustc-web cargo-web "libstd-rust-web-$MM" libstd-rust-web-dev rust-web-src)
if [[ ! -x $PREFIX/usr/bin/cargo || ! -d $PREFIX/usr/lib/rustlib/src/rust/library/std ]]; then
  # Shared-library dependencies of those packages (libllvmNN, libgit2, libcurl, …): plain libs.
  mapfile -t LIBS < <(apt-cache depends "${PKGS[@]}" | awk '$1=="Depends:" && $2 ~ /^lib/ && $2 !~ /^libstd-rust/ && $2 !~ /-dev$/ {print $2}' | sort -u)
  apt-get install -y -qq --no-install-recommends "${LIBS[@]}" >/dev/null
  dl=$(mktemp -d); chmod 755 "$dl"
  (cd "$dl" && apt-get download -qq "${PKGS[@]/%/=$V}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  mkdir -p "$PREFIX"
  for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$PREFIX"; done
  rm -rf "$dl"
fi
APT_TOOLS=(gcc-mingw-w64-x86-64)
[[ $MODE == smoke ]] && APT_TOOLS+=(wine64 wine)
missing=()
for p in "${APT_TOOLS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
(( ${#missing[@]} )) && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
step_end

# ---------------------------------------------------------------- 2. toolchain environment
export LD_LIBRARY_PATH=$PREFIX/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export RUSTC=$PREFIX/usr/bin/rustc RUSTDOC=$PREFIX/usr/bin/rustdoc
export RUSTC_BOOTSTRAP=1                      # lets the stable 1.96 cargo/rustc take -Zbuild-std
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
unset __CARGO_TESTS_ONLY_SRC_ROOT RUSTUP_TOOLCHAIN
CARGO=$PREFIX/usr/bin/cargo
[[ $("$RUSTC" --print sysroot) == "$PREFIX/usr" ]] || { echo "unexpected sysroot" >&2; exit 1; }
echo "rustc: $("$RUSTC" -V)   cargo: $("$CARGO" -V)   target dir: $TD"
XARGS=(--target "$TRIPLE" -Zbuild-std=std,panic_abort -j "$JOBS" --target-dir "$TD")

cd "$CRATE"
# ---------------------------------------------------------------- 3. check
step_start check "cargo check --target $TRIPLE ${CHECK_ARGS:-}"
# shellcheck disable=SC2086
"$CARGO" check "${XARGS[@]}" ${CHECK_ARGS:-} "${EXTRA[@]}"
step_end
[[ $MODE == check ]] && { echo "total $(( $(date +%s) - t0 )) s"; exit 0; }

# ---------------------------------------------------------------- 4. build
step_start build "cargo build --release --target $TRIPLE ${BIN:+--bin $BIN}"
"$CARGO" build --release "${XARGS[@]}" ${BIN:+--bin "$BIN"} "${EXTRA[@]}"
step_end
if [[ -z ${BIN:-} ]]; then
  BIN=$("$CARGO" metadata --no-deps --format-version 1 | python3 -c 'import json,sys; p=json.load(sys.stdin)["packages"][0]; print(p.get("default_run") or next(t["name"] for t in p["targets"] if "bin" in t["kind"]))')
fi
EXE=$TD/$TRIPLE/release/$BIN.exe
ls -la "$EXE"
[[ $MODE == build ]] && { echo "total $(( $(date +%s) - t0 )) s"; exit 0; }

# ---------------------------------------------------------------- 5. smoke under wine
step_start smoke "wine $BIN.exe"
export WINEPREFIX=$TD/wineprefix WINEDEBUG=-all
WORK=$TD/smoke-work; rm -rf "$WORK"; mkdir -p "$WORK"
if [[ ! -f $WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll ]]; then
  wineboot --init >/dev/null 2>&1 || true
  # Wine < 8.13 has no bcryptprimitives.dll; Rust >= 1.78 std imports ProcessPrng from it.
  cat > "$WORK/bcryptprimitives.c" <<'EOF'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len); /* RtlGenRandom */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
EOF
  x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
    "$WORK/bcryptprimitives.c" -ladvapi32
fi
WINE=(timeout 120 wine)
fails=0
run() { echo "\$ wine $BIN.exe $*"; if "${WINE[@]}" "$EXE" "$@"; then echo "[ok]"; else echo "[FAILED rc=$?]"; fails=$((fails+1)); fi; }
run --help
if [[ -n ${SMOKE:-} ]]; then
  # shellcheck disable=SC1090
  source "$SMOKE"
fi
step_end
if [[ -n ${WINE_TESTS:-} ]]; then
  step_start wine-tests "unit tests matching: $WINE_TESTS"
  TEXE=$("$CARGO" test --no-run --lib "${XARGS[@]}" --message-format=json "${EXTRA[@]}" \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["kind"]==["lib"]: print(m["executable"])' | tail -1)
  # shellcheck disable=SC2086
  if (cd "$WORK" && timeout 900 wine "$TEXE" $WINE_TESTS --test-threads 2); then echo "[ok] unit tests under wine"; else echo "[FAILED] unit tests under wine"; fails=$((fails+1)); fi
  step_end
fi
echo "total $(( $(date +%s) - t0 )) s; smoke failures: $fails"
exit $(( fails > 0 ))
