#!/usr/bin/env python3
"""Agreement between Proofmark and the official SignedShot validator (PyPI signedshot==0.1.9).

For every vector in testdata/capture/manifest.json, ask both verifiers with the same trusted JWKS:
  official: signedshot.validate_with_jwks(sidecar, media, jwks) -> .valid (a ValueError counts as "rejected")
  proofmark: `proofmark verify --json --jwks JWKS MEDIA --sidecar SIDECAR` -> verdict trusted/valid = accepted
They must agree, except on vectors whose manifest entry names a divergence; there they must *disagree*
(so the manifest stays true). Also checks the real iOS capture in ../shared/signedshot-vectors.

usage: interop_signedshot.py PROOFMARK_BINARY VECTORS_DIR [SHARED_VECTORS_DIR]
Exit 0 when every comparison holds. The last line is "N passed, M failed".
"""
import json
import os
import subprocess
import sys

import signedshot


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
        passed += ok
        failed += not ok
        print(f"{name:40} {str(theirs):10} {str(ours):10} {result}  [{their_reason[:60]} | {our_reason}]")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
