"""Commands declared in one line, in the syntax of Redis's own documentation.

    xlen = cmd("XLEN name", int)
    memory_usage = cmd("MEMORY USAGE key [SAMPLES samples]", int_or_none)
    bgsave = cmd("BGSAVE [SCHEDULE:schedule=True]", lambda r: True)

makes a method whose parameters are the lower-case words, in order, with redis-py's
names (which the spec spells). A spec is a list of tokens:

    WORD          a literal, always sent
    name          a required argument (``name=value``: with that default)
    *names        the remaining positional arguments
    [name]        an optional argument (default None), sent when not None
    [WORD name]   the literal and the argument, when the argument is not None
    [WORD:name]   the literal when the boolean argument is true (default False;
                  ``name=True`` makes it True)

Every declared method also takes ``target_nodes=`` (where a cluster sends it: see
rcm.Client.execute_command) and ``cache=False`` (past the client-side cache, for a read
named in cache.commands), and ignores other keywords, as redis-py's methods do with
their ``**kwargs``. A ``blocking=`` key index makes the method wait on a lease (a blocking
command) through ``_run_blocking``.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable, List, Optional, Tuple

__all__ = ["cmd", "named"]

_TOKEN = re.compile(r"\[[^\]]+\]|\S+")
_EMPTY = inspect.Parameter.empty


class _Part:
    __slots__ = ("kind", "name", "word")

    def __init__(self, kind: str, name: Optional[str], word: Optional[bytes]) -> None:
        self.kind, self.name, self.word = kind, name, word


def _literal(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def _parse(spec: str) -> Tuple[List[_Part], List[inspect.Parameter]]:
    parts: List[_Part] = []
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD

    def param(name: str, default: Any = _EMPTY) -> None:
        params.append(inspect.Parameter(name, positional, default=default))

    for tok in _TOKEN.findall(spec):
        if tok.startswith("["):
            inner = tok[1:-1].split()
            if len(inner) == 1 and ":" in inner[0]:           # [WORD:flag(=True)]
                word, _, name = inner[0].partition(":")
                name, eq, default = name.partition("=")
                parts.append(_Part("flag", name, word.encode()))
                param(name, default == "True" if eq else False)
            elif len(inner) == 1:                             # [name]
                parts.append(_Part("opt", inner[0], None))
                param(inner[0], None)
            else:                                             # [WORD name]
                parts.append(_Part("kw", inner[1], inner[0].encode()))
                param(inner[1], None)
        elif tok.startswith("*"):
            parts.append(_Part("var", tok[1:], None))
            params.append(inspect.Parameter(tok[1:], inspect.Parameter.VAR_POSITIONAL))
            positional = inspect.Parameter.KEYWORD_ONLY
        elif tok.isupper() or not tok[0].isalpha():
            parts.append(_Part("lit", None, tok.encode()))
        else:                                                 # name or name=default
            name, eq, default = tok.partition("=")
            parts.append(_Part("arg", name, None))
            param(name, _literal(default) if eq else _EMPTY)
    params.append(inspect.Parameter("target_nodes", inspect.Parameter.KEYWORD_ONLY, default=None))
    params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    return parts, params


def cmd(spec: str, post: Optional[Callable[[Any], Any]] = None, *, blocking: Optional[int] = None,
        doc: Optional[str] = None) -> Callable[..., Any]:
    """A command method from its spec (see the module's docstring); post converts the
    raw reply (None: as it is). blocking: the index, in the command's arguments, of the
    key that picks a lease's node (the command blocks its connection)."""
    parts, params = _parse(spec)
    sig = inspect.Signature(params)
    # Positional calls (the usual ones) skip Signature.bind, which costs microseconds.
    positional = [p.name for p in params[1:] if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    var = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
    required = sum(1 for p in params[1:] if p.default is _EMPTY and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
    defaults = {p.name: p.default for p in params[1:] if p.default is not _EMPTY}

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and required <= len(args) and (var is not None or len(args) <= len(positional)):
            values = dict(defaults)
            values.update(zip(positional, args))
            if var is not None:
                values[var] = args[len(positional):]
        else:
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
        out: List[Any] = []
        for p in parts:
            if p.kind == "lit":
                out.append(p.word)
            elif p.kind == "arg":
                out.append(values[p.name])
            elif p.kind == "var":
                out.extend(values.get(p.name, ()))
            else:
                v = values.get(p.name)
                if p.kind == "flag":
                    if v:
                        out.append(p.word)
                elif v is not None:
                    if p.kind == "kw":
                        out.append(p.word)
                    out.append(v)
        if blocking is not None:
            return self._run_blocking(post, out[blocking] if len(out) > blocking else None, *out)
        if kwargs and kwargs.get("cache", True) is False and values.get("target_nodes") is None:
            return self._run_uncached(post, *out)  # past the client-side cache
        return self._run_routed(post, values.get("target_nodes"), *out)

    method.__signature__ = sig  # type: ignore[attr-defined]
    method._rcm_declared = True  # type: ignore[attr-defined]
    method.__doc__ = doc or f"{spec} (redis-py's signature; the reply as redis-py returns it)."
    return method


def named(cls: type) -> type:
    """Class decorator: the methods cmd() made take their attribute's name (for help(),
    tracebacks and the tests that list a class's commands)."""
    for name, f in vars(cls).items():
        if getattr(f, "_rcm_declared", False):
            f.__name__ = name
            f.__qualname__ = f"{cls.__name__}.{name}"
    return cls
