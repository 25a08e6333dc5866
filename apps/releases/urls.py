from django.urls import path

from apps.releases import views

app_name = "releases"

urlpatterns = [
    path("", views.signoff_list, name="list"),
    path("classify/", views.signoff_classify_new, name="classify_new"),
    path("<int:pk>/", views.signoff_detail, name="detail"),
    path("<int:pk>/decide/", views.signoff_decide, name="decide"),
    path("<int:pk>/classify/", views.signoff_classify, name="classify"),
]
