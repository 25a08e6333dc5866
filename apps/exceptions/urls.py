from django.urls import path

from apps.approvals import views as approvals_views
from apps.exceptions import views

app_name = "exceptions"

urlpatterns = [
    path("", views.exception_list, name="list"),
    path("new/", views.exception_new, name="new"),
    path("inbox/", views.exception_inbox, name="inbox"),
    # The engine's page (approvals:reauth) under its old address, for links and bookmarks made before.
    path("reauthenticate/", approvals_views.reauthenticate, name="reauth"),
    path("<int:pk>/", views.exception_detail, name="detail"),
    path("<int:pk>/edit/", views.exception_edit, name="edit"),
    path("<int:pk>/submit/", views.exception_submit_view, name="submit"),
    path("<int:pk>/decide/", views.exception_decide, name="decide"),
    path("<int:pk>/revoke/", views.exception_revoke_view, name="revoke"),
    path("<int:pk>/renew/", views.exception_renew_view, name="renew"),
]
