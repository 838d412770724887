"""API keys carry scopes. Existing keys keep everything their role allows: read, write and inference for
read-and-write keys, read for read-only keys."""

from django.db import migrations, models


def scopes_of_existing_keys(apps, schema_editor):
    ApiKey = apps.get_model("llm_platform", "ApiKey")
    ApiKey.objects.filter(role="viewer").update(scopes="read")


class Migration(migrations.Migration):
    dependencies = [
        ("llm_platform", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.CharField(
                default="read,write,inference",
                help_text="Comma-separated: read, write, inference; chosen at creation, within what the role allows.",
                max_length=50,
            ),
        ),
        migrations.RunPython(scopes_of_existing_keys, migrations.RunPython.noop),
    ]
