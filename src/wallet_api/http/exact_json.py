"""JSON in and out without float: numbers parse to Decimal, amounts are written as exact text."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate keys in a JSON object")
    return result


def loads_exact(body: bytes) -> Any:
    """Parse a request body; any number with a fraction or exponent becomes a Decimal.

    Every failure (bad UTF-8, NaN, a duplicate key, nesting too deep, an integer too long)
    surfaces as a JSONDecodeError, which the framework answers with a 422.
    """
    try:
        return json.loads(
            body,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_object_without_duplicate_keys,
        )
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:
        raise json.JSONDecodeError(str(error), "", 0) from error


async def exact_body(request: Request, model: type[Model]) -> Model:
    """The JSON body parsed by `loads_exact` and validated as `model`, with the same 422s as a
    FastAPI body parameter. The hot route reads its body with this: the benchmark showed the
    per-parameter machinery costing about a third of its throughput."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise RequestValidationError(
            [{"type": "content_type", "loc": ("body",), "msg": "Content-Type must be JSON"}]
        )
    try:
        data = loads_exact(await request.body())
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "ctx": {"error": error.msg},
                }
            ]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        located = [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
        raise RequestValidationError(located) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body with `exact_body`."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


class ExactJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_exact(await self.body())
        return self._json


class ExactJSONRoute(APIRoute):
    """A route whose JSON body is parsed by `loads_exact` instead of float-producing json.loads."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact_handler


# Set per request by `http/amount_format.py`: amounts as JSON strings instead of numbers.
amounts_as_strings: ContextVar[bool] = ContextVar("amounts_as_strings", default=False)


def _exact_number(value: object) -> orjson.Fragment | str:
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if amounts_as_strings.get() else orjson.Fragment(text)
    if isinstance(value, uuid.UUID):  # the driver's own UUID subclass
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps_exact(content: object) -> bytes:
    """Encode with Decimals written digit for digit as JSON numbers (`1500.50`, never a float),
    or as strings when the request asked for them."""
    return orjson.dumps(content, default=_exact_number)


# A JSONResponse, so that the OpenAPI document shows each route's response_model.
class ExactJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return dumps_exact(content)
