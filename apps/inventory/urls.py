from django.urls import path

from apps.inventory import views

app_name = "inventory"

urlpatterns = [
    path("", views.system_list, name="list"),
    path("new/", views.system_create, name="create"),
    path("<slug:slug>/", views.system_detail, name="detail"),
    path("<slug:slug>/edit/", views.system_edit, name="edit"),
]
