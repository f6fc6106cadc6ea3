"""Lookups compiled to SQL once, for the few that every registry or engine request makes.

Django compiles a queryset into SQL each time it runs, and works out again how to turn each
column into a field's value. For a one-row lookup that work is nearly all the cost: about
0.5 ms, and 1.5 ms after an idle moment as between a client's requests, where SQLite answers
in 0.03 ms. A PreparedLookup does both on first use; from then on it runs that SQL with each
call's values and makes the model's objects from the rows with the converters it kept.
Only the model's own fields are read: related rows are looked up on their own.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, models

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Compiled:
    model: type[models.Model]
    db: str
    sql: str
    slots: list
    # The model's fields, in the order the SQL selects their columns.
    names: list[str]
    # (column position, converters, expression), as Django's compiler applies them.
    converters: list[tuple[int, list[Callable], Any]]


class PreparedLookup(Generic[M]):
    """The rows of `build(**values)`; `build` must return a queryset of one model.

    `samples` holds a value of the right type for each argument, distinct from every other
    value in the query: compiling with them shows where each argument goes in the SQL (an
    argument may go to several places).
    """

    def __init__(self, build: Callable[..., models.QuerySet[M]], **samples: object) -> None:
        self._build = build
        self._samples = samples
        # By whether the SQL asks for one row (`first`) or for all of them (`all`).
        self._compiled: dict[bool, _Compiled] = {}
        self._compiling = threading.Lock()

    def first(self, **values: object) -> M | None:
        return next(iter(self._run(True, values)), None)

    def all(self, **values: object) -> list[M]:
        return self._run(False, values)

    def _run(self, one: bool, values: dict[str, object]) -> list[M]:
        compiled = self._compile(one)
        params = [values[s.name] if isinstance(s, _Slot) else s for s in compiled.slots]
        connection = connections[compiled.db]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        found = []
        for row in rows:
            fields = list(row)
            for position, converters, expression in compiled.converters:
                for convert in converters:
                    fields[position] = convert(fields[position], expression, connection)
            found.append(compiled.model.from_db(compiled.db, compiled.names, fields))
        return found

    def _compile(self, one: bool) -> _Compiled:
        with self._compiling:
            if one not in self._compiled:
                self._compiled[one] = self._compile_now(one)
            return self._compiled[one]

    def _compile_now(self, one: bool) -> _Compiled:
        queryset = self._build(**self._samples)
        if one:
            queryset = queryset[:1]
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        slots = [self._slot_of(param) for param in params]
        placed = {slot.name for slot in slots if isinstance(slot, _Slot)}
        if placed != set(self._samples):
            raise ValueError(f"every sample must reach the SQL: {sorted(placed)}")
        if compiler.klass_info is None or compiler.klass_info.get("related_klass_infos"):
            raise ValueError("a prepared lookup reads the rows of one model, nothing joined in")
        columns = [column for column, _, _ in compiler.select]
        names = [column.target.attname for column in columns]
        if names != [f.attname for f in queryset.model._meta.concrete_fields]:
            raise ValueError("a prepared lookup reads every field of its model")
        # Found on this thread's connection, kept for every thread's: a converter is given the
        # connection it runs on, and what it reads of the one it was found on (the database's
        # time zone) comes from settings, the same for all.
        converters = [
            (position, converters, expression)
            for position, (converters, expression) in compiler.get_converters(columns).items()
        ]
        return _Compiled(queryset.model, queryset.db, sql, slots, names, converters)

    def _slot_of(self, param: object) -> object:
        for name, sample in self._samples.items():
            if type(param) is type(sample) and param == sample:
                return _Slot(name)
        return param


@dataclass(frozen=True)
class _Slot:
    """Where an argument's value goes among the compiled query's parameters."""

    name: str
