#!/usr/bin/env bash
# The REPL as a person uses it: typed into a real terminal (tmux) and read back from the
# screen. Values, an error followed by a working statement, a two-line statement, Tab
# completion, a meta-command, history written to disk, and Ctrl-D exiting with 0.
#
# The REPL runs in a tmux server of its own (its socket in a temporary folder), which
# is the only one stopped at the end. Each step types a line and Enter, waits for the expected text
# below the typed line, then for a bare prompt on a later line. On a failure the
# screen is printed. Installs tmux (apt-get) when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
spel="${CARGO_TARGET_DIR:-$root/target}/debug/spel"
[ -x "$spel" ] || { echo "$spel is missing: build spel first (cargo build)" >&2; exit 1; }
if ! command -v tmux >/dev/null; then
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q tmux; } >/dev/null
fi

home=$(mktemp -d) # the REPL's home (history) and tmux's socket
prompt='^(spel>|  \.\.\.) ?$' # capture-pane drops trailing spaces
timeout=20                     # seconds for each wait
term() { tmux -S "$home/tmux" "$@"; }
finish() {
  term kill-server 2>/dev/null || true
  rm -rf "$home"
}
trap finish EXIT

# The screen with its scrollback, wrapped lines joined, blank lines at the end dropped.
screen() {
  term capture-pane -p -J -t repl -S - |
    awk 'NF { for (; blank > 0; blank--) print ""; print; next } { blank++ }'
}
fail() {
  echo "FAIL: $*"
  echo "----- the screen -----"
  screen
  exit 1
}
# The REPL's exit status, written by the shell that runs it (more reliable than tmux's
# pane_dead_status, which tmux 3.3 sometimes leaves empty).
exit_status() { [ -s "$home/status" ] && cat "$home/status"; }
# wait_for WHY CHECK...: poll CHECK every 0.1 s; fail with WHY after $timeout seconds.
wait_for() {
  local why=$1 deadline=$((SECONDS + timeout))
  shift
  until "$@"; do
    if status=$(exit_status); then fail "$why (the REPL exited with $status)"; fi
    [ $SECONDS -lt $deadline ] || fail "$why (waited ${timeout}s)"
    sleep 0.1
  done
}
# Line LINE is where the last input was typed: output and the next prompt come below it.
prompt_after() {
  local now
  now=$(screen)
  [ "$(wc -l <<<"$now")" -gt "$1" ] && tail -n 1 <<<"$now" | grep -Eq -- "$prompt"
}
shown_after() { screen | tail -n +"$(($1 + 1))" | grep -Fq -- "$2"; }
# step INPUT EXPECTED: type INPUT (literally, then Enter); EXPECTED "" checks nothing.
step() {
  local line
  line=$(screen | wc -l)
  term send-keys -t repl -l -- "$1"
  term send-keys -t repl Enter
  if [ -n "$2" ]; then wait_for "after '$1': no '$2'" shown_after "$line" "$2"; fi
  wait_for "after '$1': the prompt did not come back" prompt_after "$line"
  echo "ok: '$1' -> '${2:-(nothing to check)}'"
}

cd "$root"
# A large scrollback keeps line numbers valid; remain-on-exit keeps the screen of a
# REPL that crashed readable.
# start_repl [VAR=VALUE...]: a REPL in a new tmux session `repl`, with the variables set.
start_repl() {
  rm -f "$home/status"
  term -f /dev/null start-server \; set-option -g history-limit 100000 \; \
    set-option -wg remain-on-exit on \; \
    new-session -d -s repl -x 120 -y 40 \
    "env XDG_DATA_HOME='$home' HOME='$home' $* '$spel'; echo \$? >'$home/status'"
  wait_for "no first prompt matching /$prompt/" prompt_after 0
}
# stop_repl: Ctrl-D, which must end the REPL with status 0.
stop_repl() {
  term send-keys -t repl C-d
  local deadline=$((SECONDS + timeout))
  until status=$(exit_status); do
    [ $SECONDS -lt $deadline ] || fail "the REPL was still running ${timeout}s after Ctrl-D"
    sleep 0.1
  done
  [ "$status" = 0 ] || fail "Ctrl-D: the REPL exited with $status"
  echo "ok: Ctrl-D -> exit 0"
}
start_repl

step 'x = 6 * 7' ''
step 'x' '42'
step 't |> head 1' 'unknown name `t`'
step 'x + 1' '43'
step 'y = (x +' ''
step '  1) * 2' ''
step 'y' '86'
step 't = table region = ["London", "North West"], fte = [1.5, 2]' ''
step $'t |> desc\t' 'shape: (2, 9)'
step ':tables' '2 rows × 2 columns'

stop_repl
grep -q 'x = 6 \* 7' "$home/spel/history" || fail "history not written to \$XDG_DATA_HOME/spel/history"
echo "ok: history written to \$XDG_DATA_HOME/spel/history"
term kill-server

# A bug in what runs at each keystroke (completion, hints, colours, the column list) or
# in a meta-command costs that help, never the session: each panics here, on purpose.
start_repl SPEL_DEBUG_FAULT=complete,hint,highlight,columns,meta
step 'x = 6 * 7' ''
step 't = table a = [1, 2]' ''
step $'x + 1\t' '43'
step ':tables' 'internal error'
step 'x' '42'
stop_repl
