"""latentlab: a desktop laboratory for the latent spaces of trained generative models."""

__version__ = "0.1.0"
