"""Attribute directions: finders (supervised, unsupervised, gradient-based), evaluation and files.

Everything here is headless: finders take a ``JobContext`` and a seed and return ``Direction`` objects;
``find_directions`` runs any method from ``FindOptions``; ``evaluate_directions`` gives the direction x
factor matrix; ``DirectionSet.save`` / ``load_directions`` read and write ``.safetensors`` direction files;
``import_directions`` reads the files others publish (InterFaceGAN, GANSpace, plain matrices).
"""

from latentlab.core.directions.base import (
    Direction,
    DirectionField,
    DirectionSet,
    cosine_matrix,
    orthogonalised,
    orthonormalise,
    project_out,
    unit,
)
from latentlab.core.directions.evaluate import DirectionEvaluation, evaluate_directions
from latentlab.core.directions.find import METHODS, FindOptions, find_directions
from latentlab.core.directions.imports import import_directions
from latentlab.core.directions.io import DirectionFileError, load_directions, read_header, save_directions
from latentlab.core.directions.labels import (
    LabeledLatents,
    LabelError,
    csv_labels,
    factor_labels,
    read_label_csv,
    tagged_labels,
)

__all__ = [
    "METHODS", "Direction", "DirectionEvaluation", "DirectionField", "DirectionFileError", "DirectionSet",
    "FindOptions", "LabelError", "LabeledLatents", "cosine_matrix", "csv_labels", "evaluate_directions",
    "factor_labels", "find_directions", "import_directions", "load_directions", "orthogonalised", "orthonormalise",
    "project_out", "read_header", "read_label_csv", "save_directions", "tagged_labels", "unit",
]
