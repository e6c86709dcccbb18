"""Typed predictors through a real runtime: the model instance passed in, the model answer serialised,
and the OpenAPI document carrying both schemas; plus the offline Swagger page and /metrics documented
as text/plain. The validation itself (422 naming each field) is in test_typed_unit.py and
test_dataplane_unit.py."""

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
