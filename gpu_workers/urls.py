from django.urls import path

from gpu_workers import views

app_name = "gpus"
urlpatterns = [path("", views.device_list, name="list")]
