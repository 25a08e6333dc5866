from django.urls import path

from apps.inventory import views

app_name = "inventory"

# The system page ("inventory:detail", /systems/<slug>/) shows controls, so it is an output-layer page:
# apps.dashboard.views.system_detail, routed into this namespace by compliance_portal/urls.py.

urlpatterns = [
    path("", views.system_list, name="list"),
    path("new/", views.system_create, name="create"),
    path("<slug:slug>/edit/", views.system_edit, name="edit"),
]
