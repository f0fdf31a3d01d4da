"""What each metric is called and reports, without the code that computes it (no torch, no scikit-learn).

The Metrics panel builds its cards from this before torch is loaded (the window appears first, ``ui/app.py``);
``registry.METRICS`` pairs each entry with its function and defaults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricAbout:
    """A metric as the UI and CLI list it: its name, title, tooltip and the figures it reports."""

    name: str
    title: str
    description: str  # one or two sentences for a tooltip
    keys: tuple[str, ...]  # the figures it reports, headline first
    cost: float = 1.0  # relative share of the suite's time, for progress bars
    per_latent: bool = False  # describes latents themselves: reports every latent, even with drop_passive


ABOUT: dict[str, MetricAbout] = {a.name: a for a in (
    MetricAbout("betavae", "BetaVAE score",
                "Accuracy of a linear classifier that tells which factor was held fixed from mean |z1 - z2| over "
                "pairs sharing it (Higgins et al. 2017). Chance is 1/#factors.",
                ("betavae", "betavae_train"), 1.0),
    MetricAbout("factorvae", "FactorVAE score",
                "Accuracy of a majority vote that tells the fixed factor from the latent with the least "
                "normalised variance in a batch (Kim & Mnih 2018).",
                ("factorvae", "factorvae_train"), 1.0),
    MetricAbout("mig", "MIG",
                "Mutual Information Gap: per factor, the gap in MI between the two most informative latents, "
                "divided by the factor's entropy, averaged (Chen et al. 2018).",
                ("mig",), 0.3),
    MetricAbout("dci", "DCI",
                "Disentanglement (each latent explains one factor), Completeness (each factor lives in one latent) "
                "and Informativeness (classifier accuracy), from boosted-tree importances (Eastwood & Williams 2018).",
                ("dci_disentanglement", "dci_completeness", "dci_informativeness", "dci_informativeness_train"), 5.0),
    MetricAbout("sap", "SAP",
                "Separated Attribute Predictability: per factor, the accuracy gap between the two latents that "
                "best predict it alone with a linear SVM (Kumar et al. 2018).",
                ("sap",), 3.0),
    MetricAbout("modularity", "Modularity / Explicitness",
                "Modularity: each latent depends on at most one factor (from MI). Explicitness: ROC AUC of a linear "
                "classifier of each factor from all latents; chance is 0.5 (Ridgeway & Zemel 2018).",
                ("modularity", "explicitness", "explicitness_train"), 1.0),
    MetricAbout("infomec", "InfoMEC",
                "InfoM(odularity), InfoC(ompactness), InfoE(xplicitness) from normalised mutual information "
                "between factors and active latents, and a logistic regression (Hsu et al. 2023).",
                ("infom", "infoc", "infoe"), 3.0),
    MetricAbout("unsupervised", "Total correlation / pairwise MI",
                "Without factors: the total correlation of a Gaussian fitted to the latents and the mean mutual "
                "information between pairs of latents, in nats (0 = independent latents).",
                ("gaussian_tc", "mean_pairwise_mi"), 0.5),
    MetricAbout("kl", "KL per dimension",
                "Mean KL divergence of each latent's posterior from the N(0, 1) prior, in nats; near 0 means the "
                "latent is unused (collapsed).",
                ("kl_total",), 0.05, per_latent=True),
    MetricAbout("activity", "Active / mixed / passive latents",
                "Per input first (active where the posterior variance is near 0, passive where near 1), then per "
                "latent by the shares: active on nearly all inputs, passive on nearly all, or mixed "
                "(Bonheme & Grzes, 'Be More Active!').",
                ("n_active", "n_mixed", "n_passive"), 0.05, per_latent=True),
)}
