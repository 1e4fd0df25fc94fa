"""URLs of the case pages and the case API."""

from django.urls import path

from cases import api, views

app_name = "cases"

urlpatterns = [
    path("cases/", views.case_list, name="list"),
    path("cases/new/", views.case_new, name="new"),
    path("cases/places/", views.places, name="places"),
    path("cases/notifications/", views.notifications, name="notifications"),
    path("cases/m/", views.mobile, name="mobile"),
    path("cases/m/<int:pk>/", views.mobile_case, name="mobile-case"),
    path("cases/<int:pk>/", views.case_detail, name="detail"),
    path("cases/<int:pk>/act/<str:action>/", views.case_action, name="action"),
    path("cases/<int:pk>/note/", views.case_note, name="note"),
    path("cases/<int:pk>/difficult/", views.case_flag_difficult, name="difficult"),
    path("cases/<int:pk>/consult/", views.case_consult, name="consult"),
    path("cases/consultations/<int:pk>/opinion/", views.consultation_opinion, name="opinion"),
    path("cases/attachments/<int:pk>/", views.attachment_file, name="attachment"),
    path("cases/letters/<int:pk>.pdf", views.letter_pdf, name="letter"),
    path("api/v1/categories/", api.CategoryList.as_view(), name="api-categories"),
    path("api/v1/cases/", api.CaseListCreate.as_view(), name="api-cases"),
    path("api/v1/cases/duplicates/", api.DuplicateList.as_view(), name="api-duplicates"),
    path("api/v1/cases/<int:pk>/", api.CaseDetail.as_view(), name="api-case"),
    path("api/v1/cases/<int:pk>/<str:action>/", api.CaseAction.as_view(), name="api-case-action"),
]
