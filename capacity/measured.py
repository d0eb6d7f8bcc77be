"""The CPU a message costs, as `make bench-pipeline` last wrote it (bench/results/pipeline.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "pipeline.json"


class MeasurementError(ValueError):
    """The results file is missing or holds no whole-graph figure: one readable line."""


@dataclass(frozen=True)
class Measured:
    whole_graph_us: float
    seed_pipeline_us: float | None
    command: str
    finished: str
    path: Path


def load(path: Path = RESULTS) -> Measured:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MeasurementError(f"{path} does not exist: run `make bench-pipeline` first") from None
    except json.JSONDecodeError as error:
        raise MeasurementError(f"{path} is not JSON ({error}): run `make bench-pipeline`") from None
    cpu = data.get("worker_cpu_us_per_message", {})
    if not isinstance(cpu.get("whole_graph"), int | float) or cpu["whole_graph"] <= 0:
        raise MeasurementError(f"{path} has no whole_graph CPU figure: run `make bench-pipeline`")
    return Measured(
        whole_graph_us=float(cpu["whole_graph"]),
        seed_pipeline_us=cpu.get("seed_pipeline"),
        command=data.get("command", "?"),
        finished=data.get("finished", "?"),
        path=path,
    )
