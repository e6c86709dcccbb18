"""Typed predictors through a real runtime: validation (422 naming the field), the model instance
passed in, the model answer serialised, and the OpenAPI document carrying both schemas; plus the
offline Swagger page and /metrics documented as text/plain."""

from __future__ import annotations

import pytest
from runtime_harness import serve_fixture

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    server = serve_fixture(tmp_path_factory.mktemp("typed"), "typed.py", {}, {})
    server.wait()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    server = serve_fixture(tmp_path_factory.mktemp("untyped"), "echo.py", {"config": {"greeting": "hi"}}, {})
    server.wait()
    yield server
    server.stop()


def test_a_valid_body_arrives_as_the_model_and_the_model_answer_is_json(shop):
    response = shop.client.post("/t", json={"customer": "ada", "items": [{"sku": "tea", "quantity": 2},
                                                                        {"sku": "jam", "quantity": 1}]})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"customer": "ada", "units": 3, "payload_type": "Order"}


@pytest.mark.parametrize("body, fields", [
    ({"customer": "ada", "items": [{"sku": "tea", "quantity": 0}]}, ["payload.items[0].quantity"]),
    ({"items": [{"quantity": "many"}]}, ["payload.customer", "payload.items[0].sku", "payload.items[0].quantity"]),
    ([1, 2], ["payload: Input should be an object"]),
])
def test_an_invalid_body_is_422_naming_each_field(shop, body, fields):
    response = shop.client.post("/t", json=body)
    assert response.status_code == 422
    data = response.json()
    assert set(data) == {"error", "request_id", "hint"}
    assert data["request_id"] == response.headers["x-request-id"]
    assert data["error"].startswith("the payload does not match Order: ")
    for field in fields:
        assert field in data["error"]


@pytest.mark.parametrize("item, field", [
    ({"sku": "tea", "quantity": "5"}, "payload.items[0].quantity: Input should be a valid integer"),
    ({"sku": "tea", "quantity": 2, "price": False}, "payload.items[0].price: Input should be a valid number"),
    ({"sku": "tea", "quantity": 2, "price": "1.5"}, "payload.items[0].price"),
    ({"sku": 7, "quantity": 2}, "payload.items[0].sku: Input should be a valid string"),
    ({"sku": "tea", "quantity": 5.5}, "payload.items[0].quantity"),
])
def test_validation_is_strict_as_the_published_schema(shop, item, field):
    # The schema says integer / number / string: "5", false and 7 are not what it promises.
    response = shop.client.post("/t", json={"customer": "ada", "items": [item]})
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]


@pytest.mark.parametrize("content_type, body", [("text/plain", b"ada"), ("application/octet-stream", b"\x00")])
def test_a_body_that_is_not_json_is_422(shop, content_type, body):
    response = shop.client.post("/t", content=body, headers={"content-type": content_type})
    assert response.status_code == 422 and "payload: Input should be an object" in response.json()["error"]


def test_json_numbers_are_one_type_as_in_json_schema(shop):
    # A float field takes 3; an integer field takes 5.0 (JSON Schema counts it as an integer).
    response = shop.client.post("/t", json={"customer": "ada", "items": [{"sku": "tea", "quantity": 5.0, "price": 3}]})
    assert response.status_code == 200, response.text
    assert response.json()["units"] == 5


def test_openapi_has_request_and_response_schemas_with_an_example(shop):
    schema = shop.client.get("/openapi.json").json()
    post = schema["paths"]["/t"]["post"]
    body = post["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Order"}
    assert body["example"] == {"customer": "ada", "items": [{"sku": "tea", "quantity": 2}]}
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Quote"}
    assert post["responses"]["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    components = schema["components"]["schemas"]
    assert components["Item"]["properties"]["quantity"]["exclusiveMinimum"] == 0
    assert components["Order"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Item"}
    assert set(components["Error"]["properties"]) == {"error", "request_id", "hint"}
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


def test_an_untyped_predictor_is_served_as_before(echo):
    response = echo.client.post("/t", content=b"plain", headers={"content-type": "text/plain"})
    assert response.status_code == 200 and response.json()["payload"] == "plain"
    post = echo.client.get("/openapi.json").json()["paths"]["/t"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "text/plain", "application/octet-stream"}
    assert "content" not in post["responses"]["200"]


def test_swagger_ui_is_served_locally(shop):
    page = shop.client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/docs/static/swagger-ui-bundle.js" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        response = shop.client.get(f"/docs/static/{asset}")
        assert response.status_code == 200 and len(response.content) > 1000
    assert "SwaggerUIBundle" in shop.client.get("/docs/static/swagger-ui-bundle.js").text


def test_a_payload_nested_deeper_than_the_validator_goes_is_422_not_500(shop):
    body = b'{"customer": "ada", "items": [], "notes": ' + b"[" * 900 + b"]" * 900 + b"}"
    response = shop.client.post("/t", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "nested too deeply" in response.json()["error"], response.text
