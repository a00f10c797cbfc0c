"""Name -> builder registries, with keyword validation taken from the builder's signature.

Cross-cutting by design: the model, dataset and task registries of every family share this
class, and the config validates user options against it before anything is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import pydantic

from inkbench.errors import InkbenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Builders registered under unique names (timm-style), e.g. ``MODELS.build("crnn", ...)``.

    Every entry records its family (``ocr``, ``cls``, ``det``), so listings and benchmarks
    can select one family's models, datasets or tasks. Builders declare their options as
    typed keyword arguments; ``validate`` checks a config's options against that signature
    so a typo fails at load time, not mid-run.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}
        self._families: dict[str, str] = {}

    def register(self, name: str, family: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorate(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._builders[name] = builder
            self._families[name] = family
            return builder

        return decorate

    def names(self, family: str | None = None) -> list[str]:
        """Registered names, of one family if given."""
        return sorted(n for n in self._builders if family in (None, self._families[n]))

    def family(self, name: str) -> str:
        self.get(name)
        return self._families[name]

    def families(self) -> list[str]:
        return sorted(set(self._families.values()))

    def get(self, name: str, key: str | None = None, family: str | None = None) -> Callable[..., T]:
        """The builder of ``name``; an unknown name lists the choices (of ``family`` if given)."""
        if name not in self._builders:
            where = f"{key}: " if key else ""
            choices = ", ".join(self.names(family))
            raise InkbenchError(f"{where}unknown {self.kind} {name!r}; choose one of: {choices}")
        return self._builders[name]

    def build(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def validate(
        self,
        name: str,
        options: Mapping[str, Any],
        prefix: str,
        provided: Iterable[str] = (),
        family: str | None = None,
    ) -> dict[str, Any]:
        """Type-check ``options`` against the builder's keyword arguments.

        Args:
            name: registered name.
            options: the user's options for it.
            prefix: dotted config path used in error messages (``model``).
            provided: arguments the caller passes itself; the user may not set them.
            family: the family an unknown name's error lists the choices of.

        Returns:
            The options coerced to the declared types.
        """
        builder = self.get(name, f"{prefix}.name", family)
        params = {
            p.name: p
            for p in inspect.signature(builder).parameters.values()
            if p.name not in set(provided) and p.kind is not inspect.Parameter.VAR_KEYWORD
        }
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise InkbenchError(
                f"{prefix}.{unknown[0]}: unknown option for {self.kind} {name!r}; "
                f"valid options: {', '.join(sorted(params)) or '(none)'}"
            )
        hints = inspect.get_annotations(builder, eval_str=True)
        fields: dict[str, Any] = {}
        for pname, param in params.items():
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (hints.get(pname, Any), default)
        schema = pydantic.create_model(  # type: ignore[call-overload]
            f"{name}_options", __config__=pydantic.ConfigDict(strict=False), **fields
        )
        try:
            parsed = schema(**options)
        except pydantic.ValidationError as exc:
            raise InkbenchError(format_validation_error(exc, prefix)) from None
        return {k: getattr(parsed, k) for k in options}


def format_validation_error(exc: pydantic.ValidationError, prefix: str = "") -> str:
    """One line naming the dotted key, what was expected and what was given."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    key = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in err and err["type"] != "missing":
        msg = f"{msg}, got {err['input']!r}"
    return f"{key}: {msg}"
