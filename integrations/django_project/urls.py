from __future__ import annotations

from django.urls import path

from integrations.django_project import views

urlpatterns = [
    path("", views.home),
    path("orders/<int:pk>/", views.order),
    path("orders/<int:pk>/fail", views.pay_order),
    path("reports/<slug:name>/fail", views.build_report),
    path("admin-only/", views.admin_only),
]
