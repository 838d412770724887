from django.urls import path

from serving_app import playground, views

app_name = "serving"
urlpatterns = [
    path("", views.deployment_list, name="list"),
    path("new/", views.deployment_new, name="new"),
    path("<int:pk>/", views.deployment_detail, name="detail"),
    path("<int:pk>/status/", views.deployment_status, name="status"),
    path("<int:pk>/unpublish/", views.deployment_unpublish, name="unpublish"),
    path("<int:pk>/playground/", views.playground, name="playground"),
    path("<int:pk>/playground/chat/", playground.playground_chat, name="playground-chat"),
]
