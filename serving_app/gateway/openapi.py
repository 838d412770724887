"""The OpenAI-compatible gateway (``/v1/``) in the OpenAPI schema, beside the DRF APIs.

The gateway is not a DRF view (under ASGI it is a lean application in front of Django, under WSGI one
Django view for every path below ``/v1/``, both calling ``handlers.handle``), so drf-spectacular cannot
see it; this postprocessing hook adds its operations. It is the one description of what ``handlers``
accepts and answers: requests are passed through to the engine, so only the fields the gateway itself
reads are constrained, and every error is OpenAI's ``{"error": {message, type, param, code}}``.
"""

from __future__ import annotations

from serving_app.gateway.handlers import COMPLETIONS

JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": _ref("OpenAIError")}}}


ERRORS = {
    "400": _error("The body is not a JSON object, a field cannot be read (``param`` names it), no model."),
    "401": _error("No API key, or one that is wrong or revoked."),
    "404": _error("No model of that name in your organization (OpenAI's `model_not_found`)."),
}
ENGINE_ERRORS = {
    "413": _error("The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."),
    "502": _error("The engine answered something that is not JSON."),
    "503": _error("The model is starting, failed, or its engine is restarting (with Retry-After)."),
}
ANY = {}  # any JSON value: passed to the engine as sent
SCHEMAS = {
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string", "example": "invalid_request_error"},
                    "param": {"type": "string", "nullable": True},
                    "code": {"type": "string", "nullable": True},
                },
            }
        },
    },
    "GatewayModel": {
        "type": "object",
        "required": ["id", "object", "created", "owned_by", "status"],
        "properties": {
            "id": {"type": "string", "description": "The name to send as `model`."},
            "object": {"type": "string", "enum": ["model"]},
            "created": {"type": "integer"},
            "owned_by": {"type": "string", "description": "Your organization's slug."},
            "status": {"type": "string", "description": "The deployment's status: starting, ready, failed."},
        },
    },
    "GatewayModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": _ref("GatewayModel")},
        },
    },
    "ChatMessage": {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"type": "string", "example": "user"},
            "content": {**ANY, "description": "Text, or a list of content parts (passed through)."},
        },
        "additionalProperties": True,
    },
    "ChatCompletionRequest": {
        "type": "object",
        "required": ["model", "messages"],
        "description": "OpenAI's chat request; fields beyond these are passed to the engine unchanged.",
        "properties": {
            "model": {"type": "string", "description": "A deployment of your organization (GET /v1/models)."},
            "messages": {"type": "array", "items": _ref("ChatMessage")},
            "stream": {"type": "boolean", "description": "Answer as server-sent events (text/event-stream)."},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "max_tokens": {"type": "integer"},
            "temperature": {"type": "number"},
            "top_p": {"type": "number"},
            "seed": {"type": "integer", "description": "Whole numbers in a body must fit in 64 bits."},
        },
        "additionalProperties": True,
    },
    "CompletionRequest": {
        "type": "object",
        "required": ["model", "prompt"],
        "description": "OpenAI's (legacy) completion request; other fields are passed to the engine.",
        "properties": {
            "model": {"type": "string"},
            "prompt": {**ANY, "description": "Text or a list of texts."},
            "stream": {"type": "boolean"},
            "max_tokens": {"type": "integer"},
            "seed": {"type": "integer"},
        },
        "additionalProperties": True,
    },
    "Completion": {
        "type": "object",
        "required": ["choices", "model"],
        "description": "The engine's answer, with `model` set to the name you sent.",
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "example": "chat.completion"},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
            "usage": {"type": "object", "nullable": True, "additionalProperties": True},
        },
        "additionalProperties": True,
    },
}


def _completion(summary: str, request: str, operation_id: str) -> dict:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["v1 (OpenAI-compatible)"],
            "security": [{"ApiKey": []}],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref(request)}}},
            "responses": {
                "200": {
                    "description": "The answer; with `stream: true`, server-sent events ending in "
                    "`data: [DONE]`, each chunk's `model` set to the name you sent.",
                    "content": {
                        JSON: {"schema": _ref("Completion")},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **ERRORS,
                **ENGINE_ERRORS,
            },
        }
    }


def gateway_paths() -> dict:
    assert set(COMPLETIONS) == {"chat/completions", "completions"}  # noqa: S101 - keep both in step
    return {
        "/v1/models": {
            "get": {
                "operationId": "v1_models_list",
                "summary": "The deployments of your organization, as OpenAI models.",
                "tags": ["v1 (OpenAI-compatible)"],
                "security": [{"ApiKey": []}],
                "responses": {
                    "200": {"description": "", "content": {JSON: {"schema": _ref("GatewayModelList")}}},
                    "401": ERRORS["401"],
                },
            }
        },
        "/v1/models/{model}": {
            "get": {
                "operationId": "v1_models_retrieve",
                "summary": "One deployment of your organization.",
                "tags": ["v1 (OpenAI-compatible)"],
                "security": [{"ApiKey": []}],
                "parameters": [
                    {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "", "content": {JSON: {"schema": _ref("GatewayModel")}}},
                    "401": ERRORS["401"],
                    "404": ERRORS["404"],
                },
            }
        },
        "/v1/chat/completions": _completion(
            "A chat completion from a deployed model.", "ChatCompletionRequest", "v1_chat_completions_create"
        ),
        "/v1/completions": _completion(
            "A text completion from a deployed model.", "CompletionRequest", "v1_completions_create"
        ),
    }


def add_gateway(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the gateway's paths and schemas, added to the rest."""
    result.setdefault("paths", {}).update(gateway_paths())
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    return result
