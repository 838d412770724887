"""The built-in engine renders a request's ``tools`` into the prompt, as training rendered them."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from serving_app.engine.builtin_model import LoadedModel
from serving_app.engine.builtin_server import Server, parse_messages
from training_app.trainer.tiny_model import build_tiny_model

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ASK = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    model = LoadedModel(str(build_tiny_model(tmp_path_factory.mktemp("m") / "tiny")), served_name="tiny")
    return model, TestClient(Server(model, api_key=None).app)


def test_tools_reach_the_prompt_and_tool_calls_the_history(engine):
    model, client = engine
    prompt = model.tokenizer.decode(model.chat_prompt(ASK, TOOLS))
    assert '"name": "get_weather"' in prompt and prompt.index("get_weather") < prompt.index(
        "Weather in Paris?"
    )

    def prompt_tokens(**extra):
        body = {"model": "tiny", "messages": ASK, "max_tokens": 1, "temperature": 0, **extra}
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        return response.json()["usage"]["prompt_tokens"]

    assert prompt_tokens(tools=TOOLS) > prompt_tokens() + 20
    called = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "1", "content": "21 degrees"},
    ]
    history = model.tokenizer.decode(model.chat_prompt(parse_messages({"messages": called}), TOOLS))
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in history
    bad = client.post("/v1/chat/completions", json={"model": "tiny", "messages": ASK, "tools": "get_weather"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tools"
