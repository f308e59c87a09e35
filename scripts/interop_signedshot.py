#!/usr/bin/env python3
"""Agreement between Proofmark and the official SignedShot validator (PyPI signedshot==0.1.9).

For every vector in testdata/capture/manifest.json, ask both verifiers with the same trusted JWKS:
  official: signedshot.validate_with_jwks(sidecar, media, jwks) -> .valid (a ValueError counts as "rejected")
  proofmark: `proofmark verify --json --jwks JWKS MEDIA --sidecar SIDECAR` -> verdict trusted/valid = accepted
They must agree, except on vectors whose manifest entry names a divergence; there they must *disagree*
(so the manifest stays true). Where both reject, the official error must say what Proofmark's reason code
says (SAME_REASON). Also checks the real iOS capture in ../shared/signedshot-vectors.

usage: interop_signedshot.py PROOFMARK_BINARY VECTORS_DIR [SHARED_VECTORS_DIR]
Exit 0 when every comparison holds. The last line is "N passed, M failed".
"""
import json
import os
import re
import subprocess
import sys

import signedshot


# Where both reject, they must reject for the same reason: Proofmark's reason code → what the official
# validator's error says (a regular expression over its message). A new rejecting vector needs a line here.
SAME_REASON = {
    "content_hash_mismatch": r"Content hash mismatch",
    "capture_id_mismatch": r"Capture ID mismatch",
    "device_key_fingerprint_mismatch": r"fingerprint mismatch",
    "device_signature_invalid": r"Media signature verification failed",
    "device_signature_raw": r"Media signature verification failed",
    "device_key_compressed": r"Invalid public key",
    "jwt_unknown_kid": r"Key not found",
    "jwt_signature_invalid": r"Signature verification failed",
    "jwt_alg_none": r"Expected algorithm ES256, got none",
    "jwt_alg_hmac": r"Expected algorithm ES256, got HS",
    "jwt_alg_unsupported": r"Expected algorithm ES256, got (?!none|HS)",
    "jwt_aud_mismatch": r"Expected audience|Failed to parse claims: invalid type: sequence",
    "jwt_kid_missing": r"missing kid",
    "sidecar_unsupported_version": r"Unsupported sidecar version",
    "sidecar_truncated": r"EOF while parsing",
}


def official(sidecar: bytes, media: bytes, jwks: str):
    try:
        text = sidecar.decode("utf-8")
    except UnicodeDecodeError:
        return None, "no opinion: not UTF-8 (the Python API takes str)"
    try:
        r = signedshot.validate_with_jwks(text, media, jwks)
        return bool(r.valid), r.error or "valid"
    except ValueError as e:
        return False, f"ValueError: {e}"


def proofmark(binary: str, media_path: str, sidecar_path: str, jwks_path: str):
    p = subprocess.run(
        [binary, "verify", "--json", "--jwks", jwks_path, media_path, "--sidecar", sidecar_path],
        capture_output=True, text=True, timeout=60,
    )
    if p.returncode == 2:
        raise RuntimeError(f"proofmark could not verify {media_path}: {p.stderr.strip()}")
    out = json.loads(p.stdout)
    verdict = out["report"]["verdict"]
    failure = next((c for c in out["report"]["checks"] if c["status"] == "fail"), None)
    reason = failure["reason"] if failure else verdict
    expected_code = 0 if verdict in ("trusted", "valid") else 1
    if p.returncode != expected_code:
        raise RuntimeError(f"exit code {p.returncode} does not match verdict {verdict} for {media_path}")
    return verdict in ("trusted", "valid"), reason


def main() -> int:
    binary, vectors = sys.argv[1], sys.argv[2]
    shared = sys.argv[3] if len(sys.argv) > 3 else None
    manifest = json.load(open(os.path.join(vectors, "manifest.json")))
    cases = []
    jwks_path = os.path.join(vectors, manifest["jwks"])
    for v in manifest["vectors"]:
        cases.append((v["name"], os.path.join(vectors, v["media"]), os.path.join(vectors, v["sidecar"]), jwks_path,
                      v["signedshot_divergence"]))
    if shared:
        ios = os.path.join(shared, "ios-sandbox-2026-01-27")
        cases.append(("ios-sandbox-2026-01-27 (real capture)", os.path.join(ios, "photo_20260127_073124.jpg"),
                      os.path.join(ios, "photo_20260127_073124.sidecar.json"),
                      os.path.join(ios, "dev-api-jwks.recovered.json"),
                      "signedshot 0.1.9 refuses the legacy layout outright"))
    passed = failed = 0
    print(f"{'vector':40} {'signedshot':10} {'proofmark':10} result")
    for name, media_path, sidecar_path, jwks, divergence in cases:
        try:
            media = open(media_path, "rb").read()
            sidecar = open(sidecar_path, "rb").read()
            theirs, their_reason = official(sidecar, media, open(jwks).read())
            ours, our_reason = proofmark(binary, media_path, sidecar_path, jwks)
        except Exception as e:  # a broken case is a failure, and the summary line still comes
            failed += 1
            print(f"{name:40} ERROR: {e}")
            continue
        if theirs is None:
            ok = divergence is not None and divergence.startswith("no opinion")
            result = "no opinion (documented)" if ok else "validator had no opinion, but the manifest does not say so"
        elif divergence and not divergence.startswith("no opinion"):
            ok = theirs != ours
            result = "diverges (documented)" if ok else "AGREES although the manifest documents a divergence"
        else:
            ok = theirs == ours
            result = "agree" if ok else "DISAGREE"
            if ok and theirs is False:
                pattern = SAME_REASON.get(our_reason)
                if pattern is None:
                    ok, result = False, f"both reject, but no expected official error for {our_reason}"
                elif not re.search(pattern, their_reason):
                    ok, result = False, f"both reject, for different reasons ({our_reason} vs the official error)"
                else:
                    result = "agree (same reason)"
        passed += ok
        failed += not ok
        print(f"{name:40} {str(theirs):10} {str(ours):10} {result}  [{their_reason[:60]} | {our_reason}]")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
