"""Predictor loading: class discovery, signature checks, user errors shown intact."""

from __future__ import annotations

import textwrap

import pytest

from mlserve.errors import PredictorInitError, PredictorLoadError
from mlserve.runtime.loader import load_predictor_class
from mlserve.spec import APISpec


def load(tmp_path, code: str, file: str = "predictors/p.py", **predictor):
    path = tmp_path / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    api = APISpec.model_validate({"name": "t", "predictor": {"path": file, **predictor}})
    return load_predictor_class(api, tmp_path)


def test_single_class_is_found_and_params_recorded(tmp_path):
    pc = load(tmp_path, """
        import json  # an imported class must not count as a candidate
        from collections import OrderedDict

        class Helper:
            pass

        class P:
            def __init__(self, config):
                self.config = config

            def predict(self, payload, headers):
                return payload
    """)
    assert pc.cls.__name__ == "P"
    assert pc.init_takes_config
    assert pc.predict.params == ("payload", "headers")
    assert not pc.predict.is_async
    assert pc.stream is None
    assert pc.instantiate({"a": 1}).config == {"a": 1}


def test_init_without_config_and_async_predict(tmp_path):
    pc = load(tmp_path, """
        class P:
            async def predict(self):
                return 1

            async def stream(self, payload, **kwargs):
                yield 1
    """)
    assert not pc.init_takes_config
    assert pc.predict.params == ()
    assert pc.predict.is_async
    assert pc.stream.params == ("payload", "query_params", "headers")
    assert pc.stream.is_generator and not pc.stream.is_async
    pc.instantiate({"ignored": True})


def test_ambiguous_class_lists_candidates(tmp_path):
    with pytest.raises(PredictorLoadError) as e:
        load(tmp_path, """
            class A:
                def predict(self, payload): ...
            class B:
                def predict(self, payload): ...
        """)
    assert e.value.message == "predictors/p.py: several classes have a predict() method: A, B"
    assert "predictor.class_name" in e.value.hint


def test_class_name_picks_one_and_unknown_name_lists_classes(tmp_path):
    code = """
        class A:
            def predict(self, payload): return "a"
        class B:
            def predict(self, payload): return "b"
    """
    assert load(tmp_path, code, class_name="B").cls.__name__ == "B"
    with pytest.raises(PredictorLoadError, match=r"no class named 'C' \(classes defined there: A, B\)"):
        load(tmp_path, code, class_name="C")


def test_no_predict_class(tmp_path):
    with pytest.raises(PredictorLoadError, match="predictors/p.py: no class with a predict"):
        load(tmp_path, "class P:\n    pass\n")


def test_unknown_predict_parameter(tmp_path):
    with pytest.raises(PredictorLoadError) as e:
        load(tmp_path, """
            class X:
                def predict(self, payload, foo):
                    return payload
        """, file="predictors/x.py")
    assert e.value.message == ("predictors/x.py: class X: predict() takes unknown parameter 'foo'; "
                               "allowed: payload, query_params, headers")


def test_unknown_init_parameter(tmp_path):
    with pytest.raises(PredictorLoadError, match=r"class P: __init__\(\) takes unknown parameter 'client'; "
                                                 r"allowed: config"):
        load(tmp_path, """
            class P:
                def __init__(self, config, client):
                    pass
                def predict(self, payload):
                    return payload
        """)


def test_positional_only_is_rejected(tmp_path):
    with pytest.raises(PredictorLoadError, match="'payload' is positional-only"):
        load(tmp_path, "class P:\n    def predict(self, payload, /):\n        return 1\n")


def test_generator_predict_with_batching_is_rejected(tmp_path):
    with pytest.raises(PredictorLoadError, match="server_side_batching cannot split"):
        load(tmp_path, "class P:\n    def predict(self, payload):\n        yield 1\n",
             server_side_batching={"max_batch_size": 4, "batch_interval": "10ms"})


def test_user_import_error_is_shown_with_user_frames_only(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helpers.py").write_text("import not_installed_anywhere_xyz\n")
    with pytest.raises(PredictorLoadError) as e:
        load(tmp_path, """
            import helpers

            class P:
                def predict(self, payload):
                    return payload
        """, python_path="lib")
    text = e.value.message
    assert text.startswith("predictors/p.py: importing it raised ModuleNotFoundError\nTraceback")
    assert 'p.py", line 2, in <module>' in text
    assert 'helpers.py", line 1, in <module>' in text
    assert "ModuleNotFoundError: No module named 'not_installed_anywhere_xyz'" in text
    assert "importlib" not in text and "mlserve/runtime" not in text


def test_user_syntax_error_points_at_the_line(tmp_path):
    with pytest.raises(PredictorLoadError) as e:
        load(tmp_path, "class P:\n    def predict(self, payload)\n        return 1\n")
    text = e.value.message
    assert 'p.py", line 2' in text and "SyntaxError" in text
    assert "importlib" not in text and "mlserve/runtime" not in text


def test_init_error_carries_user_traceback(tmp_path):
    pc = load(tmp_path, """
        def load_weights():
            raise FileNotFoundError("model.bin")

        class P:
            def __init__(self, config):
                load_weights()
            def predict(self, payload):
                return payload
    """)
    with pytest.raises(PredictorInitError) as e:
        pc.instantiate({})
    text = e.value.message
    assert "predictors/p.py: class P: __init__ raised FileNotFoundError" in text
    assert "in load_weights" in text and "FileNotFoundError: model.bin" in text
    assert "mlserve/runtime" not in text


def test_same_file_name_in_two_projects_loads_both(tmp_path):
    a = load(tmp_path / "a", "class A:\n    def predict(self, payload): return 'a'\n")
    b = load(tmp_path / "b", "class B:\n    def predict(self, payload): return 'b'\n")
    assert a.cls.__module__ != b.cls.__module__
    assert a.instantiate({}).predict(None) == "a" and b.instantiate({}).predict(None) == "b"


def test_python_client_is_only_for_multi_model_apis_unless_it_has_a_default(tmp_path):
    required = """
        class P:
            def __init__(self, config, python_client):
                self.client = python_client

            def predict(self, payload):
                return payload
    """
    with pytest.raises(PredictorLoadError, match="only multi-model APIs get") as e:
        load(tmp_path, required)
    assert "python_client=None" in e.value.hint
    # A predictor that serves one model from its config, or many from a list, is loaded either way.
    both = required.replace("python_client):", "python_client=None):") + """
            def load_model(self, model_path):
                return model_path
    """
    single = load(tmp_path, both, file="predictors/both.py")
    assert not single.init_takes_client and single.instantiate({}).client is None
    multi = load(tmp_path, both, file="predictors/both.py", multi_model_reloading={"dir": "models"})
    assert multi.init_takes_client and multi.instantiate({}, python_client="the client").client == "the client"
