"""A 100 MB answer passes through `fundament gateway` (its own process) with bounded memory:
the gateway's resident set is sampled while it streams."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from gateway.conftest import free_port, write_config
from servers import server_env

PLANS = Path(__file__).resolve().parents[1] / "data" / "plans-roomy.toml"
MIB = 1 << 20


def test_a_100_mb_answer_streams_with_bounded_memory(tmp_path: Path, legacy: str, admin_dsn: str) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, f'[legacy]\nurl = "{legacy}"\n')
    port = free_port()
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fundament.cli",
            "gateway",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={**server_env(admin_dsn, PLANS), "FUNDAMENT_SHUTDOWN_DELAY_SECONDS": "0"},
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "gateway.log").read_text()
            time.sleep(0.1)
        gateway = psutil.Process(proc.pid)
        assert httpx.get(f"{base}/api/export?mb=1", timeout=10).status_code == 200  # warm: pool, buffers
        before = gateway.memory_info().rss
        peak = before
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, gateway.memory_info().rss)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        received = 0
        started = time.monotonic()
        try:
            with httpx.stream("GET", f"{base}/api/export?mb=100", timeout=60) as r:
                assert r.status_code == 200 and r.headers["content-length"] == str(100 * MIB)
                for chunk in r.iter_raw():
                    received += len(chunk)
        finally:
            done.set()
            sampler.join()
        seconds = time.monotonic() - started
        after = gateway.memory_info().rss
        print(
            f"\n100 MiB through the gateway in {seconds:.2f} s; gateway RSS before {before / MIB:.1f} MiB, "
            f"peak {peak / MIB:.1f} MiB (+{(peak - before) / MIB:.1f}), after {after / MIB:.1f} MiB"
        )
        assert received == 100 * MIB
        # A body held whole would be 100 MiB more; streamed, a few chunks are.
        assert peak - before < 16 * MIB, (before, peak)
    finally:
        stopping = time.monotonic()
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"stopped in {time.monotonic() - stopping:.1f} s")
        log.close()
