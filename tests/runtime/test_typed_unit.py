"""The typed payload check in-process: strict as the published schema, every bad field named."""

from __future__ import annotations

import importlib.util

import pytest
from runtime_harness import FIXTURES

from mlserve.errors import PayloadInvalid
from mlserve.runtime import typed


@pytest.fixture(scope="module")
def order():
    """The fixture predictor's payload model (tests/fixtures/predictors/typed.py)."""
    spec = importlib.util.spec_from_file_location("typed_fixture", FIXTURES / "typed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.Order.model_rebuild(_types_namespace=vars(module))  # its annotations are strings
    return module.Order


def refused(model, payload) -> str:
    with pytest.raises(PayloadInvalid) as e:
        typed.validate(model, payload)
    assert e.value.http_status == 422 and e.value.hint
    return e.value.message


@pytest.mark.parametrize("payload, fields", [
    ({"customer": "ada", "items": [{"sku": "tea", "quantity": 0}]}, ["payload.items[0].quantity"]),
    ({"items": [{"quantity": "many"}]}, ["payload.customer", "payload.items[0].sku", "payload.items[0].quantity"]),
    ([1, 2], ["payload: Input should be an object"]),
    ("ada", ["payload: Input should be an object"]),
    (b"\x00", ["payload: Input should be an object"]),  # a binary body is not an object either
])
def test_every_bad_field_is_named(order, payload, fields):
    with pytest.raises(PayloadInvalid) as e:
        typed.validate(order, payload)
    message = e.value.message
    assert "GET /openapi.json" in e.value.hint
    assert message.startswith("the payload does not match Order: ")
    for field in fields:
        assert field in message


@pytest.mark.parametrize("item, field", [
    ({"sku": "tea", "quantity": "5"}, "payload.items[0].quantity: Input should be a valid integer"),
    ({"sku": "tea", "quantity": 2, "price": False}, "payload.items[0].price: Input should be a valid number"),
    ({"sku": "tea", "quantity": 2, "price": "1.5"}, "payload.items[0].price"),
    ({"sku": 7, "quantity": 2}, "payload.items[0].sku: Input should be a valid string"),
    ({"sku": "tea", "quantity": 5.5}, "payload.items[0].quantity"),
])
def test_validation_is_strict_as_the_published_schema(order, item, field):
    assert field in refused(order, {"customer": "ada", "items": [item]})


def test_json_numbers_are_one_type_as_in_json_schema(order):
    # A float field takes 3; an integer field takes 5.0 (JSON Schema counts it as an integer).
    valid = typed.validate(order, {"customer": "ada", "items": [{"sku": "tea", "quantity": 5.0, "price": 3}]})
    assert isinstance(valid, order) and valid.items[0].quantity == 5 and valid.items[0].price == 3.0


def test_a_payload_nested_deeper_than_the_validator_goes_is_refused_not_a_crash(order):
    deep: list = []
    for _ in range(900):
        deep = [deep]
    assert "nested too deeply" in refused(order, {"customer": "ada", "items": [], "notes": deep})
