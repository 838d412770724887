"""Page-number pagination whose ``page`` and ``page_size`` go through the one input guard.

DRF would turn an unreadable ``page_size`` into the default without a word, and ``page=²`` into a 404;
here both are a 400 that names the parameter. A page past the last one stays DRF's 404 ("Invalid page").
"""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

from llm_platform.input_guard import MAX_PAGE, whole_number


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        return whole_number(raw, self.page_size_query_param, minimum=1, maximum=self.max_page_size)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw in (None, ""):
            return 1
        if raw in self.last_page_strings:
            return paginator.num_pages
        return whole_number(raw, self.page_query_param, minimum=1, maximum=MAX_PAGE)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.page_query_param: MAX_PAGE, self.page_size_query_param: self.max_page_size}
        for parameter in parameters:
            parameter["schema"].update(minimum=1, maximum=bounds[parameter["name"]])
        return parameters
