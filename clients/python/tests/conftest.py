"""One real Tollgate server (the release binary, a fresh SQLite file) whose proxy sends every
model to the stand-in upstream, for the client library's and the OpenAI SDK's tests. Tenants
and agents are made with the `tollgate` command line, each test its own."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator, Optional

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from standin import StandIn  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("TOLLGATE_BIN", ROOT / "target" / "release" / "tollgate"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, database_url: str, standin: StandIn):
        self.url = url
        self.database_url = database_url
        self.standin = standin

    def cli(self, *args: str) -> str:
        out = subprocess.run([str(BINARY), "--database-url", self.database_url, *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"tollgate {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def tenant(self, prefix: str, token_limit: Optional[int] = None, budget_usd: Optional[str] = None) -> str:
        """A new tenant with one agent; answers the agent's key."""
        tenant_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        args = ["tenant", "create", tenant_id] + (["--token-limit", str(token_limit)] if token_limit else [])
        self.cli(*args)
        if budget_usd is not None:
            seed = Path(tempfile.mkdtemp()) / "seed.toml"
            seed.write_text(f'[[tenants]]\nid = "{tenant_id}"\nbudget = {{ max_budget = "{budget_usd}" }}\n')
            self.cli("seed-limits", str(seed))
        created = self.cli("agent", "create", tenant_id, "bot")
        match = re.search(r"API key \(shown only now\): (\S+)", created)
        assert match, created
        return match.group(1)

    def status(self, key: str) -> dict:
        request = urllib.request.Request(f"{self.url}/api/agent/usage/status", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request) as res:
            import json

            return json.load(res)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    assert BINARY.exists(), f"{BINARY} is missing: build it first (make build)"
    standin = StandIn()
    work = Path(tempfile.mkdtemp(prefix="tollgate-py-"))
    upstreams = work / "upstreams.toml"
    upstreams.write_text(
        f'[[upstreams]]\nname = "standin"\nbase_url = "{standin.url}"\napi_key = "upstream-key"\nmodels = ["*"]\ntimeout_secs = 2\n'
    )
    port = free_port()
    database_url = f"sqlite://{work / 'tollgate.db'}"
    log = open(work / "server.log", "w")
    process = subprocess.Popen(
        [str(BINARY), "--database-url", database_url, "serve", "--addr", f"127.0.0.1:{port}",
         "--upstreams-file", str(upstreams), "--proxy-drain-secs", "5"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/healthz").read()
            break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError((work / "server.log").read_text())
            time.sleep(0.1)
    yield Server(url, database_url, standin)
    process.terminate()
    process.wait(timeout=10)
    standin.close()


def wait_until(predicate, timeout: float = 5.0) -> bool:
    """Polls `predicate` (settlement after a stream runs in the background)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
