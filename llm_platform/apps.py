from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "llm_platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from llm_platform import signals  # noqa: F401 - connects the receivers
