"""Routes of the catalogue API under /v1/, with Flexprice's paths (no trailing slashes)."""

from django.urls import path

from costsheets.api import catalogues, prices, search, subscriptions, views

urlpatterns = [
    path("customers", views.CustomerListView.as_view(), name="customer-list"),
    path(
        "customers/external/<str:external_id>",
        views.CustomerByExternalIdView.as_view(),
        name="customer-by-external-id",
    ),
    path("customers/<str:id>", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("meters", views.MeterListView.as_view(), name="meter-list"),
    path("meters/<str:id>", views.MeterDetailView.as_view(), name="meter-detail"),
    path("features", views.FeatureListView.as_view(), name="feature-list"),
    path("features/<str:id>", views.FeatureDetailView.as_view(), name="feature-detail"),
    path("prices", prices.PriceListView.as_view(), name="price-list"),
    path("prices/<str:id>", prices.PriceDetailView.as_view(), name="price-detail"),
    path("costs", catalogues.CostsheetCreateView.as_view(), name="costsheet-create"),
    path("costs/active", catalogues.ActiveCostsheetView.as_view(), name="costsheet-active"),
    path("costs/search", search.CostsheetSearchView.as_view(), name="costsheet-search"),
    path("costs/<str:id>", catalogues.CostsheetDetailView.as_view(), name="costsheet-detail"),
    path("plans", catalogues.PlanListView.as_view(), name="plan-list"),
    path("plans/<str:id>", catalogues.PlanDetailView.as_view(), name="plan-detail"),
    path("subscriptions", subscriptions.SubscriptionListView.as_view(), name="subscription-list"),
    path(
        "subscriptions/lineitems/<str:id>",
        subscriptions.LineItemDetailView.as_view(),
        name="subscription-line-item-detail",
    ),
    path(
        "subscriptions/<str:id>",
        subscriptions.SubscriptionDetailView.as_view(),
        name="subscription-detail",
    ),
    path(
        "subscriptions/<str:id>/cancel",
        subscriptions.SubscriptionCancelView.as_view(),
        name="subscription-cancel",
    ),
]
