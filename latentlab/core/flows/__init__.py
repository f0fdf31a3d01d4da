"""Potential-flow latent traversals (Song, Keller, Sebe, Welling, "Latent Traversals in Generative Models
as Potential Flows", ICML 2023): train K PDE-constrained potentials on a frozen model, integrate their
gradient flows, and evaluate how distinct and how disentangled the paths are.

Typical use::

    flows = train(model, FlowConfig(n_potentials=8, steps=2000), ctx, checkpoint_sha256=ck.sha256)
    save_flows(flows, "vae.flows.safetensors")
    tr = trajectory(flows, z0, k=3, steps=20)           # latents (21, D), potential, step sizes
"""

from latentlab.core.flows.classifier import PairClassifier
from latentlab.core.flows.config import DEFAULT_WEIGHTS, LOSS_TERMS, FlowConfig
from latentlab.core.flows.evaluate import (
    DistinctnessResult,
    FlowEvaluation,
    distinctness,
    evaluate_flows,
    format_table,
)
from latentlab.core.flows.flowset import Flows
from latentlab.core.flows.io import (
    FlowsFileError,
    FlowsMismatchError,
    load_flows,
    read_flows_card,
    save_flows,
)
from latentlab.core.flows.pde import PDES, PDEOptions, laplacian, residual, time_derivatives
from latentlab.core.flows.potentials import PotentialSet, sinusoidal_embedding
from latentlab.core.flows.strip import render_strip, save_png
from latentlab.core.flows.train import checkpoint_ref, measure, train, train_to_file
from latentlab.core.flows.traverse import (
    Trajectory,
    TrajectoryBatch,
    all_trajectories,
    flow_vs_linear,
    linear_path,
    trajectories,
    trajectory,
    two_sided,
)

__all__ = [
    "DEFAULT_WEIGHTS", "LOSS_TERMS", "PDES", "DistinctnessResult", "FlowConfig", "FlowEvaluation", "Flows",
    "FlowsFileError", "FlowsMismatchError", "PDEOptions", "PairClassifier", "PotentialSet", "Trajectory",
    "TrajectoryBatch", "all_trajectories", "checkpoint_ref", "distinctness", "evaluate_flows", "flow_vs_linear",
    "format_table", "laplacian", "linear_path", "load_flows", "measure", "read_flows_card", "render_strip", "residual",
    "save_flows", "save_png", "sinusoidal_embedding", "time_derivatives", "train", "train_to_file", "trajectories",
    "trajectory", "two_sided",
]
