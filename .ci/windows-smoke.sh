# Chronus's smoke run under wine: sourced by ../shared/tools/windows-check.sh (from the crate
# folder, with $EXE, $WORK, $WINE and run() defined; `fails` counts failures). It covers what
# differs on Windows: saves (temp file, backup, replace, no folder sync), the slot list, a
# render, headless on the internal clock, and an OSC round trip with `chronus ctl`.
P="$WORK/patterns"
ok() { echo "[ok] $*"; }
bad() { echo "[FAILED] $*"; fails=$((fails+1)); }

run check patterns/slots/slot_001.json
# Two saves of different songs to one slot: the second keeps the first as a backup and
# replaces the slot file; both exit 0 and leave no temp file.
run slots save 12 --from patterns/slots/slot_001.json --patterns "$P"
run slots save 12 --from patterns/slots/slot_002.json --patterns "$P"
if ls "$P/backups" 2>/dev/null | grep -q '^slot_012_.*\.backup$'; then ok "backup of slot 12 kept"; else bad "no backup of slot 12"; fi
if compgen -G "$P/slots/.slot_012.json.tmp-*" >/dev/null; then bad "temp file left behind"; else ok "no temp file"; fi
name=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["metadata"]["name"])' patterns/slots/slot_002.json)
grep -qF "\"$name\"" "$P/slots/slot_012.json" && ok "slot 12 holds the second song ($name)" || bad "slot 12 does not hold the second song"
out=$("${WINE[@]}" "$EXE" slots list --patterns "$P" 2>&1) && grep -q '^ *12 ' <<<"$out" && ok "slots list shows slot 12" || { echo "$out"; bad "slots list"; }
run render 1 --bars 1 --out "$WORK/x.wav"
[[ -s $WORK/x.wav ]] && ok "x.wav $(stat -c %s "$WORK/x.wav") bytes" || bad "no x.wav"
run headless --no-audio --no-osc --seconds 2 --patterns patterns

# OSC round trip: headless listening on a free port, `ctl status` and `ctl save` answered.
port=$(python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"${WINE[@]}" "$EXE" headless --no-audio --osc-port "$port" --seconds 20 --patterns "$P" --slot 12 >"$WORK/headless.log" 2>&1 &
hl=$!
answered=""
for _ in $(seq 1 40); do
  if st=$("${WINE[@]}" "$EXE" ctl --port "$port" --timeout 0.5 status 2>&1); then answered=1; break; fi
  sleep 0.25
done
if [[ -n $answered ]]; then ok "ctl status answered: $(head -c 120 <<<"$st" | tr '\n' ' ')"; else echo "$st"; bad "ctl status: no answer"; fi
if sv=$("${WINE[@]}" "$EXE" ctl --port "$port" --timeout 5 save 13 2>&1) && [[ -f $P/slots/slot_013.json ]]; then ok "ctl save 13: $sv"; else echo "$sv"; bad "ctl save 13"; fi
kill "$hl" 2>/dev/null || true; wait "$hl" 2>/dev/null || true
