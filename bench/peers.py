"""Peers of the converter run as their users run them: a command in its own process, timed from start to exit, with
its CPU time (user + system) and peak memory (the kernel's max RSS), both for that one child.

Each peer (lightly-ai's `labelformat`, img2dataset) lives in an environment of its own under var/bench/, made here
on first use: a peer is measured against, never a dependency of the project.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LABELFORMAT = "labelformat==0.1.17"
REPO = Path(__file__).resolve().parents[1]
# The floor every converter of this file pays: read it and parse each line, keeping nothing.
PARSE_FLOOR = "import json, sys\nwith open(sys.argv[1], 'rb') as f:\n    for line in f:\n        json.loads(line)\n"


@dataclass(frozen=True)
class Run:
    seconds: float  # wall, start to exit
    peak_mb: float
    cpu_seconds: float = 0.0  # user + system: what the command itself cost, less disturbed by other work


@dataclass(frozen=True)
class Runs:
    """Every run of one command; `best` is the fastest (the least disturbed by other work on the machine)."""

    runs: list[Run]

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda run: run.seconds)

    @property
    def median_seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def median_cpu_seconds(self) -> float:
        return statistics.median(run.cpu_seconds for run in self.runs)

    @property
    def peak_mb(self) -> float:
        """The highest peak of any run."""
        return max(run.peak_mb for run in self.runs)


def peer_command(requirement: str, executable: str) -> Path:
    """`executable` of a peer tool pinned by `requirement` ("name==version"), from the bench's own environment
    for it under var/bench/, made there on first use (a peer is measured against, never a project dependency)."""
    env = REPO / "var" / "bench" / requirement.replace("==", "-")
    command = env / "bin" / executable
    if not command.exists():
        print(f"installing {requirement} into {env} (the bench's own environment)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
        pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, requirement], check=True)
    return command


def labelformat_command() -> Path:
    return peer_command(LABELFORMAT, "labelformat")


# Started by the bench, a small process starts the command and waits for it: the command's peak memory is then its
# own, not the bench's (a child forked straight from the bench counts the bench's pages it ran with before exec).
_LAUNCH = """
import os, sys, time
started = time.perf_counter()
quiet = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=quiet)
_, status, usage = os.wait4(pid, 0)
seconds, cpu = time.perf_counter() - started, usage.ru_utime + usage.ru_stime
print(seconds, usage.ru_maxrss, os.waitstatus_to_exitcode(status), cpu)
"""


def measure(command: list[str], cwd: Path | None = None) -> Run:
    """One run of `command`: wall seconds, CPU seconds and peak resident memory; a failed run raises with its
    stderr."""
    with tempfile.TemporaryFile() as errors:
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCH, *command], cwd=cwd, stdout=subprocess.PIPE, stderr=errors, check=True
        )
        seconds, kilobytes, code, cpu = launched.stdout.split()
        if int(code) != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{command[0]} exited {code}:\n{tail}")
    return Run(float(seconds), int(kilobytes) / 1024, float(cpu))  # Linux reports kilobytes


def measure_all(commands: dict[str, list[str]], times: int, cwd: Path | None = None) -> dict[str, Runs]:
    """Each command `times` times, taking turns, so a burst of other load on the machine hits them alike."""
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for _ in range(times):
        for name, command in commands.items():
            runs[name].append(measure(command, cwd))
    return {name: Runs(found) for name, found in runs.items()}
