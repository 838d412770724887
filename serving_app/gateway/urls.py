from django.urls import path

from serving_app.gateway import views

urlpatterns = [
    path("models", views.models, name="gateway-models"),
    path("models/<path:name>", views.model_detail, name="gateway-model"),
    path("chat/completions", views.chat_completions, name="gateway-chat"),
    path("completions", views.completions, name="gateway-completions"),
]
