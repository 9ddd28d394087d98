"""Swagger UI, ReDoc and the OpenAPI document describe every response of the contract."""

from __future__ import annotations

import httpx


async def test_swagger_ui_and_redoc_are_served(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "text/html" in response.headers["content-type"]


async def test_openapi_documents_every_status_of_the_wallet_routes(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    wallet = document["paths"]["/api/v1/wallets/{wallet_id}"]["get"]["responses"]
    operation = document["paths"]["/api/v1/wallets/{wallet_id}/operation"]["post"]
    assert {"200", "404", "422"} <= set(wallet)
    assert {"200", "400", "404", "413", "422"} <= set(operation["responses"])
    for code in ("insufficient_funds", "balance_limit_exceeded", "wallet_not_found"):
        assert code in operation["description"]
    problem = document["components"]["schemas"]["Problem"]
    assert {"code", "detail", "status"} <= set(problem["required"])


async def test_openapi_shows_amounts_as_numbers(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert schemas["OperationResponse"]["properties"]["amount"]["type"] == "number"
    assert schemas["WalletResponse"]["properties"]["balance"]["type"] == "number"
    operation = document["paths"]["/api/v1/wallets/{wallet_id}/operation"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"number", "string"} == {
        option["type"] for option in body["properties"]["amount"]["oneOf"]
    }
    assert body["additionalProperties"] is False
    assert body["required"] == ["operation_type", "amount"]
    assert "Idempotency-Key" in {parameter["name"] for parameter in operation["parameters"]}


async def test_openapi_shows_the_model_of_each_success_response(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    expected = {
        ("/api/v1/wallets", "post", "201"): "WalletResponse",
        ("/api/v1/wallets/{wallet_id}", "get", "200"): "WalletResponse",
        ("/api/v1/wallets/{wallet_id}/operations", "get", "200"): "OperationsPageResponse",
    }
    for (path, method, status), model in expected.items():
        schema = paths[path][method]["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}, (path, method)


async def test_openapi_files_problems_under_the_media_type_they_are_sent_as(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                assert set(response["content"]) == {"application/problem+json"}, (path, method)
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}


async def test_openapi_lists_the_currencies_the_ledger_knows(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    currency = schemas["CreateWalletRequest"]["properties"]["currency"]
    codes = next(option for option in currency["anyOf"] if option.get("enum"))["enum"]
    assert {"EUR", "JPY", "KWD", "USD"} <= set(codes)
    assert "AAA" not in codes
