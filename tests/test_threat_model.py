"""THREAT_MODEL.md names tests that exist: a renamed or deleted test fails here."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def test_every_test_the_threat_model_names_exists():
    text = (ROOT / "THREAT_MODEL.md").read_text()
    references = REFERENCE.findall(text)
    assert len(references) > 20
    missing = []
    for path, name in references:
        file = ROOT / path
        if not file.exists():
            missing.append(f"{path} (no such file)")
            continue
        tree = ast.parse(file.read_text())
        defined = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []
