"""A training grid from a TOML file: architectures x objective hyper-parameters x seeds x steps.

```toml
out = "runs"                # folder for the checkpoints, relative to this file (default: <file stem>.runs)
dataset = "dsprites"        # defaults for every block below; a block's own keys win
steps = 20000
snapshot_every = 5000       # also a checkpoint every N steps (the compare panel's series slider)
save_every = 1000           # resume state every N steps (an interrupted run loses at most that many)

[evaluate]                  # after training, like `latentlab sweep` (figures into the results store)
metrics = "mig,dci,sap"
n = 10000
udr = true                  # UDR over the seeds of each setting

[[grid]]
arch = "beta_vae"
beta = [1, 4, 16]           # a list is an axis: every combination of the block's lists is a run
seed = [0, 1, 2]

[[grid]]
arch = "beta_tcvae"
beta = [2, 6]
seed = [0, 1, 2]
network = { base = 16 }     # network hyper-parameters
```

Keys that are ``TrainConfig`` fields (arch, dataset, steps, batch_size, lr, seed, latent_dim) set those; a
``network`` table sets network hyper-parameters; any other key is an objective hyper-parameter (checked
against the arch's objective before anything runs). A run's file name is readable and stable: the arch, the
hyper-parameters that vary within its block, the seed, and a short digest of every setting that changes what
is trained (``steps`` is not one: raising it continues the same runs from their resume state).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from latentlab.core.errors import BadInput
from latentlab.core.train import TrainConfig

_CONFIG_KEYS = {"arch", "dataset", "steps", "batch_size", "lr", "seed", "latent_dim"}
_RUN_KEYS = {"snapshot_every", "save_every"}
_TOP_ONLY = {"out", "evaluate", "grid", "device", "threads"}
_NOT_IDENTITY = {"steps", "threads", "device", "name", "log_every"}  # train_state.FREE_SETTINGS
_EVALUATE_KEYS = {"metrics", "n", "seed", "udr", "udr_n", "dataset", "representation", "invert"}


@dataclass
class RunSpec:
    """One training run of a grid."""

    name: str
    config: TrainConfig
    out: Path
    snapshot_every: int | None = None
    save_every: int = 1000
    varies: dict[str, Any] = field(default_factory=dict)  # the block's axes and this run's values on them

    def recipe(self) -> str:
        """The ``latentlab train`` command that makes (or continues) exactly this run."""
        c = self.config
        parts = ["latentlab train", f"--arch {c.arch}", f"--dataset {c.dataset}", f"--steps {c.steps}",
                 f"--batch-size {c.batch_size}", f"--latent-dim {c.latent_dim}", f"--seed {c.seed}"]
        if c.lr is not None:
            parts.append(f"--lr {c.lr}")
        parts += [f"--set {k}={_toml_value(v)}" for k, v in sorted(c.objective.items())]
        parts += [f"--net {k}={_toml_value(v)}" for k, v in sorted(c.network.items())]
        parts.append(f"--resume --save-every {self.save_every}")
        if self.snapshot_every:
            parts.append(f"--snapshot-every {self.snapshot_every}")
        parts.append(f"--out {self.out}")
        return " ".join(parts)


@dataclass
class Grid:
    source: Path
    out: Path
    runs: list[RunSpec]
    evaluate: dict[str, Any] | None


def _toml_value(v: Any) -> str:
    import json

    return json.dumps(v)


def _slug(v: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9.+-]+", "_", str(v)).strip("_")
    return text[:24] or "x"


def _identity(config: TrainConfig) -> str:
    import json

    d = {k: v for k, v in asdict(config).items() if k not in _NOT_IDENTITY}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def _axes(block: dict[str, Any]) -> list[tuple[tuple[str, ...], list[Any]]]:
    """(key path, values) for every list in a block (network lists are axes too)."""
    out: list[tuple[tuple[str, ...], list[Any]]] = []
    for k, v in block.items():
        if k == "network" and isinstance(v, dict):
            out += [(("network", nk), list(nv)) for nk, nv in v.items() if isinstance(nv, list)]
        elif isinstance(v, list):
            if not v:
                raise BadInput(f"grid key {k!r} is an empty list")
            out.append(((k,), list(v)))
    return out


def _one_run(block: dict[str, Any], where: str) -> tuple[TrainConfig, dict[str, Any]]:
    from latentlab.core.zoo import ARCHS, build_objective

    cfg: dict[str, Any] = {"objective": {}, "network": {}}
    run: dict[str, Any] = {"snapshot_every": None, "save_every": 1000}
    for k, v in block.items():
        if k in _CONFIG_KEYS:
            cfg[k] = v
        elif k in _RUN_KEYS:
            run[k] = v
        elif k == "network":
            if not isinstance(v, dict):
                raise BadInput(f"{where}: 'network' must be a table of network hyper-parameters")
            cfg["network"] = dict(v)
        elif k in {"device", "threads"}:
            cfg[k] = v
        else:
            cfg["objective"][k] = v
    if "arch" not in cfg:
        raise BadInput(f"{where}: every grid block needs an arch")
    if cfg["arch"] not in ARCHS:
        raise BadInput(f"{where}: unknown arch {cfg['arch']!r}; choose one of {', '.join(ARCHS)}")
    try:
        build_objective(cfg["arch"], **cfg["objective"])  # unknown hyper-parameters fail here, before any run
        config = TrainConfig(**cfg)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{where}: {exc}") from None
    if config.steps < 1 or config.batch_size < 2 or (run["snapshot_every"] is not None and run["snapshot_every"] < 1) \
            or run["save_every"] < 1:
        raise BadInput(f"{where}: steps, save_every and snapshot_every must be >= 1, batch_size >= 2")
    return config, run


def load_grid(path: str | Path) -> Grid:
    """Every run of the grid in ``path`` (a typed error that names the block when something is wrong)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the grid ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not a valid TOML file ({exc})") from None
    blocks = doc.get("grid")
    if not isinstance(blocks, list) or not blocks or not all(isinstance(b, dict) for b in blocks):
        raise BadInput(f"{path}: no [[grid]] block; each one lists an arch and its hyper-parameter axes")
    defaults = {k: v for k, v in doc.items() if k not in _TOP_ONLY}
    for k in ("device", "threads"):
        if k in doc:
            defaults[k] = doc[k]
    out = (path.parent / doc["out"]) if "out" in doc else path.with_name(path.stem + ".runs")
    evaluate = doc.get("evaluate")
    if evaluate is not None:
        unknown = set(evaluate) - _EVALUATE_KEYS if isinstance(evaluate, dict) else {"?"}
        if unknown:
            raise BadInput(f"{path}: [evaluate] takes {', '.join(sorted(_EVALUATE_KEYS))}; unknown: {sorted(unknown)}")
    runs: list[RunSpec] = []
    for i, block in enumerate(blocks, 1):
        merged = {**defaults, **block}
        if isinstance(defaults.get("network"), dict) and isinstance(block.get("network"), dict):
            merged["network"] = {**defaults["network"], **block["network"]}
        axes = _axes(merged)
        for values in itertools.product(*(vals for _, vals in axes)):
            concrete = {k: (dict(v) if isinstance(v, dict) else v) for k, v in merged.items()}
            varies: dict[str, Any] = {}
            for (keypath, _), value in zip(axes, values, strict=True):
                if keypath[0] == "network":
                    concrete["network"][keypath[1]] = value
                else:
                    concrete[keypath[0]] = value
                varies[".".join(keypath)] = value
            config, run = _one_run(concrete, f"{path} [[grid]] block {i}")
            shown = [f"{k.split('.')[-1]}{_slug(v)}" for k, v in varies.items() if k != "seed"]
            name = "-".join([config.arch, *shown, f"seed{config.seed}", _identity(config)])
            config.name = config.name or name
            runs.append(RunSpec(name, config, out / f"{name}.safetensors", run["snapshot_every"], run["save_every"],
                                varies))
    names = [r.name for r in runs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadInput(f"{path}: the grid lists the same run more than once ({', '.join(twice[:3])})")
    return Grid(path, out, runs, evaluate)
