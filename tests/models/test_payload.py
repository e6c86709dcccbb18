"""The request checks the seed predictors share read a dict and a typed payload (a pydantic model) alike."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from mlserve.errors import RequestError
from mlserve.models import bool_field, float_field, int_field, text_field


class Turn(BaseModel):
    prompt: str
    max_new_tokens: int | None = None
    temperature: float | None = None
    gate: bool | None = None


@pytest.mark.parametrize("payload", [
    {"prompt": "hi", "max_new_tokens": 7, "temperature": 0.5, "gate": False},
    Turn(prompt="hi", max_new_tokens=7, temperature=0.5, gate=False),
], ids=["dict", "typed"])
def test_fields_read_a_dict_and_a_typed_payload_alike(payload):
    assert text_field(payload, "prompt", max_chars=10, example='{"prompt": "hi"}') == "hi"
    assert int_field(payload, "max_new_tokens", default=1, low=1, high=10) == 7
    assert float_field(payload, "temperature", default=1.0, low=0.0, high=2.0) == 0.5
    assert bool_field(payload, "gate", default=True) is False


@pytest.mark.parametrize("payload", [{"prompt": "hi"}, Turn(prompt="hi")], ids=["dict", "typed"])
def test_a_field_left_out_gets_its_default(payload):
    # A typed payload's unset fields are left out (exclude_unset), so the predictor's default applies.
    assert int_field(payload, "max_new_tokens", default=3, low=1, high=10) == 3
    assert float_field(payload, "temperature", default=1.0, low=0.0, high=2.0) == 1.0


@pytest.mark.parametrize("payload", [{"temperature": 5}, Turn(prompt="hi", temperature=5)], ids=["dict", "typed"])
def test_a_number_out_of_range_is_a_request_error_naming_the_field(payload):
    with pytest.raises(RequestError) as info:
        float_field(payload, "temperature", default=1.0, low=0.0, high=2.0)
    # The typed payload holds 5.0 (pydantic made it a float), the dict 5.
    assert info.value.message.startswith("field 'temperature' must be a number from 0.0 to 2.0, got 5")
    assert info.value.hint == "leave 'temperature' out for the default (1.0)"


def test_a_flag_that_is_not_a_boolean_is_a_request_error_naming_the_field():
    assert bool_field({}, "gate", default=True) is True
    with pytest.raises(RequestError) as info:
        bool_field({"gate": "no"}, "gate", default=True)
    assert info.value.message == "field 'gate' must be true or false, got 'no'"
    assert info.value.hint == "leave 'gate' out for the default (true)"
