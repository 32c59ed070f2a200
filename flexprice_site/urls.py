"""Site URLs: the admin, the /v1 API, its OpenAPI schema and docs, and the health check."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from flexprice_site import views
from flexprice_site.errors import api_not_found

handler400 = "flexprice_site.errors.handler400"
handler403 = "flexprice_site.errors.handler403"
handler404 = "flexprice_site.errors.handler404"
handler500 = "flexprice_site.errors.handler500"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path(
        "v1/openapi.json",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        {"format": "json"},
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    path(
        "docs/redoc/",
        SpectacularRedocView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="redoc",
    ),
    path("v1/", include("flexprice_site.api.urls")),
    # Before the catalogue's: its `costs/<id>` would otherwise take `costs/analytics-v2`.
    path("v1/", include("analytics.api.urls")),
    path("v1/", include("costsheets.api.urls")),
    # Must stay last: unknown /v1/ routes answer 404 in the API's error body, whatever the method.
    re_path(r"^v1/", api_not_found),
]
