"""What each metric is called, reports and takes, without the code that computes it (no torch, no scikit-learn).

The Metrics panel builds its cards from this before torch is loaded (the window appears first, ``ui/app.py``);
stored figures are looked up by the parameters resolved here (``runner.metric_key_params``), so a model's
stored metrics show without importing scikit-learn. ``registry.METRICS`` pairs each entry with its function;
each metric module's ``DEFAULTS`` is the entry's ``defaults``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from latentlab.core.activity import ACTIVE_BELOW, MIN_SHARE
from latentlab.core.metrics.info import NUM_BINS


def resolve_params(name: str, defaults: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
    """``defaults`` overridden by ``params``; unknown keys are an error that lists the known ones."""
    params = dict(params or {})
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {sorted(unknown)}; known: {sorted(defaults)}")
    return {**defaults, **params}


@dataclass(frozen=True)
class MetricAbout:
    """A metric as the UI and CLI list it: its name, title, tooltip and the figures it reports."""

    name: str
    title: str
    description: str  # one or two sentences for a tooltip
    keys: tuple[str, ...]  # the figures it reports, headline first
    cost: float = 1.0  # relative share of the suite's time, for progress bars
    per_latent: bool = False  # describes latents themselves: reports every latent, even with drop_passive
    defaults: dict[str, Any] = field(default_factory=dict)  # its parameters (the metric module's DEFAULTS)

    def resolve(self, params: dict[str, Any] | None) -> dict[str, Any]:
        return resolve_params(self.name, self.defaults, params)


ABOUT: dict[str, MetricAbout] = {a.name: a for a in (
    MetricAbout("betavae", "BetaVAE score",
                "Accuracy of a linear classifier that tells which factor was held fixed from mean |z1 - z2| over "
                "pairs sharing it (Higgins et al. 2017). Chance is 1/#factors.",
                ("betavae", "betavae_train"), 1.0,
                defaults={"batch_size": 64, "num_train": 10000, "num_eval": 5000, "sampling": "auto"}),
    MetricAbout("factorvae", "FactorVAE score",
                "Accuracy of a majority vote that tells the fixed factor from the latent with the least "
                "normalised variance in a batch (Kim & Mnih 2018).",
                ("factorvae", "factorvae_train"), 1.0,
                defaults={"batch_size": 64, "num_train": 10000, "num_eval": 5000,
                          "num_variance_estimate": 10000, "prune_std": 0.05, "sampling": "auto"}),
    MetricAbout("mig", "MIG",
                "Mutual Information Gap: per factor, the gap in MI between the two most informative latents, "
                "divided by the factor's entropy, averaged (Chen et al. 2018).",
                ("mig",), 0.3,
                defaults={"num_bins": NUM_BINS}),
    MetricAbout("dci", "DCI",
                "Disentanglement (each latent explains one factor), Completeness (each factor lives in one latent) "
                "and Informativeness (classifier accuracy), from boosted-tree importances (Eastwood & Williams 2018).",
                ("dci_disentanglement", "dci_completeness", "dci_informativeness", "dci_informativeness_train"), 5.0,
                defaults={"estimator": "fast", "fast_stages": 100, "fast_learning_rate": 0.1, "n_jobs": 2}),
    MetricAbout("sap", "SAP",
                "Separated Attribute Predictability: per factor, the accuracy gap between the two latents that "
                "best predict it alone with a linear SVM (Kumar et al. 2018).",
                ("sap",), 3.0,
                defaults={"C": 0.01, "continuous_factors": False}),
    MetricAbout("modularity", "Modularity / Explicitness",
                "Modularity: each latent depends on at most one factor (from MI). Explicitness: ROC AUC of a linear "
                "classifier of each factor from all latents; chance is 0.5 (Ridgeway & Zemel 2018).",
                ("modularity", "explicitness", "explicitness_train"), 1.0,
                defaults={"num_bins": NUM_BINS, "n_jobs": 1}),
    MetricAbout("infomec", "InfoMEC",
                "InfoM(odularity), InfoC(ompactness), InfoE(xplicitness) from normalised mutual information "
                "between factors and active latents, and a logistic regression (Hsu et al. 2023).",
                ("infom", "infoc", "infoe"), 3.0,
                defaults={"n_neighbors": 10, "active_fraction": 1 / 20, "max_iter": 100, "n_jobs": 1}),
    MetricAbout("unsupervised", "Total correlation / pairwise MI",
                "Without factors: the total correlation of a Gaussian fitted to the latents and the mean mutual "
                "information between pairs of latents, in nats (0 = independent latents).",
                ("gaussian_tc", "mean_pairwise_mi"), 0.5,
                defaults={"num_bins": NUM_BINS}),
    MetricAbout("geometry", "Spectral entropy / LID",
                "Without factors: von Neumann entropy of the latents' directions (nats; / log d: 1 = all latents "
                "used evenly, 0 = collapsed to one direction; Kim et al. 2023), diffusion spectral entropy of a "
                "subsample (nats; Liao et al. 2023) and the local intrinsic dimension by maximum likelihood "
                "(mean and LDReg's geometric mean; Levina & Bickel 2004).",
                ("vne", "vne_normalized", "dse", "lid_mean", "lid_geomean"), 0.3,
                defaults={"n_sub": 1000, "vne_center": False, "dse_sigma": 10.0, "dse_t": 1, "lid_k": 20}),
    MetricAbout("kl", "KL per dimension",
                "Mean KL divergence of each latent's posterior from the N(0, 1) prior, in nats; near 0 means the "
                "latent is unused (collapsed).",
                ("kl_total",), 0.05, per_latent=True),
    MetricAbout("activity", "Active / mixed / passive latents",
                "Per input first (active where the posterior variance is near 0, passive where near 1), then per "
                "latent by the shares: active on nearly all inputs, passive on nearly all, or mixed "
                "(Bonheme & Grzes, 'Be More Active!').",
                ("n_active", "n_mixed", "n_passive"), 0.05, per_latent=True,
                defaults={"active_below": ACTIVE_BELOW, "min_share": MIN_SHARE}),
)}
