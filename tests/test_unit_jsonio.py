"""Unit tests of jsonio.py, the _json-based JSON of the hot paths: json's verdicts and separators, and
syntax errors as ValueError even in a process that never imported json (then _json cannot find its
exception class: a SystemError unless jsonio handles it)."""
import json
import subprocess
import sys

import pytest

from oci_runtime import jsonio


@pytest.mark.parametrize("text", ["{not json", '{"a": 1,}', "[1, 2", '"unterminated', "{}{}", "NaN", "[Infinity]", ""])
def test_bad_documents_are_value_errors(text):
    with pytest.raises(ValueError):
        jsonio.loads(text)


def test_syntax_error_in_a_process_without_json():
    code = ("import sys; from oci_runtime import jsonio\n"
            "assert 'json' not in sys.modules\n"
            "try:\n    jsonio.loads('{not json')\nexcept ValueError as e:\n    print(type(e).__name__, e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True).stdout
    assert out.startswith("JSONDecodeError Expecting property name enclosed in double quotes"), out


@pytest.mark.parametrize("doc", [{"a": [1, 2.5, None, True]}, ["é", "\u2028"], {"nested": {"x": {}}}, 123, "s"])
def test_same_as_json(doc):
    assert jsonio.loads(json.dumps(doc)) == doc
    assert jsonio.dumps(doc) == json.dumps(doc, separators=(",", ":"))
    assert jsonio.dumps(doc, compact=False) == json.dumps(doc)
    assert jsonio.dumps(doc, compact=False, ensure_ascii=False) == json.dumps(doc, ensure_ascii=False)
    assert jsonio.dumps(doc, indent="  ") == json.dumps(doc, indent="  ")
