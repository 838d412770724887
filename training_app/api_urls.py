from rest_framework.routers import SimpleRouter

from training_app.api.views import BaseModelViewSet, TrainingJobViewSet

router = SimpleRouter()
router.register("base-models", BaseModelViewSet, basename="basemodel")
router.register("jobs", TrainingJobViewSet, basename="job")
urlpatterns = router.urls
