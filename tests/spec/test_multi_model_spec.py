"""predictor.multi_model_reloading: Cortex's spelling and rules, each error at file:line and field."""

from __future__ import annotations

import pytest
from test_loader import error_of, write

from mlserve.spec import load_project


def test_cortex_spelling_loads_with_defaults(tmp_path):
    spec = write(tmp_path, """
        - name: many
          predictor:
            path: p.py
            multi_model_reloading:
              paths:
                - {name: iris, path: models/iris}
                - {name: story, path: s3://models/story}
              cache_size: 2
              disk_cache_size: 3
              watch_interval: 500ms
    """)
    models = load_project(spec).api("many").predictor.multi_model_reloading
    assert [(m.name, m.path) for m in models.paths] == [("iris", "models/iris"), ("story", "s3://models/story")]
    assert (models.cache_size, models.disk_cache_size, models.watch_interval, models.caching) == (2, 3, 0.5, True)
    plain = load_project(write(tmp_path, """
        - name: one
          predictor: {path: p.py, multi_model_reloading: {dir: models}}
    """)).api("one").predictor.multi_model_reloading
    assert (plain.dir, plain.cache_size, plain.watch_interval, plain.caching) == ("models", None, 10.0, False)


ERRORS = [
    pytest.param("""
        - name: many
          predictor:
            path: p.py
            multi_model_reloading:
              dir: models
              path: models/iris
    """, "{spec}:5: api 'many': predictor.multi_model_reloading.dir must be the only one of path, paths and dir",
        id="two-sources"),
    pytest.param("""
        - name: many
          predictor:
            path: p.py
            multi_model_reloading:
              cache_size: 2
              disk_cache_size: 2
    """, "{spec}:4: api 'many': predictor.multi_model_reloading.path is required: set exactly one of path, paths",
        id="no-source"),
    pytest.param("""
        - name: many
          predictor:
            path: p.py
            multi_model_reloading:
              dir: models
              cache_size: 4
              disk_cache_size: 2
    """, "{spec}:7: api 'many': predictor.multi_model_reloading.disk_cache_size (2) must be >= cache_size (4)",
        id="disk-below-memory"),
    pytest.param("""
        - name: many
          predictor:
            path: p.py
            multi_model_reloading:
              dir: models
              cache_size: 4
    """, "{spec}:4: api 'many': predictor.multi_model_reloading.disk_cache_size must be set together with cache_size",
        id="cache-without-disk"),
    pytest.param("""
        - name: many
          predictor:
            path: p.py
            processes_per_replica: 2
            multi_model_reloading: {dir: models, cache_size: 1, disk_cache_size: 1}
    """, "{spec}:4: api 'many': predictor.processes_per_replica (2) must be 1 when multi_model_reloading.cache_size",
        id="caching-needs-one-process"),
    pytest.param("""
        - name: many
          predictor:
            path: p.py
            multi_model_reloading:
              paths:
                - {name: a, path: x}
                - {name: a, path: y}
    """, "{spec}:5: api 'many': predictor.multi_model_reloading.paths name the models apart: a appear",
        id="duplicate-names"),
    pytest.param("""
        - name: many
          predictor:
            path: p.py
            multi_model_reloading:
              paths:
                - {name: "bad name", path: x}
    """, "{spec}:6: api 'many': predictor.multi_model_reloading.paths.0.name: 'bad name' must be letters",
        id="bad-model-name"),
    pytest.param("""
        - name: many
          predictor:
            path: p.py
            multi_model_reloading: {dir: models, watch_interval: soon}
    """, "{spec}:4: api 'many': predictor.multi_model_reloading.watch_interval: 'soon' is not a duration",
        id="bad-interval"),
]


@pytest.mark.parametrize("yaml_text, starts", ERRORS)
def test_errors_name_file_line_and_field(tmp_path, yaml_text, starts):
    spec = write(tmp_path, yaml_text)
    message = error_of(spec)
    assert message.startswith(starts.format(spec=spec)), message
