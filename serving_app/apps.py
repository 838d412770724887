from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "serving_app"
    label = "serving"
    verbose_name = "Serving"

    def ready(self) -> None:
        from serving_app import checks  # noqa: F401 - registers the settings checks
