"""Numbered pages ("Page 2 of 7") that count only when they must: Django's Paginator, minus the COUNT(*).

A detail page's short lists (a model's versions, an object's history) usually fit on their first page. Reading
one row more than a page tells whether they do: then the rows read are the count, and no COUNT(*) runs. A count the
caller already holds (kept on a row by the services, like a model's version_count) is used as it is.

    page = paging.get_page(queryset, per_page=25, number=request.GET.get("page"))
    page = paging.get_page(model.versions.all(), per_page=20, number=..., count=model.version_count)

The page is Django's Page, so templates and partials/pagination.html read it as before.
"""

from django.core.paginator import Page, Paginator
from django.utils.functional import cached_property


class CountedPaginator(Paginator):
    """A Paginator whose count is given (or, left None, counted by the database as usual)."""

    def __init__(self, object_list, per_page, *, count: int | None = None):
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.object_list.count() if self.known_count is None else self.known_count

    def page(self, number) -> Page:
        """Page `number`, read as a full page whatever the given count says: a count that fell behind the rows (one
        made outside the services that keep it) is then counted by the database, so no row is ever hidden."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page])
        if self.known_count is not None and bottom + len(rows) > self.known_count:
            self.known_count = None
            self.__dict__.pop("count", None)
            self.__dict__.pop("num_pages", None)
        return self._get_page(rows, number, self)


def _number(number) -> int:
    """The page number Paginator.get_page() starts from: what is not a number asks for page 1."""
    try:
        return int(number)
    except (TypeError, ValueError):
        return 1


def get_page(queryset, *, per_page: int, number=None, count: int | None = None) -> Page:
    """Page `number` of `queryset` as Paginator.get_page() gives it, in as many queries or fewer: `count`, when the
    caller knows it, saves the COUNT(*); so does a first page that holds every row (read with one row more than a
    page). A number past either end shows the last page, as Paginator.get_page() does."""
    paginator = CountedPaginator(queryset, per_page, count=count)
    if count is not None or _number(number) > 1:
        return paginator.get_page(number)
    rows = list(queryset[: per_page + 1])
    if len(rows) <= per_page:  # every row: page 1 is also the last page, whatever was asked
        paginator.known_count = len(rows)
        return Page(rows, 1, paginator)
    if _number(number) == 1:
        return Page(rows[:per_page], 1, paginator)  # counted when the page shows its number of pages
    return paginator.get_page(number)  # 0 or less: the last page
