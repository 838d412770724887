from django.urls import path

from serving_app import bisheng

urlpatterns = [
    path("job/publish", bisheng.PublishView.as_view(), name="bisheng-job-publish"),
    path("job/publish/cancel", bisheng.PublishCancelView.as_view(), name="bisheng-job-publish-cancel"),
]
