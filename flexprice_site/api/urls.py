from django.urls import path

from flexprice_site.api.views import ApiKeyListView

urlpatterns = [
    path("secrets/api/keys", ApiKeyListView.as_view(), name="api-key-list"),
]
