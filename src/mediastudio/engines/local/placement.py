"""Where a local pipeline's weights live while it runs: wholly on the GPU, or offloaded to the
machine's RAM and moved to the GPU a component at a time (diffusers' model offload) or a layer
at a time (sequential offload), decided before loading from what the weight files hold.

Pure Python (no torch): the estimate reads the safetensors headers (dtype and shape of every
tensor) and scales floating-point tensors to the precision the pipeline is loaded in, so the
catalog can say how a model will run without loading it. See docs/local-models.md.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

OffloadMode = Literal["auto", "none", "model", "sequential"]
Placed = Literal["none", "model", "sequential"]

GIB = 2**30
MIN_HEADROOM_BYTES = GIB  # activations of one image (latents, attention, the VAE's decode)
HEADROOM_SHARE = 5  # and at least a fifth of the weights on top: bigger models, bigger tensors
MAX_HEADER_BYTES = 100 * 2**20  # a safetensors header larger than this is not one

# Bytes per element of each safetensors dtype; the floating ones are cast on load.
ELEMENT_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
CAST_ON_LOAD = {"F64", "F32", "F16", "BF16"}
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class Weights:
    """A pipeline folder's weights at the precision it is loaded in, per component folder."""

    components: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.components.values())

    @property
    def largest(self) -> int:
        return max(self.components.values(), default=0)


@dataclass(frozen=True)
class Placement:
    mode: Placed
    weights: int  # every component's weights at the loaded precision
    largest: int  # the largest component's
    budget: int  # the device's budget for resident models
    on_gpu: bool

    @property
    def device_bytes(self) -> int:
        """What the pipeline holds on its device between jobs, as the residency accounts it:
        everything; the largest component (model offload moves one at a time, and the one on
        the device stays there until the next is needed); or nothing (sequential offload keeps
        every weight in RAM and streams one layer at a time)."""
        return {"none": self.weights, "model": self.largest, "sequential": 0}[self.mode]

    def summary(self) -> str:
        """One line for the operator: how it runs and why."""
        weights, budget = _gb(self.weights), _gb(self.budget)
        if not self.on_gpu:
            return f"runs on the CPU: {weights} of weights"
        if self.mode == "none":
            return f"runs wholly on the GPU: {weights} of weights, {budget} budget"
        if self.mode == "model":
            return f"runs with model offload: {weights} of weights, {budget} budget"
        return (
            f"runs with sequential offload (slow): {weights} of weights, largest component "
            f"{_gb(self.largest)}, {budget} budget"
        )


def headroom(weights: int) -> int:
    """Room kept free beside weights for a job's activations."""
    return max(MIN_HEADROOM_BYTES, weights // HEADROOM_SHARE)


def decide(
    weights: Weights, budget: int, *, on_gpu: bool, setting: OffloadMode = "auto"
) -> Placement:
    """``auto`` on a GPU: wholly on the device when the weights and their headroom fit the
    budget; else model offload when the largest component and its headroom fit; else
    sequential offload. A set mode is taken as it is. The CPU has nothing to offload to."""
    mode: Placed
    if not on_gpu:
        mode = "none"
    elif setting != "auto":
        mode = setting
    elif weights.total + headroom(weights.total) <= budget:
        mode = "none"
    elif weights.largest + headroom(weights.largest) <= budget:
        mode = "model"
    else:
        mode = "sequential"
    return Placement(mode, weights.total, weights.largest, budget, on_gpu)


def estimate(folder: Path, dtype: str) -> Weights:
    """The bytes each component folder's weights take once loaded in ``dtype``: from the
    safetensors headers (floating tensors cast to ``dtype``), else from the files' sizes (a
    pickled .bin cannot be read without unpickling it). Only what diffusers loads counts: the
    folders model_index.json names (a hub snapshot may also hold a single-file checkpoint at
    its root, or spare VAEs), and of their files non-variant safetensors, else non-variant
    .bin files."""
    target = DTYPE_BYTES.get(dtype, 4)
    components: dict[str, int] = {}
    for component, files in _weight_files(folder).items():
        components[component] = sum(_file_bytes(path, target) for path in files)
    return Weights(components)


def _weight_files(folder: Path) -> dict[str, list[Path]]:
    named = _components(folder)
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".safetensors", ".bin"):
            relative = path.relative_to(folder)
            component = relative.parts[0] if len(relative.parts) > 1 else ""
            if named is None or component in named:
                found.setdefault(component, []).append(path)
    chosen: dict[str, list[Path]] = {}
    for component, files in found.items():
        plain = [path for path in files if "." not in path.stem]  # model.fp16.safetensors: not
        for suffix in (".safetensors", ".bin"):
            picked = [path for path in plain if path.suffix == suffix]
            if picked:
                chosen[component] = picked
                break
        else:
            chosen[component] = files  # only variants saved: the operator's choice, count all
    return chosen


def _components(folder: Path) -> set[str] | None:
    """The component folders model_index.json names, or None without a readable one."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict):
        return None
    return {name for name in index if not name.startswith("_")}


def _file_bytes(path: Path, target: int) -> int:
    if path.suffix != ".safetensors":
        return path.stat().st_size
    header = _safetensors_header(path)
    if header is None:
        return path.stat().st_size
    total = 0
    for name, tensor in header.items():
        if name == "__metadata__" or not isinstance(tensor, dict):
            continue
        kind = str(tensor.get("dtype"))
        count = 1
        for side in tensor.get("shape", []):
            count *= int(side)
        total += count * (target if kind in CAST_ON_LOAD else ELEMENT_BYTES.get(kind, 4))
    return total


def _safetensors_header(path: Path) -> dict[str, object] | None:
    """The JSON header of a safetensors file (8 bytes of length, then the JSON), or None."""
    try:
        with path.open("rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            if length > MAX_HEADER_BYTES:
                return None
            header = json.loads(file.read(length))
    except (OSError, struct.error, ValueError):
        return None
    return header if isinstance(header, dict) else None


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 10**8 else f"{size / 1e6:.1f} MB"
