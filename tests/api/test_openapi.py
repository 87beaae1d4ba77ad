"""The OpenAPI document: served at /api/v1/openapi.json, valid OpenAPI 3.1
(openapi-spec-validator), every operation with its scope and security, every error a
problem document; the page at /api/docs runs no script and loads nothing from elsewhere;
and schemathesis, generating calls from the document against the running server (every
phase: examples, coverage of the boundaries, fuzzing, stateful links), finds no server
error and no answer that the document does not describe."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from openapi_spec_validator import validate

from congthu.api.tokens import SCOPES
from tests.api.conftest import World


def test_the_document_is_valid_and_complete(world: World) -> None:
    r = world.call("GET", "/api/v1/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    validate(doc)
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "congthu api token create --scope ... (docs/api.md)"}
    operations = [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 16
    used = set()
    for path, method, op in operations:
        assert path.startswith("/api/v1/")
        assert op["security"] == [{"bearer": []}], (path, method)
        scope = op["x-scope"]
        assert scope == "" or scope in SCOPES
        used.add(scope)
        for status in ("401", "403", "429"):
            assert op["responses"][status]["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"}
        if "{" in path:
            assert "404" in op["responses"]
        if "requestBody" in op:
            assert {"400", "413", "415", "422"} <= set(op["responses"])
    assert used == {"", *SCOPES}
    # Nothing but the API is described.
    assert not any(p.startswith(("/quan-tri", "/danh-ba", "/healthz")) for p in doc["paths"])


def test_the_docs_page_needs_nothing_from_elsewhere(world: World) -> None:
    r = world.call("GET", "/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script" not in r.text.lower() and not re.search(r"(src|href)=\"https?:", r.text)
    assert "/api/v1/requests" in r.text and "requests:write" in r.text
    # The root application still publishes no document of its own (tests/web/test_security.py).
    assert world.call("GET", "/openapi.json").status_code == 404
    assert world.call("GET", "/docs").status_code == 404


def test_schemathesis_finds_no_server_error(world: World, tmp_path: Path) -> None:
    token = world.token("admin2")
    report = tmp_path / "junit.xml"
    cli = Path(sys.executable).parent / "schemathesis"
    assert cli.exists(), "schemathesis is not installed (pip install -e '.[test]')"
    run = subprocess.run(
        [str(cli), "run", f"{world.base}/api/v1/openapi.json", "--url", world.base,
         "-H", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance,response_headers_conformance,negative_data_rejection,"
                     "ignored_auth,unsupported_method",
         # The token's own revocation is left out: once the run revoked it (it may, with
         # tokens:manage), every later call was a 401 and tested nothing.
         "--exclude-operation-id", "revoke_api_v1_tokens__token_id__delete",
         # The coverage phase tries each operation's boundaries and wrong types whatever
         # this is; it bounds the random examples of the fuzzing phase per operation.
         "--max-examples", os.environ.get("CONGTHU_SCHEMATHESIS_EXAMPLES", "5"),
         "--seed", os.environ.get("CONGTHU_SCHEMATHESIS_SEED", "1"), "--request-timeout", "60", "--no-color",
         "--report", "junit", "--report-junit-path", str(report)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)  # its example database stays there
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # Every operation but the revocation was run, with a token that worked to the end.
    selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
    assert selected and int(selected[1]) == int(selected[2]) - 1, run.stdout[-6000:]
    assert "Authentication failed" not in run.stdout, run.stdout[-6000:]
