from django.urls import path

from apps.approvals import views

app_name = "approvals"

urlpatterns = [
    path("reauthenticate/", views.reauthenticate, name="reauth"),
]
