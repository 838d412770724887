"""Operators apart from members: `make up`'s accounts, and the admin refusing a base model that cannot work."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from training_app.models import BaseModel

pytestmark = pytest.mark.django_db


def test_bootstrap_demo_prints_an_operator_login_and_the_demo_owner_is_no_operator(client):
    out = StringIO()
    call_command("bootstrap_demo", stdout=out)
    users = get_user_model().objects
    demo, operator = users.get(username="demo"), users.get(username="operator")
    assert not demo.is_staff and not demo.is_superuser
    assert operator.is_staff and operator.is_superuser
    line = [ln for ln in out.getvalue().splitlines() if ln.startswith("Operator login for /admin/:")][0]
    assert "tiny test model" in out.getvalue()
    username, password = line.split("/admin/:", 1)[1].strip().split(" / ")
    assert client.login(username=username, password=password)
    assert client.get("/admin/").status_code == 200
    client.logout()
    demo_password = (out.getvalue().split("Demo login: demo / ", 1)[1]).split()[0]
    assert client.login(username="demo", password=demo_password)
    assert client.get("/admin/").status_code == 302  # to the admin's own login: not an operator


def test_admin_refuses_a_base_model_outside_the_model_roots(client, alice, tiny_model, tmp_path):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    form = {
        "name": "outside",
        "path": str(tmp_path),
        "chat_template_source": "tokenizer",
        "enabled_for_all": "on",
    }
    response = client.post("/admin/training/basemodel/add/", form)
    assert response.status_code == 200
    assert "is outside the model roots" in response.content.decode()
    assert not BaseModel.objects.filter(name="outside").exists()

    response = client.post(
        "/admin/training/basemodel/add/", {**form, "name": "tiny-again", "path": tiny_model.path}
    )
    assert response.status_code == 302
    assert BaseModel.objects.get(name="tiny-again").is_valid
