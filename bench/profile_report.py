"""Summarise a py-spy raw profile (bench/results/profile.txt): where the server's time goes."""

from __future__ import annotations

import collections
import sys
from pathlib import Path


def frame_key(frame: str) -> str:
    name, _, rest = frame.partition(" (")
    return f"{name} ({rest.split(':')[0]})" if rest else name


def main(path: Path) -> None:
    total: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = [frame_key(f) for f in stack.split(";")]
        for f in set(frames):
            total[f] += n
        own[frames[-1]] += n
    print(f"{samples} samples\n\nself time:")
    for k, v in own.most_common(20):
        print(f"{v / samples:6.1%}  {k}")
    print("\ncumulative (our code and the web stack):")
    for k, v in total.most_common(200):
        if any(
            s in k for s in ("fundament", "fastapi", "starlette", "asyncpg", "pydantic", "orjson", "uvicorn")
        ):
            print(f"{v / samples:6.1%}  {k}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/profile.txt"))
