"""Instructor's structured-output steps for one response model and mode, with what never changes done once.

instructor's patched `create` redoes everything on every call: it wraps the response model in a new class,
regenerates that class's JSON schema (about 5 ms for incident_v1), checks the model for async validators five
times, and compiles every message as a Jinja template. At 64 requests in flight that CPU, not the server, set
the pace (bench/throughput.py). `StructuredCall` takes the same steps with instructor's own pieces (the mode
registry's request handler, message converter, templating rules, response parser and re-ask handler), but:

- the response model is prepared once (instructor's ResponseSchema wrapper, whose compiled pydantic validator
  then checks every answer), and its JSON schema is generated once;
- in modes whose request arguments do not depend on the messages (json_schema, tools), those arguments are
  built once; json and md_json still run their handler per call (it edits the messages), on the cached schema;
- a message renders as instructor renders text without Jinja syntax (newlines normalised, one trailing newline
  dropped, dedented), computed directly instead of compiling a template; text WITH Jinja syntax is not
  rendered as a template (an article quoting `{{ x }}` would lose it): there, and only there, the body differs;
- the body goes out in the order `chat.completions.create` would give it, without the SDK's per-call walk of
  the body against its TypedDicts (about 1.3 ms here: the schema is most of the body);
- for a plain client (no SDK retries, custom auth, workload identity or provider runtime) the POST is the SDK's
  own request built by hand (`send`): the URL, headers and timeout the SDK computes, taken from it once per client,
  go through the SDK's own httpx client, with the SDK's exceptions; an ordinary JSON answer becomes a validated
  ChatCompletion, anything else goes through the SDK's response processing. The SDK's per-request options object,
  its deep copies of the body and its Python walk that constructs the completion cost about 1 ms a request;
- on the runner's own client (provider.PooledHttpClient) those bytes go out over aiohttp instead of httpx and
  httpcore (whose pool walked every connection twice a request: about 1 ms at 64 connections), byte for byte the
  request httpx would send (tests/test_structured_lean.py), where aiohttp can carry it as httpx would (no
  credentials in the URL, no proxy, no cookies); redirects and cookie-setting answers go on through httpx, errors
  are the SDK's, and pydantic validates the answer's bytes as a ChatCompletion directly;
- the schema's JSON is written once: a body is the SDK's encoder's output with that part taken as written.

The request body is byte for byte what instructor sends for text without Jinja syntax (tests/test_structured.py
compares every mode), and a failure raises what instructor's retry layer raises with max_retries=0:
IncompleteOutputException as is, and InstructorRetryException, from the cause, for everything else (a parse
failure carries its completion).
"""

from __future__ import annotations

import inspect
import re
import textwrap
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Any, Protocol, TypeGuard

import httpx2
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from instructor.v2.core.errors import FailedAttempt
from instructor.v2.core.messages import extract_messages
from instructor.v2.core.mode import Mode
from instructor.v2.core.providers import Provider
from instructor.v2.core.registry import mode_registry
from instructor.v2.core.response_model import prepare_response_model
from instructor.v2.core.retry import _RETRYABLE_PARSE_ERRORS, _initialize_usage
from instructor.v2.core.templating import handle_templating  # type: ignore[attr-defined]  # module is `# type: ignore[all]`
from instructor.v2.core.usage import update_total_usage
from openai._base_client import get_platform
from openai._httpx2 import normalize_httpx2_timeout, status_exceptions, timeout_exceptions
from openai._models import FinalRequestOptions, add_request_id
from openai._utils import asyncify
from openai._utils._json import _CustomEncoder
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

# Modes whose request handler adds arguments (response_format, tools) without touching the messages.
FIXED_ARGUMENT_MODES = frozenset({Mode.JSON_SCHEMA, Mode.TOOLS})
JINJA_MARKERS = ("{{", "{%", "{#")  # jinja2's default delimiters: text without them renders as itself
_NEWLINES = re.compile(r"(\r\n|\r|\n)")  # jinja2.lexer.newline_re
_NOT_BODY = {"self", "extra_headers", "extra_query", "extra_body", "timeout"}
# The body keys of chat.completions.create, in the order its generated code writes them (the body's byte order).
BODY_KEYS = tuple(name for name in inspect.signature(AsyncCompletions.create).parameters if name not in _NOT_BODY)
_BODY_KEY_SET = frozenset(BODY_KEYS)
CHAT_PATH = "/chat/completions"


@lru_cache(maxsize=256)
def _render_plain(text: str) -> str:
    """What instructor's apply_template makes of text without Jinja syntax: jinja splits the source on any newline
    sequence, drops one trailing empty line and joins with "\\n"; the single data token renders verbatim."""
    lines = _NEWLINES.split(text)[::2]
    if lines[-1] == "":
        del lines[-1]
    return textwrap.dedent("\n".join(lines))


def render_content(text: str) -> str:
    """A message's content as instructor's templating leaves text without Jinja syntax, for every text.

    instructor renders each message as a Jinja template whenever a validation context is passed: an article that
    quotes `{{ x }}` lost it silently and one with `{%` failed the document. Our prompts are rendered by our own
    templates already, and an article is data, so text with Jinja syntax is sent as written too."""
    return _render_plain(text)


class _SchemaView:
    """What the json and md_json request handlers read of a response model (its name and JSON schema), cached."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.__name__ = model.__name__
        self._schema = model.model_json_schema()

    def model_json_schema(self) -> dict[str, Any]:
        return self._schema


class StructuredCall:
    """One response model in one mode: the request template and the parser, built once per run."""

    def __init__(self, response_model: type[BaseModel], mode: Mode, provider: Provider = Provider.OPENAI) -> None:
        self.mode, self.provider = mode, provider
        self.handlers = mode_registry.get_handlers(provider, mode)
        model = prepare_response_model(response_model)  # also refuses async validators, once
        assert model is not None  # None only for a None response_model
        self.model: type[BaseModel] = model
        self._view = _SchemaView(self.model)
        self._fixed = self._fixed_arguments() if mode in FIXED_ARGUMENT_MODES else None
        for value in (self._fixed or {}).values():
            _encoded_once(value)  # the schema is most of every body: its JSON is written once

    def _fixed_arguments(self) -> dict[str, Any] | None:
        """The arguments the mode's handler adds, if they are the same whatever the messages and leave those as
        they are (checked on two message lists, since another provider's handler may differ); else None."""
        probe = [{"role": "user", "content": "probe"}]
        _, empty = self.handlers.request_handler(response_model=self.model, kwargs={"messages": []})
        _, probed = self.handlers.request_handler(response_model=self.model, kwargs={"messages": list(probe)})
        added = {key: value for key, value in empty.items() if key != "messages"}
        if empty.get("messages") != [] or probed.get("messages") != probe:
            return None
        return added if added == {key: value for key, value in probed.items() if key != "messages"} else None

    def request(self, messages: list[Any], sampling: dict[str, Any], context: dict[str, Any] | None) -> dict[str, Any]:
        """The create() arguments instructor would send: mode arguments, converted and templated messages."""
        kwargs: dict[str, Any] = {"messages": messages, **sampling}
        if self._fixed is not None:
            kwargs = {**kwargs, "messages": list(messages), **self._fixed}
        else:
            # The view stands in for the model class: the handlers read only its name and JSON schema.
            _, kwargs = self.handlers.request_handler(response_model=self._view, kwargs=kwargs)  # type: ignore[arg-type]
        kwargs.pop("autodetect_images", None)
        if self.handlers.message_converter and "messages" in kwargs:
            kwargs["messages"] = self.handlers.message_converter(kwargs["messages"], autodetect_images=False)
        return self._templated(kwargs, context)

    def _templated(self, kwargs: dict[str, Any], context: dict[str, Any] | None) -> dict[str, Any]:
        messages = kwargs.get("messages")
        if not context or not messages:
            return handle_templating(kwargs, mode=self.mode, provider=self.provider, context=context)
        if "message" in kwargs or not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            return handle_templating(kwargs, mode=self.mode, provider=self.provider, context=context)
        templated = [{**message, "content": render_content(message["content"])} for message in messages]
        return {**kwargs, "messages": templated}

    async def create(
        self,
        client: openai.AsyncOpenAI,
        messages: list[Any],
        sampling: dict[str, Any],
        context: dict[str, Any] | None = None,
        strict: bool = True,
    ) -> tuple[BaseModel, Any]:
        """One attempt, no validation retries: (the parsed model, the completion), or instructor's exceptions."""
        kwargs = self.request(messages, sampling, context)
        total_usage = _initialize_usage(self.provider)
        failed: list[FailedAttempt] = []
        try:
            response = await send(client, kwargs)
            update_total_usage(response=response, total_usage=total_usage)  # it also fills the answer's usage details
            try:
                parsed = self.handlers.response_parser(
                    response=response,
                    response_model=self.model,
                    validation_context=context,
                    strict=strict,
                    stream=False,
                    is_async=True,
                )
            except _RETRYABLE_PARSE_ERRORS as exc:
                failed.append(FailedAttempt(attempt_number=1, exception=exc, completion=response))
                kwargs = self.handlers.reask_handler(kwargs=kwargs, response=response, exception=exc)
                raise
        except IncompleteOutputException:
            raise
        except Exception as exc:  # as instructor: whatever ended the attempt (even the re-ask handler) is the cause
            raise InstructorRetryException(
                str(exc),
                last_completion=failed[-1].completion if failed else None,
                n_attempts=1,
                total_usage=total_usage,
                messages=extract_messages(kwargs),
                create_kwargs=kwargs,
                failed_attempts=failed,
            ) from exc
        return parsed, response


async def send(client: openai.AsyncOpenAI, kwargs: dict[str, Any]) -> Any:
    """POST the body as chat.completions.create would: same keys, same order, same URL, headers and exceptions."""
    if not _BODY_KEY_SET.issuperset(kwargs) or kwargs.get("stream"):
        return await client.chat.completions.create(**kwargs)  # anything unusual: the SDK's own path
    body = {key: kwargs[key] for key in BODY_KEYS if key in kwargs}
    if client._platform is None:  # what the SDK's request() does first: its headers name the platform
        client._platform = await asyncify(get_platform)()
    route = _route(client)
    if route is None:
        return await client.post(CHAT_PATH, body=body, cast_to=ChatCompletion)
    return await route.post(client, body)


class LeanPoster(Protocol):
    """What provider.PooledHttpClient adds to the SDK's httpx client: a POST of ready bytes over aiohttp."""

    def lean_origin(self, url: httpx2.URL) -> bool: ...

    async def post_bytes(
        self, url: str, headers: Sequence[tuple[str, str]], content: bytes, timeout: httpx2.Timeout
    ) -> Any: ...


def _is_lean(http: object) -> TypeGuard[LeanPoster]:
    """Whether the client has the aiohttp path (provider.PooledHttpClient's post_bytes and lean_origin)."""
    return bool(getattr(http, "post_bytes", None))


@dataclass(frozen=True)
class _Route:
    """What the SDK builds alike for every POST /chat/completions of one client, taken from the SDK once."""

    http: httpx2.AsyncClient
    url: str
    headers: tuple[tuple[str, str], ...]
    timeout: Any
    extensions: dict[str, Any] | None
    lean: LeanPoster | None = None  # the client's aiohttp path, where it carries this URL as httpx would
    wire_headers: tuple[tuple[str, str], ...] = ()  # what httpx puts on the wire, less Content-Length

    def request(self, content: bytes) -> httpx2.Request:
        """The httpx request the SDK would send with this body."""
        return self.http.build_request(
            "post", self.url, headers=list(self.headers), content=content, timeout=self.timeout,
            extensions=dict(self.extensions) if self.extensions else None,
        )  # fmt: skip

    async def post(self, client: openai.AsyncOpenAI, body: dict[str, Any]) -> Any:
        """One attempt as the SDK's request() makes it with max_retries=0: the same request through the same httpx
        client (or its aiohttp path), transport errors as APITimeoutError / APIConnectionError, HTTP errors as the
        SDK's."""
        content = body_bytes(body)
        if self.lean is not None and not self.http.cookies:
            return await self._post_lean(client, body, content)
        return await self._post_httpx(client, body, content)

    async def _post_httpx(self, client: openai.AsyncOpenAI, body: dict[str, Any], content: bytes) -> Any:
        request = self.request(content)
        try:
            response = await self.http.send(request, stream=False)
        except timeout_exceptions() as err:
            raise openai.APITimeoutError(request=request) from err
        except openai.OpenAIError:
            raise
        except Exception as err:
            raise openai.APIConnectionError(request=request) from err
        try:
            response.raise_for_status()
        except status_exceptions() as err:
            if not err.response.is_closed:
                await err.response.aread()
            raise client._make_status_error_from_response(err.response) from None
        return await _completion(client, response, body)

    async def _post_lean(self, client: openai.AsyncOpenAI, body: dict[str, Any], content: bytes) -> Any:
        """The same bytes through aiohttp; what it cannot finish as httpx would (a redirect) goes through httpx."""
        assert self.lean is not None
        try:
            answer = await self.lean.post_bytes(self.url, self.wire_headers, content, self.timeout)
        except timeout_exceptions() as err:
            raise openai.APITimeoutError(request=self.request(content)) from err
        except openai.OpenAIError:
            raise
        except Exception as err:
            raise openai.APIConnectionError(request=self.request(content)) from err
        status, headers = answer.status, answer.headers
        if 300 <= status < 400:  # the SDK's client follows redirects: httpx sends it again and does
            return await self._post_httpx(client, body, content)
        plain = not (client._strict_response_validation or "content-encoding" in headers or "set-cookie" in headers)
        if plain and 200 <= status < 300 and headers.get("content-type", "*").split(";")[0].endswith("json"):
            try:  # pydantic parses and validates the bytes; anything else goes through the SDK, as below
                completion = ChatCompletion.model_validate_json(answer.body)
            except ValidationError:
                pass
            else:
                add_request_id(completion, headers.get("x-request-id"))
                return completion
        response = httpx2.Response(status, headers=list(answer.raw_headers), content=answer.body,
                                   request=self.request(content))  # fmt: skip
        self.http.cookies.extract_cookies(response)  # as httpx keeps them: later requests then go through httpx
        if not response.is_success:
            raise client._make_status_error_from_response(response) from None
        return await _completion(client, response, body)


async def _completion(client: openai.AsyncOpenAI, response: httpx2.Response, body: dict[str, Any]) -> Any:
    """A JSON object that validates as a ChatCompletion becomes one (pydantic's compiled validator, instead of the SDK's
    Python walk that constructs it unvalidated: the same object for a well-formed answer); anything else (another
    content type, a non-object, a shape the model refuses) is processed by the SDK itself, as before."""
    content_type = response.headers.get("content-type", "*").split(";")[0]
    if content_type.endswith("json") and not client._strict_response_validation:
        data = response.json()
        if isinstance(data, dict):
            try:
                completion = ChatCompletion.model_validate(data)
            except ValidationError:
                pass
            else:
                add_request_id(completion, response.headers.get("x-request-id"))
                return completion
    options = FinalRequestOptions.construct(method="post", url=CHAT_PATH, json_data=body)
    return await client._process_response(
        cast_to=ChatCompletion, options=options, response=response, stream=False, stream_cls=None
    )


# openai's openapi_dumps, the encoder the SDK writes request bodies with (its class, its settings).
_ENCODER = _CustomEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_ENCODED: dict[int, tuple[Any, str]] = {}  # id -> (the value, kept alive so the id stays its own; its JSON)


def _encoded_once(value: Any) -> None:
    _ENCODED[id(value)] = (value, _ENCODER.encode(value))


def body_bytes(body: dict[str, Any]) -> bytes:
    """openapi_dumps(body), byte for byte, with the JSON of values encoded once (a StructuredCall's fixed mode
    arguments: the response format and its schema) taken as written: the encoder writes a dict as its keys and
    values in order, each as it would write it alone."""
    encoded, encode = _ENCODED, _ENCODER.encode
    parts = []
    for key, value in body.items():
        known = encoded.get(id(value))
        parts.append(f"{encode(key)}:{known[1] if known is not None and known[0] is value else encode(value)}")
    return ("{" + ",".join(parts) + "}").encode()


_ROUTES: weakref.WeakKeyDictionary[openai.AsyncOpenAI, _Route | None] = weakref.WeakKeyDictionary()


def _route(client: openai.AsyncOpenAI) -> _Route | None:
    """The client's route, or None where the SDK's request() does more than build, send and parse: its own retries,
    custom or workload-identity auth, a provider runtime, default query parameters, a legacy httpx client. Also
    None until the SDK's first request has read the platform (its headers name it)."""
    if client._platform is None:
        return None
    if client in _ROUTES:
        return _ROUTES[client]
    route = None
    plain = (
        client.max_retries == 0
        and client.custom_auth is None
        and getattr(client, "_workload_identity_auth", None) is None
        and getattr(client, "_provider_runtime", None) is None
        and not client.default_query
        and isinstance(client._client, httpx2.AsyncClient)
    )
    if plain:
        options = FinalRequestOptions.construct(method="post", url=CHAT_PATH, json_data={})
        url = client._prepare_url(CHAT_PATH)
        headers = client._build_headers(options, retries_taken=0)
        extensions = {"sni_hostname": url.host.replace("_", "-")} if "_" in url.host else None
        route = _Route(client._client, str(url), tuple(headers.multi_items()), normalize_httpx2_timeout(client.timeout),
                       extensions)  # fmt: skip
        route = _with_lean_path(route, url)
    _ROUTES[client] = route
    return route


def _with_lean_path(route: _Route, url: httpx2.URL) -> _Route:
    """The route with its client's aiohttp path (provider.PooledHttpClient), where that carries the URL as httpx
    would and httpx's headers are ASCII: the wire headers are httpx's own for this request, less Content-Length
    (aiohttp puts it last, where httpx does)."""
    lean = route.http if _is_lean(route.http) else None
    if lean is None or not lean.lean_origin(url) or not isinstance(route.timeout, float | int | httpx2.Timeout | None):
        return route
    raw = route.request(b"").headers.raw
    if not all(name.isascii() and value.isascii() for name, value in raw):
        return route
    wire = tuple((name.decode(), value.decode()) for name, value in raw if name.lower() != b"content-length")
    return replace(route, lean=lean, wire_headers=wire, timeout=httpx2.Timeout(route.timeout))


@cache
def structured_call(response_model: type[BaseModel], mode: Mode, provider: Provider) -> StructuredCall:
    """One per schema, mode and provider for the process: every run and extractor shares it."""
    return StructuredCall(response_model, mode, provider)
