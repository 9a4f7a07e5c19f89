#!/usr/bin/env bash
# Installs what `make run` / `make test` need on a fresh Debian machine, and nothing twice:
# every step checks first, so a second run takes about a second.
#   scripts/setup.sh app    build tools: wasm32 target, cargo-leptos, wasm-bindgen, wasm-opt
#   scripts/setup.sh test   the above, plus Debian chromium, a running PostgreSQL and the
#                           Python test environment (target/pyenv)
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown && return
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
}

ensure_lint_tools() {
  # `make test` runs `cargo fmt --check` and `cargo clippy`.
  rustup component list --installed | grep -q '^clippy' && rustup component list --installed | grep -q '^rustfmt' && return
  say "adding the clippy and rustfmt components"
  rustup component add clippy rustfmt
}

ensure_cargo_leptos() {
  # 0.3.11 needs a newer rustc than this machine has; the install takes ~19 minutes.
  [[ "$(cargo leptos --version 2>/dev/null || true)" == "cargo-leptos $CARGO_LEPTOS_VERSION" ]] && return
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (slow, once per machine)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
}

ensure_wasm_bindgen() {
  # cargo-leptos runs the wasm-bindgen found on PATH; it must match the library exactly.
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  [[ "$(wasm-bindgen --version 2>/dev/null || true)" == "wasm-bindgen $want" ]] && return
  say "installing wasm-bindgen-cli $want"
  cargo install wasm-bindgen-cli --version "$want"
}

ensure_node_modules() {
  # Playwright and binaryen's wasm-opt (Debian's binaryen 108 breaks release hydration).
  local stamp=end2end/node_modules/.installed
  if [[ -f $stamp && $stamp -nt end2end/package-lock.json ]]; then return; fi
  say "installing end2end npm packages"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  touch "$stamp"
}

ensure_chromium() {
  command -v chromium >/dev/null && return
  say "installing Debian chromium for the end-to-end tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

ensure_promtool() {
  # `make test` checks deploy/prometheus-rules.yml with promtool (Debian's prometheus package).
  command -v promtool >/dev/null && return
  say "installing Debian prometheus for promtool"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

ensure_postgres() {
  # The tests need a real PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres).
  pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
  if ! pg_ready && [[ -d /etc/postgresql ]]; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_ready && break; sleep 0.5; done
  fi
  if ! pg_ready; then
    if [[ "${CI:-}" == "true" ]]; then
      echo "PostgreSQL is not reachable on 127.0.0.1:5432 and CI=true: failing instead of skipping." >&2
      exit 1
    fi
    say "WARNING: no PostgreSQL on 127.0.0.1:5432; the PostgreSQL half of the tests will be skipped"
  fi
}

ensure_python_env() {
  # The Python client and the proxy's tests with the official openai package, in a venv.
  local stamp=target/pyenv/.installed
  if [[ -f $stamp && $stamp -nt clients/python/pyproject.toml ]]; then return; fi
  say "installing the Python client and its test tools (openai, pytest) in target/pyenv"
  python3 -m venv target/pyenv 2>/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv target/pyenv
  }
  target/pyenv/bin/pip install -q --upgrade pip
  target/pyenv/bin/pip install -q -e "clients/python[test]"
  touch "$stamp"
}

ensure_wasm_target
ensure_lint_tools
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_node_modules
if [[ "${1:-app}" == "test" ]]; then
  ensure_chromium
  ensure_promtool
  ensure_postgres
  ensure_python_env
fi
