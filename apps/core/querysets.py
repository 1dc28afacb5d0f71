"""The `restrict()` queryset base, and the gate through which accounts.permissions answers its first question.

Core sits above every app and imports none of them, yet who reads nothing (anonymous, deactivated) and who
reads everything (superusers) are permission rules, and permission rules live in apps/accounts/permissions.py.
A lazy `import apps.accounts` here would hide an upward dependency inside a function; instead accounts installs
its answer with `set_gate()` from AccountsConfig.ready(), so the dependency points the way DESIGN.md says and is
visible in one place. Until a gate is installed, `restrict()` reads nothing: a process that somehow skipped
accounts' ready() fails closed, never open. Other questions an app below accounts must ask (audit: whose trail may
this user read?) are answered the same way, by rules accounts installs with `set_rule()`.
"""

from collections.abc import Callable

from django.db import models

# What a gate answers for (user, action): the whole table, nothing, or the rows the model's restrict_for() grants.
NOTHING, EVERYTHING, SCOPED = "nothing", "everything", "scoped"

_gate: Callable[[object, str], str] | None = None


def set_gate(gate: Callable[[object, str], str] | None) -> None:
    """Install the function that answers NOTHING, EVERYTHING or SCOPED for (user, action); None uninstalls it."""
    global _gate
    _gate = gate


# Questions an app below accounts must ask about a user (e.g. audit: whose trail may this user read?), answered by
# functions accounts installs with set_rule() from AccountsConfig.ready(). An unanswered question has no rule, and
# the caller must then fail closed.
_rules: dict[str, Callable] = {}


def set_rule(name: str, rule: Callable | None) -> None:
    """Install the function that answers the permission question `name`; None uninstalls it."""
    if rule is None:
        _rules.pop(name, None)
    else:
        _rules[name] = rule


def rule(name: str) -> Callable | None:
    """The function installed for `name`, or None: the caller then reads nothing."""
    return _rules.get(name)


class RestrictedQuerySet(models.QuerySet):
    """Base for every governed model's queryset: `restrict(user, action)` is the only way reads are scoped.

    Deny by default: the gate (accounts.permissions.read_scope) says who reads nothing and who reads everything;
    for everyone else the model's `restrict_for()` grants rows.
    """

    def restrict(self, user, action: str = "view"):
        answer = _gate(user, action) if _gate is not None else NOTHING
        if answer == EVERYTHING:
            return self
        if answer == SCOPED:
            return self.restrict_for(user, action)
        return self.none()

    def restrict_for(self, user, action: str):
        return self.none()


def in_subquery_sql(column: str, subquery: str, vendor: str) -> str:
    """`column IN (subquery)` as SQL; on PostgreSQL `column = ANY(ARRAY(subquery))`, which the planner reads as a
    list of values once the subquery ran, so it can look each one up in the column's index. `IN (subquery)` is a
    hashed subplan that PostgreSQL can only probe row by row: ORed into a restricted list, it made a user who sees a
    handful of 1M requests wait for a scan of all of them (300 ms for the page, 140 ms for its count; 0.03 ms each
    with ANY)."""
    return f"{column} = ANY(ARRAY({subquery}))" if vendor == "postgresql" else f"{column} IN ({subquery})"


def in_list_sql(values) -> tuple[str, list]:
    """(`IN (%s, …)`, values) for SQL written by hand: a placeholder per value, so every value is a parameter. An
    empty list gives `IN (NULL)`, which matches nothing (`IN ()` is not SQL)."""
    values = list(values)
    return ("IN (" + ", ".join(["%s"] * len(values)) + ")", values) if values else ("IN (NULL)", [])


class InSubquery(models.Expression):
    """`path IN (queryset)` as a condition for filter() and Q(), written as in_subquery_sql() writes it."""

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, path: str, queryset):
        super().__init__(output_field=models.BooleanField())
        self.column, self.subquery = models.F(path), models.Subquery(queryset)

    def get_source_expressions(self):
        return [self.column, self.subquery]

    def set_source_expressions(self, exprs):
        self.column, self.subquery = exprs

    def as_sql(self, compiler, connection):
        column, column_params = compiler.compile(self.column)
        subquery, subquery_params = compiler.compile(self.subquery)  # "(SELECT …)"
        return in_subquery_sql(column, subquery[1:-1], connection.vendor), [*column_params, *subquery_params]
