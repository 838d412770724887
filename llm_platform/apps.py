from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "llm_platform"
    verbose_name = "Platform"
