"""Runner processes for the concurrency test: overlapping shuffled slices, start, SIGKILL at random points, restart.

Each runner is a real OS process (`runner_process`), started with `subprocess`, that posts its slices through the
product's own runner. A slice is a run of keys contiguous in its asset's partition order (one Dagster run covers a
range of partitions), so runners given the same slice contend for the same documents.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiq_pipeline_tests.journal.runner_process import RunnerConfig

ROOT = Path(__file__).resolve().parents[2]


def overlapping_slices(
    groups: Sequence[Sequence[str]], *, size: int, runners: int, overlap: float, rng: random.Random
) -> list[list[list[str]]]:
    """Each runner's slices, shuffled: every slice goes to one runner, and with probability `overlap` to a second
    one too (so two runners post it, in different orders, at different times). `groups` are key sequences contiguous
    in their asset's partition order (a slice never spans two groups)."""
    slices = [list(group[i : i + size]) for group in groups for i in range(0, len(group), size)]
    plan: list[list[list[str]]] = [[] for _ in range(runners)]
    for number, keys in enumerate(slices):
        first = number % runners
        plan[first].append(keys)
        if rng.random() < overlap:
            plan[rng.choice([r for r in range(runners) if r != first])].append(keys)
    for mine in plan:
        rng.shuffle(mine)
    return plan


@dataclass
class Runner:
    name: str
    config: RunnerConfig
    process: subprocess.Popen[bytes]
    output: Path
    started: float = field(default_factory=time.monotonic)
    killed: bool = False

    def done(self) -> set[int]:
        """The slices this process finished (from its progress file)."""
        path = Path(self.config.progress)
        if not path.exists():
            return set()
        return {json.loads(line)["slice"] for line in path.read_text().splitlines() if line.strip()}

    def unstarted(self) -> list[list[str]]:
        """The slices after the one it was posting (that one is left to the product's own recovery)."""
        done = self.done()
        left = [keys for number, keys in enumerate(self.config.slices) if number not in done]
        return left[1:]

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class RunnerPool:
    workdir: Path
    template: RunnerConfig  # name, slices and progress are set per runner
    env: dict[str, str]
    runners: list[Runner] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)  # "<runner> after <n> slice(s), <s> s into its life"

    def start(self, name: str, slices: list[list[str]]) -> Runner:
        number = len(self.runners)
        config = replace(
            self.template,
            name=name,
            slices=slices,
            progress=str(self.workdir / f"{number:02d}-{name}.progress.jsonl"),
        )
        path = config.write(self.workdir / f"{number:02d}-{name}.json")
        output = self.workdir / f"{number:02d}-{name}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "aiq_pipeline_tests.journal.runner_process", str(path)],
                cwd=ROOT,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        runner = Runner(name, config, process, output)
        self.runners.append(runner)
        return runner

    def alive(self) -> list[Runner]:
        return [r for r in self.runners if r.alive()]

    def slices_done(self) -> int:
        return sum(len(r.done()) for r in self.runners)

    def kill(self, runner: Runner) -> None:
        """SIGKILL: no clean-up of any kind (claims, journal rows, the run, its pool slot all stay as they are)."""
        done = len(runner.done())
        age = time.monotonic() - runner.started
        os.kill(runner.process.pid, signal.SIGKILL)
        runner.process.wait()
        runner.killed = True
        self.kills.append(f"{runner.name} after {done} of {len(runner.config.slices)} slice(s), {age:.1f} s in")

    def crashed(self) -> list[Runner]:
        """Runners that ended on their own with an error (not killed by the test)."""
        return [r for r in self.runners if not r.killed and r.process.poll() not in (None, 0)]

    def stop_all(self) -> None:
        for runner in self.alive():
            os.kill(runner.process.pid, signal.SIGKILL)
            runner.process.wait()
