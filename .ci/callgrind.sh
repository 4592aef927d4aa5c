#!/usr/bin/env bash
# Instructions per frame of `Engine::process` on `chronus render 1 --bars 4` under callgrind,
# and their split by source file (reverb.rs, delay.rs, voice.rs, osc.rs, ...).
# BIN (default target/release/chronus), SLOT (1) and BARS (4) change what is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/chronus}
SLOT=${SLOT:-1}
BARS=${BARS:-4}
OUT=target/callgrind
command -v valgrind >/dev/null || { echo "callgrind: valgrind not found" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT/render.wav" "$OUT/callgrind.out"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" render "$SLOT" --bars "$BARS" --out "$OUT/render.wav" >"$OUT/render.log" 2>"$OUT/valgrind.log" \
  || { cat "$OUT/render.log" "$OUT/valgrind.log" >&2; exit 1; }
# Frames: the size of the WAV's data chunk over 8 bytes (two 32-bit float channels).
at=$(grep -obUa data "$OUT/render.wav" | head -n1 | cut -d: -f1)
bytes=$(od -An -tu4 -j $((at + 4)) -N4 "$OUT/render.wav" | tr -d ' ')
frames=$((bytes / 8))
total=$(awk '/^summary:/ {print $2}' "$OUT/callgrind.out")
echo "chronus render $SLOT --bars $BARS: $frames frames, $total instructions in the whole process"
python3 .ci/callgrind_units.py "$OUT/callgrind.out" "$frames"
