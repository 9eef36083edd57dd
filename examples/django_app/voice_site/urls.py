"""Routes: ``POST /realtime/credential`` and ``POST /ask``."""

from django.urls import path

from . import views

urlpatterns = [
    path("realtime/credential", views.credential, name="credential"),
    path("ask", views.ask, name="ask"),
]
