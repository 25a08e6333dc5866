from django.urls import path

from apps.ingest import views

app_name = "ingest"

urlpatterns = [
    path("sources/", views.source_list_page, name="source_list"),
    path("sources/new/", views.source_create_page, name="source_create"),
    path("sources/<int:pk>/", views.source_detail, name="source_detail"),
    path("sources/<int:pk>/rotate/", views.source_rotate_page, name="source_rotate"),
    path("sources/<int:pk>/enabled/", views.source_toggle, name="source_toggle"),
    path("sources/<int:pk>/allowances/", views.source_allowance_page, name="source_allowance"),
    path("receipts/", views.receipt_list_page, name="receipt_list"),
    path("receipts/<int:pk>/", views.receipt_detail, name="receipt_detail"),
    path("receipts/<int:pk>/reparse/", views.receipt_reparse_page, name="receipt_reparse"),
    # An evidence's raw body: evidence pages link here (the blob store is intake's).
    path("evidence/<int:pk>/raw", views.evidence_raw, name="evidence_raw"),
]
