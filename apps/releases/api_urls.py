from django.urls import path

from apps.releases import api

app_name = "releases-api"

urlpatterns = [
    path("releases/signoffs", api.SignoffListApi.as_view(), name="list"),
    path("releases/signoffs/classify", api.SignoffClassifyApi.as_view(), name="classify"),
    path("releases/signoffs/<int:pk>", api.SignoffDetailApi.as_view(), name="detail"),
    path("releases/signoffs/<int:pk>/approve", api.SignoffApproveApi.as_view(), name="approve"),
    path("releases/signoffs/<int:pk>/reject", api.SignoffRejectApi.as_view(), name="reject"),
]
