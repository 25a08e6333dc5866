from django.urls import path

from apps.inventory import api

app_name = "inventory-api"

urlpatterns = [
    path("systems/", api.SystemListApi.as_view(), name="list"),
    path("systems/<slug:slug>/", api.SystemDetailApi.as_view(), name="detail"),
]
