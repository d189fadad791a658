"""The generated model (oci_runtime/_model.py, what the runtime uses) behaves as the attrs classes of
oci_runtime/modeldef.py it is compiled from (modelgen.py): same fields in the same order, defaults,
structure() of real client configs and of generated documents, repr, equality, hashing, immutability,
evolve() and load_spec()."""
from __future__ import annotations

import glob
import json
import os
import types
import typing
from typing import Any

import attr
import pytest
from conftest import CLIENT_CONFIGS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oci_runtime import _model, model, modeldef, modelgen

CLASSES = modelgen.model_classes(modeldef)
FIXTURES = sorted(glob.glob(str(CLIENT_CONFIGS / "*.json")))


def plain(obj: object) -> object:
    """A model object as nested tuples (class name, ((field, value), ...)), whichever implementation made it."""
    if attr.has(type(obj)):
        return type(obj).__name__, tuple((f.name, plain(getattr(obj, f.name))) for f in attr.fields(type(obj)))
    if type(obj).__module__ == _model.__name__:
        return type(obj).__name__, tuple((name, plain(getattr(obj, name))) for name in type(obj).__slots__)
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def both(config: dict) -> tuple[Any, Any]:
    return modeldef.structure(modeldef.Spec, config), model.structure(model.Spec, config)


def test_every_attrs_class_is_generated_with_the_same_fields():
    assert len(CLASSES) >= 12
    for cls in CLASSES:
        generated = getattr(model, cls.__name__)
        assert generated.__module__ == "oci_runtime._model"
        assert list(generated.__slots__) == [f.name for f in attr.fields(cls)]
        assert generated.__match_args__ == cls.__match_args__


def test_installed_module_is_generated_from_modeldef():
    """pip install generated it (setup.py's build_py) from the modeldef.py it installed, deterministically."""
    with open(_model.__file__, encoding="utf-8") as f:
        installed = f.read()
    assert installed == modelgen.generate(modeldef.__file__) == modelgen.generate(modeldef.__file__)


def test_runtime_model_does_not_import_attrs():
    import subprocess
    import sys

    code = "import sys, oci_runtime.model; print(sorted(m for m in sys.modules if m.split('.')[0] in ('attr', 'typing')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/").stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("path", FIXTURES, ids=os.path.basename)
def test_client_configs_structure_alike(path):
    with open(path) as f:
        config = json.load(f)
    reference, generated = both(config)
    assert plain(generated) == plain(reference)
    assert repr(generated) == repr(reference)
    assert plain(model.load_spec(config, "/b")) == plain(modeldef.load_spec(config, "/b"))


# -- generated documents: each field of each class present or not, null, or of its type ----------------------------

SCALAR_FOR = {str: st.text(max_size=8), int: st.integers(-3, 2**40), bool: st.booleans()}
RAW = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)


def value_for(tp: object) -> st.SearchStrategy:
    if isinstance(tp, types.UnionType):  # X | None
        (inner,) = (a for a in typing.get_args(tp) if a is not type(None))
        return st.none() | value_for(inner)
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return st.lists(st.none() | value_for(item), max_size=3)
    if origin is dict:
        return RAW
    if attr.has(tp):
        return document_for(tp)
    return SCALAR_FOR[tp]


def document_for(cls: type) -> st.SearchStrategy:
    """A JSON object for cls: any subset of its keys, plus an unknown one sometimes (ignored by both)."""
    fields = {key: st.deferred(lambda tp=tp: value_for(tp)) for _, key, tp in modeldef._fields(cls)}
    return st.fixed_dictionaries({}, optional={**fields, "xUnknown": st.integers()})


def has_required(cls: type, doc: dict) -> bool:
    """Documents missing a required field fail in both implementations; checked separately below."""
    return all(key in doc for name, key, _ in modeldef._fields(cls) if attr.fields_dict(cls)[name].default is attr.NOTHING)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_generated_documents_structure_alike(data):
    cls = data.draw(st.sampled_from(CLASSES))
    doc = data.draw(document_for(cls))
    generated_cls = getattr(model, cls.__name__)
    try:
        reference = modeldef.structure(cls, doc)
    except TypeError as e:  # a required field or a nested required field missing
        with pytest.raises(TypeError):
            model.structure(generated_cls, doc)
        assert "required" in str(e) or "missing" in str(e)
        return
    generated = model.structure(generated_cls, doc)
    assert plain(generated) == plain(reference)
    assert repr(generated) == repr(reference)
    again = model.structure(generated_cls, doc)
    assert generated == again
    if _hashable(again):  # list fields make most objects unhashable, as with attrs
        assert hash(generated) == hash(again)


def _hashable(obj: object) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


# -- behaviour of the classes ----------------------------------------------------------------------------------------


def test_defaults_match_and_factories_are_fresh():
    for cls in CLASSES:
        generated_cls = getattr(model, cls.__name__)
        required = {f.name: f"v-{f.name}" for f in attr.fields(cls) if f.default is attr.NOTHING}
        a, b = generated_cls(**required), generated_cls(**required)
        assert plain(a) == plain(cls(**required))
        for f in attr.fields(cls):
            if isinstance(f.default, attr.Factory):
                assert getattr(a, f.name) == getattr(b, f.name) and getattr(a, f.name) is not getattr(b, f.name)


def test_missing_required_field_is_a_type_error_in_both():
    for cls in (modeldef.Root, model.Root):
        with pytest.raises(TypeError):
            cls()


def test_objects_are_immutable():
    spec = model.structure(model.Spec, {"ociVersion": "1.0.0", "process": {"cwd": "/"}})
    with pytest.raises(AttributeError):
        spec.hostname = "x"
    with pytest.raises(model.FrozenInstanceError):
        spec.process.cwd = "/tmp"
    with pytest.raises(AttributeError):
        del spec.linux
    with pytest.raises(AttributeError):
        spec.not_a_field = 1  # __slots__: no new attributes either
    assert spec.process.cwd == "/" and spec.hostname is None


def test_equality_and_hash():
    a = model.Namespace("pid", "/proc/1/ns/pid")
    assert a == model.Namespace("pid", "/proc/1/ns/pid") and hash(a) == hash(model.Namespace("pid", "/proc/1/ns/pid"))
    assert a != model.Namespace("pid") and a != model.Namespace("ipc", "/proc/1/ns/pid")
    assert a != ("pid", "/proc/1/ns/pid") and model.Root("x") != model.Namespace("x")
    assert (modeldef.Namespace("pid") == modeldef.Namespace("pid")) == (model.Namespace("pid") == model.Namespace("pid"))


def test_evolve_and_methods():
    config = {"ociVersion": "1.0.0", "process": {"cwd": "/", "env": ["A=1"]},
              "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}]}}
    reference, generated = both(config)
    new_env = ["A=1", "B=2"]
    assert plain(model.evolve(generated, process=model.evolve(generated.process, env=new_env))) == plain(
        attr.evolve(reference, process=attr.evolve(reference.process, env=new_env)))
    assert generated.process.env == ["A=1"]  # evolve copies, never changes
    for ns_type in ("pid", "network", "user"):
        assert plain(generated.linux.namespace(ns_type)) == plain(reference.linux.namespace(ns_type))
    with pytest.raises(TypeError):
        model.evolve(generated, no_such_field=1)
