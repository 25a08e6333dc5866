from django.urls import path

from apps.engagements import views, workspace_views

app_name = "engagements"

urlpatterns = [
    path("", views.engagement_list, name="list"),
    path("new/", views.engagement_create, name="create"),
    path("requests/", views.my_requests, name="my_requests"),
    path("<int:pk>/", views.engagement_detail, name="detail"),
    path("<int:pk>/end/", views.engagement_end, name="end"),
    path("<int:pk>/consistency.json", views.engagement_consistency, name="consistency"),
    path("<int:pk>/access/", views.engagement_access_log, name="access_log"),
    path("<int:pk>/requests/new/", views.request_create, name="request_create"),
    path("<int:pk>/requests/<int:request_pk>/", views.request_detail, name="request"),
    path("<int:pk>/requests/<int:request_pk>/answer/", views.request_answer, name="request_answer"),
    path("<int:pk>/requests/<int:request_pk>/accept/", views.request_accept, name="request_accept"),
    path("<int:pk>/requests/<int:request_pk>/reopen/", views.request_reopen, name="request_reopen"),
    path("<int:pk>/reviews/", views.review_export, name="reviews"),
    path("<int:pk>/reviews/<int:evidence_pk>/", views.review_mark, name="review"),
    path("<int:pk>/samples/", views.sample_create, name="sample_create"),
    path("<int:pk>/samples/<int:sample_pk>/", views.sample_detail, name="sample"),
    path("<int:pk>/samples/<int:sample_pk>/items/<int:item_pk>/", views.sample_item_test, name="sample_item"),
    path("<int:pk>/controls/<str:control>/", workspace_views.control_workspace, name="workspace"),
    path("<int:pk>/controls/<str:control>/flags/", workspace_views.flag_create, name="flag_create"),
    path("<int:pk>/flags/<int:flag_pk>/", workspace_views.flag_detail, name="flag"),
    path("<int:pk>/flags/<int:flag_pk>/answer/", workspace_views.flag_answer, name="flag_answer"),
    path("<int:pk>/flags/<int:flag_pk>/review/", workspace_views.flag_review, name="flag_review"),
    path("<int:pk>/workpaper.xlsx", workspace_views.workpaper, name="workpaper"),
]
