"""What the supervisor asks a running engine: is it healthy, which adapters it has, load and unload one."""

from __future__ import annotations

import httpx


class EngineRequestError(Exception):
    pass


class EngineClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 5.0):
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout
        )

    def close(self) -> None:
        self.http.close()

    def healthy(self) -> bool:
        try:
            return self.http.get("/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def adapters(self) -> set[str]:
        response = self.http.get("/v1/models")
        response.raise_for_status()
        return {m["id"] for m in response.json().get("data", []) if m.get("parent")}

    def load_adapter(self, name: str, path: str) -> None:
        # Loading reads the adapter from disk and may compile kernels: allow it time.
        response = self._post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": path}, 300.0)
        if response.status_code != 200:
            raise EngineRequestError(_message(response))

    def unload_adapter(self, name: str) -> None:
        response = self._post("/v1/unload_lora_adapter", {"lora_name": name}, 60.0)
        if response.status_code not in (200, 404):  # 404: already gone, which is what we wanted
            raise EngineRequestError(_message(response))

    def _post(self, path: str, body: dict, timeout: float) -> httpx.Response:
        try:
            return self.http.post(path, json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            raise EngineRequestError(f"the engine did not answer: {exc}") from exc


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        return error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
