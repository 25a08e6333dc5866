from django.urls import path

from apps.ledger import views

app_name = "ledger"

urlpatterns = [
    path("", views.entry_list, name="list"),
    path("<int:index>/", views.entry_detail, name="detail"),
]
