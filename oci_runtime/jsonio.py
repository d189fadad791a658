"""JSON for the short commands, straight from CPython's C accelerator (_json).

`import json` costs ~6 ms: json.decoder imports re, and re imports enum. `state`, `start`,
`kill`, `delete` and `list` answer in a few ms otherwise, so they read and write JSON through
_json's scanner and encoder directly, with the json package's semantics (strict strings, no
NaN/Infinity out, the same separators). Errors are ValueError, as json.JSONDecodeError is.
"""
import _json

_WHITESPACE = " \t\n\r"


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


class _DecoderSettings:
    """The attributes _json.make_scanner reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_reject_constant)


_scan = _json.make_scanner(_DecoderSettings())


def loads(data: str | bytes) -> object:
    """One JSON document (UTF-8 if bytes), surrounded by nothing but whitespace."""
    text = data.decode() if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as e:
        raise ValueError(f"invalid JSON at character {e.value}") from None
    except SystemError:  # _json raises syntax errors as json.decoder.JSONDecodeError, found only once imported
        import json.decoder  # noqa: F401 (now in sys.modules: the scanner raises it, a ValueError)

        value, end = _scan(text, start)
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"invalid JSON: extra data at character {end}")
    return value


def string(text: str) -> str:
    """A JSON string literal, non-ASCII kept as is (json.dumps(text, ensure_ascii=False))."""
    return _json.encode_basestring(text)


def _not_serializable(obj: object) -> object:
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _encoder(item_separator: str, key_separator: str, ensure_ascii: bool):
    quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    return _json.make_encoder({}, _not_serializable, quote, None, key_separator, item_separator, False, False, False)


# (compact, ensure_ascii) -> encoder; not compact: json.dumps' default separators
_ENCODERS = {(compact, ascii_only): _encoder(*((",", ":") if compact else (", ", ": ")), ascii_only)
             for compact in (True, False) for ascii_only in (True, False)}
_COMPACT = _ENCODERS[True, True]


def dumps(obj: object, indent: str | None = None, compact: bool = True, ensure_ascii: bool = True) -> str:
    """json.dumps(obj) with separators (",", ":") (compact) or json's defaults, or with `indent`
    (one level per nesting, ", "/": " as json.dumps(indent=...) writes them)."""
    if indent is not None:
        return _indented(obj, indent, "\n")
    return "".join(_ENCODERS[compact, ensure_ascii](obj, 0))


def _indented(obj: object, indent: str, newline: str) -> str:
    if isinstance(obj, dict) and obj:
        inner = newline + indent
        items = (f"{_json.encode_basestring_ascii(str(k))}: {_indented(v, indent, inner)}" for k, v in obj.items())
        return "{" + inner + ("," + inner).join(items) + newline + "}"
    if isinstance(obj, list | tuple) and obj:
        inner = newline + indent
        return "[" + inner + ("," + inner).join(_indented(v, indent, inner) for v in obj) + newline + "]"
    return "".join(_COMPACT(obj, 0))
