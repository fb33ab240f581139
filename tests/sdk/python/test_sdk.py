#!/usr/bin/env python3
"""End-to-end test of docsession with Zoho's published Python SDK (office-integrator-sdk==1.0.2).

Drives every Writer, Sheet, Show, PDF-editor and plan operation through the SDK against a running docsession and
checks the class the SDK decoded (isinstance) and the values. Stops at the first failure with a message and exit 1.

Environment:
  OI_BASE_URL             base URL of the server, e.g. http://127.0.0.1:8080 (required)
  OI_APIKEY               an unlimited API key (required)
  OI_LIMITED_APIKEY       a fresh key created with `--limit 2` (main scenario; the usage-limit part is skipped if unset)
  OI_SCENARIO             main (default) or expiry (the server runs with DOCSESSION_SESSION_TTL=2s)
  OI_SESSION_TTL_SECONDS  the server's session TTL (default 21600, i.e. 6 h)
  OI_DEBUG                set to print full tracebacks

Usually started by tests/sdk/run.sh, which starts the server and creates the keys.
"""
import collections
import io
import logging
import os
import sys
import time
import traceback
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_fixtures  # noqa: E402  (builds the 20 MB docx in memory)

try:
    from officeintegrator.src.com.zoho.api.authenticator import Auth
    from officeintegrator.src.com.zoho.officeintegrator import Initializer
    from officeintegrator.src.com.zoho.officeintegrator.dc import DataCenter
    from officeintegrator.src.com.zoho.officeintegrator.logger import Logger
    from officeintegrator.src.com.zoho.officeintegrator.sdk_config import SDKConfig
    from officeintegrator.src.com.zoho.officeintegrator.util import StreamWrapper
    from officeintegrator.src.com.zoho.officeintegrator.v1 import (
        AllSessionsResponse, Authentication, CallbackSettings, CompareDocumentParameters, CompareDocumentResponse,
        CreateDocumentParameters, CreateDocumentResponse, CreatePresentationParameters, CreateSheetParameters,
        CreateSheetResponse, DocumentDefaults, DocumentDeleteSuccessResponse, DocumentInfo, DocumentMeta,
        DocumentSessionDeleteSuccessResponse, EditorSettings, EditPdfParameters, FileDeleteSuccessResponse,
        InvalidConfigurationException, MailMergeTemplateParameters, Margin, PdfEditorSettings, PdfEditorUiOptions,
        PlanDetails, PresentationPreviewParameters, PreviewDocumentInfo, PreviewParameters, PreviewResponse,
        SessionDeleteSuccessResponse, SessionInfo, SessionMeta, SessionUserInfo, SheetCallbackSettings,
        SheetEditorSettings, SheetPreviewParameters, SheetPreviewResponse, SheetUiOptions, SheetUserSettings,
        UiOptions, UserInfo, V1Operations, ZohoShowEditorSettings,
    )
except ImportError as exc:  # pragma: no cover - environment problem, not a test failure
    print(f"python SDK not importable ({exc}).\n"
          f"Install it: pip install -r {HERE / 'requirements.txt'}", file=sys.stderr)
    sys.exit(2)

# ------------------------------------------------------------------------------------------------ configuration

BASE = os.environ.get("OI_BASE_URL", "").rstrip("/")
APIKEY = os.environ.get("OI_APIKEY", "")
LIMITED_APIKEY = os.environ.get("OI_LIMITED_APIKEY", "")
SCENARIO = os.environ.get("OI_SCENARIO", "main")
TTL_MS = int(float(os.environ.get("OI_SESSION_TTL_SECONDS", "21600")) * 1000)
INVALID_APIKEY = "0123456789abcdef0123456789abcdef0badc0de"  # well-formed, never issued
RUN = uuid.uuid4().hex[:10]  # document ids of this run are unique, so reruns against one server do not collide
SAVE_URL = "https://integrator.example.com/save"  # never called: no test saves

WRITER = "/writer/officeapi/v1"
SHEET = "/sheet/officeapi/v1"
SHOW = "/show/officeapi/v1"
PDF = "/pdfeditor/officeapi/v1"
# Where session_delete_url / document_delete_url point (the DELETE endpoints; singular "session" for Sheet and Show).
SESSION_DELETE = {"writer": WRITER + "/sessions/", "sheet": SHEET + "/session/", "show": SHOW + "/session/",
                  "pdf": PDF + "/sessions/"}
DOCUMENT_DELETE = {"writer": WRITER + "/documents/", "sheet": SHEET + "/spreadsheet/",
                   "show": SHOW + "/presentation/", "pdf": PDF + "/pdf/"}

OPS = V1Operations()

# ------------------------------------------------------------------------------------------------ reporting

SDK_LOG = collections.deque(maxlen=40)
PASSED = 0
STEP = "start"


class Failure(Exception):
    pass


class _ListHandler(logging.Handler):
    def emit(self, record):
        SDK_LOG.append(self.format(record))


def step(name):
    global STEP
    STEP = name
    print(f"[python] {name}", flush=True)


def ok():
    global PASSED
    PASSED += 1


def fail(message):
    raise Failure(message)


def check(condition, message):
    if not condition:
        fail(message)
    ok()


def eq(actual, expected, what):
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")
    ok()


def nonempty_str(value, what):
    if not isinstance(value, str) or not value:
        fail(f"{what}: expected a non-empty string, got {value!r}")
    ok()
    return value


def is_int(value, what):
    if not isinstance(value, int) or isinstance(value, bool):
        fail(f"{what}: expected an integer, got {value!r}")
    ok()
    return value


def describe(obj):
    if obj is None:
        return "None"
    if isinstance(obj, InvalidConfigurationException):
        return (f"InvalidConfigurationException(code={obj.get_code()!r}, message={obj.get_message()!r}, "
                f"parameter_name={obj.get_parameter_name()!r}, key_name={obj.get_key_name()!r})")
    fields = {k.split("__")[-1]: v for k, v in vars(obj).items() if not k.endswith("key_modified")}
    return f"{type(obj).__name__}{fields}"


def decoded(resp, what):
    if resp is None:
        fail(f"{what}: the SDK returned None: it could not decode the response (SDK log below)")
    return resp.get_object()


def expect(resp, cls, what, status=200):
    """The SDK call returned HTTP `status` and decoded an instance of `cls`."""
    obj = decoded(resp, what)
    if not isinstance(obj, cls):
        fail(f"{what}: expected {cls.__name__}, the SDK decoded {describe(obj)} (HTTP {resp.get_status_code()})")
    ok()
    eq(resp.get_status_code(), status, f"{what}: HTTP status")
    return obj


def expect_error(resp, code, what):
    """The SDK decoded an InvalidConfigurationException with `code` from an HTTP 400."""
    err = expect(resp, InvalidConfigurationException, what, status=400)
    eq(err.get_code(), code, f"{what}: error code ({describe(err)})")
    nonempty_str(err.get_message(), f"{what}: error message")
    check("'" not in err.get_message(), f"{what}: error message contains an apostrophe")
    return err


# ------------------------------------------------------------------------------------------------ SDK setup

def use_key(apikey):
    """(Re)initialises the SDK for `apikey`, exactly as an integrator does."""
    env = DataCenter.Production(BASE)
    auth = Auth.Builder().add_param("apikey", apikey).authentication_schema(Authentication.TokenFlow()).build()
    Initializer.initialize(env, [auth], None, SDKConfig(read_timeout=60, connect_timeout=10),
                           Logger(Logger.Levels.INFO, None), None)


def upload(name):
    """A fixture uploaded from a path: the SDK sends filename=<basename>."""
    return StreamWrapper(file_path=str(FIXTURES / name))


def upload_bytes(data):
    """An upload from memory: the SDK sends filename=<field name>, not the StreamWrapper name."""
    return StreamWrapper(name="in-memory.docx", stream=io.BytesIO(data))


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def open_in_browser(url, what):
    """A plain GET of a session URL, as the end user's browser does: the session becomes active."""
    try:
        with _OPENER.open(url, timeout=60) as response:
            status = response.status
            response.read()
    except Exception as exc:
        fail(f"{what}: GET {url} failed: {exc}")
    eq(status, 200, f"{what}: HTTP status of GET {url}")


# ------------------------------------------------------------------------------------------------ shared checks

def check_create(obj, editor, what, document_id=None, cls=CreateDocumentResponse):
    check(isinstance(obj, cls), f"{what}: {describe(obj)} is not a {cls.__name__}")
    for key in ("document_url", "document_id", "save_url", "session_id", "session_delete_url",
                "document_delete_url") + (("gridview_url",) if cls is CreateSheetResponse else ()):
        value = nonempty_str(getattr(obj, "get_" + key)(), f"{what}: {key}")
        if key.endswith("_url"):
            check(value.startswith(BASE + "/"), f"{what}: {key} {value!r} does not start with {BASE}/")
    if document_id is not None:
        eq(obj.get_document_id(), document_id, f"{what}: document_id")
    eq(obj.get_session_delete_url(), BASE + SESSION_DELETE[editor] + obj.get_session_id(),
       f"{what}: session_delete_url")
    eq(obj.get_document_delete_url(), BASE + DOCUMENT_DELETE[editor] + obj.get_document_id(),
       f"{what}: document_delete_url")
    return obj


def check_times(meta, what):
    created_ms = is_int(meta.get_created_time_ms(), f"{what}: created_time_ms")
    expires_ms = is_int(meta.get_expires_on_ms(), f"{what}: expires_on_ms")
    for key, ms in (("created_time", created_ms), ("expires_on", expires_ms)):
        text = nonempty_str(getattr(meta, "get_" + key)(), f"{what}: {key}")
        check(text.endswith("Z"), f"{what}: {key} {text!r} is not ISO-8601 UTC")
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            fail(f"{what}: {key} {text!r} is not ISO-8601")
        check(abs(parsed.timestamp() * 1000 - ms) < 1000, f"{what}: {key} {text!r} does not match {key}_ms {ms}")
    return created_ms, expires_ms


def check_session(meta, editor, session_id, document_id, status, what, user_id=None, display_name=None,
                  session_url=None):
    check(isinstance(meta, SessionMeta), f"{what}: {describe(meta)} is not a SessionMeta")
    eq(meta.get_status(), status, f"{what}: status")
    info = meta.get_info()
    check(isinstance(info, SessionInfo), f"{what}: info is {describe(info)}, not a SessionInfo")
    eq(info.get_document_id(), document_id, f"{what}: info.document_id")
    created_ms, expires_ms = check_times(info, f"{what}: info")
    check(abs((expires_ms - created_ms) - TTL_MS) <= 1000,
          f"{what}: expires_on_ms - created_time_ms = {expires_ms - created_ms}, expected the TTL {TTL_MS}")
    url = nonempty_str(info.get_session_url(), f"{what}: info.session_url")
    check(url.startswith(BASE + "/"), f"{what}: info.session_url {url!r} does not start with {BASE}/")
    if session_url is not None:
        eq(url, session_url, f"{what}: info.session_url")
    eq(info.get_session_delete_url(), BASE + SESSION_DELETE[editor] + session_id, f"{what}: info.session_delete_url")
    if user_id is not None or display_name is not None:
        user = meta.get_user_info()
        check(isinstance(user, SessionUserInfo), f"{what}: user_info is {describe(user)}, not a SessionUserInfo")
        if user_id is not None:
            eq(user.get_user_id(), user_id, f"{what}: user_info.user_id")
        if display_name is not None:
            eq(user.get_display_name(), display_name, f"{what}: user_info.display_name")
    return meta


def check_document_meta(meta, document_id, what, name=None, doc_type=None, collaborators=None):
    check(type(meta) is DocumentMeta, f"{what}: {describe(meta)} is not exactly a DocumentMeta")
    eq(meta.get_document_id(), document_id, f"{what}: document_id")
    nonempty_str(meta.get_document_name(), f"{what}: document_name")
    if name is not None:
        eq(meta.get_document_name(), name, f"{what}: document_name")
    nonempty_str(meta.get_document_type(), f"{what}: document_type")
    if doc_type is not None:
        eq(meta.get_document_type(), doc_type, f"{what}: document_type")
    is_int(meta.get_collaborators_count(), f"{what}: collaborators_count")
    is_int(meta.get_active_sessions_count(), f"{what}: active_sessions_count")
    if collaborators is not None:
        eq(meta.get_collaborators_count(), collaborators, f"{what}: collaborators_count")
    check_times(meta, what)
    return meta


def plan(what):
    return expect(OPS.get_plan_details(), PlanDetails, what)


def check_plan(details, what, usage_limit, total_usage=None):
    nonempty_str(details.get_plan_name(), f"{what}: plan_name")
    eq(details.get_usage_limit(), usage_limit, f"{what}: usage_limit")
    total = is_int(details.get_total_usage(), f"{what}: total_usage")
    check(total >= 0, f"{what}: total_usage {total} is negative")
    if total_usage is not None:
        eq(total, total_usage, f"{what}: total_usage")
    if usage_limit >= 0:
        eq(details.get_remaining_usage_limit(), usage_limit - total, f"{what}: remaining_usage_limit")
    return total


# ------------------------------------------------------------------------------------------------ parameters

def writer_params(document_id, name, user_id, display_name, document=None):
    """CreateDocumentParameters with every parameter object set."""
    p = CreateDocumentParameters()
    if document is not None:
        p.set_document(document)
    info = DocumentInfo()
    info.set_document_id(document_id)
    info.set_document_name(name)
    p.set_document_info(info)
    user = UserInfo()
    user.set_user_id(user_id)
    user.set_display_name(display_name)
    p.set_user_info(user)
    p.set_permissions({"document.export": True, "document.print": True, "document.edit": True,
                       "review.comment": True, "review.changes.resolve": False, "collab.chat": True,
                       "document.pausecollaboration": False, "document.fill": False})
    callback = CallbackSettings()
    callback.set_save_format("docx")
    callback.set_save_url(SAVE_URL)
    callback.set_http_method_type("post")
    callback.set_retries(1)
    callback.set_timeout(10000)
    callback.set_save_url_params({"id": "123", "extension": "$format", "sid": "$session_id"})
    callback.set_save_url_headers({"x-token": "secret-1"})
    p.set_callback_settings(callback)
    editor = EditorSettings()
    editor.set_unit("in")
    editor.set_language("en")
    editor.set_view("pageview")
    p.set_editor_settings(editor)
    defaults = DocumentDefaults()
    defaults.set_orientation("portrait")
    defaults.set_paper_size("Letter")
    defaults.set_font_name("Arial")
    defaults.set_font_size(12)
    defaults.set_track_changes("disabled")
    defaults.set_language("en-US")
    margin = Margin()
    margin.set_top("1in")
    margin.set_bottom("1in")
    margin.set_left("1.25in")
    margin.set_right("1.25in")
    defaults.set_margin(margin)
    p.set_document_defaults(defaults)
    ui = UiOptions()
    ui.set_save_button("show")
    ui.set_chat_panel("show")
    ui.set_file_menu("show")
    ui.set_dark_mode("hide")
    p.set_ui_options(ui)
    return p


def named_doc(cls, document_id, name, document):
    p = cls()
    p.set_document(document)
    info = DocumentInfo()
    info.set_document_id(document_id)
    info.set_document_name(name)
    p.set_document_info(info)
    return p


def sheet_params(document_id, name, display_name, document=None):
    p = CreateSheetParameters()
    if document is not None:
        p.set_document(document)
    info = DocumentInfo()
    info.set_document_id(document_id)
    info.set_document_name(name)
    p.set_document_info(info)
    user = SheetUserSettings()
    user.set_display_name(display_name)
    p.set_user_info(user)
    p.set_permissions({"document.export": True, "document.print": True, "document.edit": True,
                       "document.allowedformat": ["xlsx", "csv", "ods"]})
    callback = SheetCallbackSettings()
    callback.set_save_format("xlsx")
    callback.set_save_url(SAVE_URL)
    callback.set_save_url_params({"id": "456", "name": "$filename"})
    callback.set_save_url_headers({"x-token": "secret-2"})
    p.set_callback_settings(callback)
    editor = SheetEditorSettings()
    editor.set_language("en")
    editor.set_country("US")
    p.set_editor_settings(editor)
    ui = SheetUiOptions()
    ui.set_save_button("show")
    p.set_ui_options(ui)
    return p


def show_params(document_id, name, user_id, display_name, document=None):
    p = CreatePresentationParameters()
    if document is not None:
        p.set_document(document)
    info = DocumentInfo()
    info.set_document_id(document_id)
    info.set_document_name(name)
    p.set_document_info(info)
    user = UserInfo()
    user.set_user_id(user_id)
    user.set_display_name(display_name)
    p.set_user_info(user)
    p.set_permissions({"document.export": True, "document.print": False, "document.edit": True})
    callback = CallbackSettings()
    callback.set_save_format("pptx")
    callback.set_save_url(SAVE_URL)
    callback.set_http_method_type("put")
    callback.set_retries(2)
    callback.set_timeout(20000)
    callback.set_save_url_params({"id": "789"})
    callback.set_save_url_headers({"x-token": "secret-3"})
    p.set_callback_settings(callback)
    editor = ZohoShowEditorSettings()
    editor.set_language("en")
    p.set_editor_settings(editor)
    return p


def pdf_params(document_id, name, user_id, display_name, document=None):
    p = EditPdfParameters()
    if document is not None:
        p.set_document(document)
    info = DocumentInfo()
    info.set_document_id(document_id)
    info.set_document_name(name)
    p.set_document_info(info)
    user = UserInfo()
    user.set_user_id(user_id)
    user.set_display_name(display_name)
    p.set_user_info(user)
    callback = CallbackSettings()
    callback.set_save_format("pdf")
    callback.set_save_url(SAVE_URL)
    callback.set_http_method_type("post")
    callback.set_retries(1)
    callback.set_timeout(10000)
    callback.set_save_url_params({"id": "pdf-1"})
    callback.set_save_url_headers({"x-token": "secret-4"})
    p.set_callback_settings(callback)
    editor = PdfEditorSettings()
    editor.set_unit("mm")
    editor.set_language("en")
    p.set_editor_settings(editor)
    ui = PdfEditorUiOptions()
    ui.set_save_button("show")
    ui.set_file_menu("hide")
    p.set_ui_options(ui)
    return p


# ------------------------------------------------------------------------------------------------ scenarios

class Usage:
    """Counts the successful opens of this program, to compare with the plan's total_usage."""

    def __init__(self):
        self.opens = 0

    def opened(self, n=1):
        self.opens += n


def test_writer(usage, plan_start):
    doc_id = f"py-{RUN}-writer"
    name = "O'Brien's plan"

    step("writer: create with every parameter object and an uploaded docx")
    r1 = expect(OPS.create_document(writer_params(doc_id, name, "1000", "Ada Lovelace", upload("sample.docx"))),
                CreateDocumentResponse, "create_document")
    usage.opened()
    check_create(r1, "writer", "create_document", doc_id)
    check(r1.get_document_url() != r1.get_save_url(), "create_document: document_url equals save_url")

    step("plan: total_usage moved by exactly one open")
    check_plan(plan("get_plan_details after one open"), "plan after one open", -1, plan_start + 1)

    step("writer: session info is inactive until the session URL is opened")
    s1 = expect(OPS.get_session(r1.get_session_id()), SessionMeta, "get_session")
    check_session(s1, "writer", r1.get_session_id(), doc_id, "inactive", "get_session (new)", "1000",
                  "Ada Lovelace", session_url=r1.get_document_url())
    open_in_browser(r1.get_document_url(), "writer document_url")
    s1 = expect(OPS.get_session(r1.get_session_id()), SessionMeta, "get_session after opening")
    check_session(s1, "writer", r1.get_session_id(), doc_id, "active", "get_session (opened)", "1000", "Ada Lovelace")

    step("writer: co-edit with the same document_id and a second user")
    r2 = expect(OPS.create_document(writer_params(doc_id, name, "1001", "Grace Hopper", upload("sample2.docx"))),
                CreateDocumentResponse, "create_document (co-edit)")
    usage.opened()
    check_create(r2, "writer", "co-edit", doc_id)
    check(r2.get_session_id() != r1.get_session_id(), "co-edit: the session_id was not new")
    s2 = expect(OPS.get_session(r2.get_session_id()), SessionMeta, "get_session (co-editor)")
    check_session(s2, "writer", r2.get_session_id(), doc_id, "inactive", "get_session (co-editor)", "1001",
                  "Grace Hopper")

    step("writer: all sessions lists both sessions")
    all_sessions = expect(OPS.get_all_sessions(doc_id), AllSessionsResponse, "get_all_sessions")
    eq(all_sessions.get_document_id(), doc_id, "get_all_sessions: document_id")
    eq(all_sessions.get_document_name(), "O\u2019Brien\u2019s plan", "get_all_sessions: document_name")
    eq(all_sessions.get_collaborators_count(), 2, "get_all_sessions: collaborators_count")
    sessions = all_sessions.get_sessions()
    check(isinstance(sessions, list), f"get_all_sessions: sessions is {sessions!r}, not a list")
    eq(len(sessions), 2, "get_all_sessions: number of sessions")
    for meta in sessions:
        check(isinstance(meta, SessionMeta), f"get_all_sessions: a session is {describe(meta)}")
        eq(meta.get_info().get_document_id(), doc_id, "get_all_sessions: sessions[].info.document_id")
    eq(sorted(m.get_info().get_session_delete_url() for m in sessions),
       sorted([r1.get_session_delete_url(), r2.get_session_delete_url()]),
       "get_all_sessions: the sessions listed (by session_delete_url)")
    eq(sorted(m.get_user_info().get_user_id() for m in sessions), ["1000", "1001"], "get_all_sessions: user ids")

    step("writer: document info (apostrophes come back as U+2019)")
    meta = expect(OPS.get_document_info(doc_id), DocumentMeta, "get_document_info")
    check_document_meta(meta, doc_id, "get_document_info", name="O\u2019Brien\u2019s plan", doc_type="document",
                        collaborators=2)

    step("writer: delete one session")
    deleted = expect(OPS.delete_session(r2.get_session_id()), DocumentSessionDeleteSuccessResponse, "delete_session")
    check(deleted.get_session_deleted() is True, f"delete_session: session_deleted is {deleted.get_session_deleted()!r}")
    expect_error(OPS.get_session(r2.get_session_id()), 1833, "get_session of a deleted session")
    expect_error(OPS.delete_session(r2.get_session_id()), 1833, "delete_session again")
    all_sessions = expect(OPS.get_all_sessions(doc_id), AllSessionsResponse, "get_all_sessions after delete")
    eq(len(all_sessions.get_sessions()), 1, "get_all_sessions after delete: number of sessions")
    eq(all_sessions.get_sessions()[0].get_info().get_session_delete_url(), r1.get_session_delete_url(),
       "get_all_sessions after delete: the remaining session")
    check_session(expect(OPS.get_session(r1.get_session_id()), SessionMeta, "get_session of the other session"),
                  "writer", r1.get_session_id(), doc_id, "active", "the other session survives")

    step("writer: delete the document")
    deleted = expect(OPS.delete_document(doc_id), DocumentDeleteSuccessResponse, "delete_document")
    check(deleted.get_document_deleted() is True,
          f"delete_document: document_deleted is {deleted.get_document_deleted()!r}")
    expect_error(OPS.get_document_info(doc_id), 1844, "get_document_info of a deleted document")
    expect_error(OPS.get_all_sessions(doc_id), 1844, "get_all_sessions of a deleted document")
    expect_error(OPS.get_session(r1.get_session_id()), 1833, "get_session of a deleted document")
    expect_error(OPS.delete_document(doc_id), 1844, "delete_document again")

    step("writer: non-ASCII name, upload from memory (filename = field name)")
    uni_id = f"py-{RUN}-unicode"
    uni_name = "\u00dcber na\u00efve \u6587\u6863"
    r = expect(OPS.create_document(named_doc(CreateDocumentParameters, uni_id, uni_name,
                                             upload_bytes((FIXTURES / "sample.docx").read_bytes()))),
               CreateDocumentResponse, "create_document (non-ASCII, in-memory upload)")
    usage.opened()
    check_create(r, "writer", "create_document (non-ASCII)", uni_id)
    check_document_meta(expect(OPS.get_document_info(uni_id), DocumentMeta, "get_document_info (non-ASCII)"),
                        uni_id, "get_document_info (non-ASCII)", name=uni_name)
    expect(OPS.delete_document(uni_id), DocumentDeleteSuccessResponse, "delete_document (non-ASCII)")

    step("writer: empty create (no parameters at all)")
    r = expect(OPS.create_document(CreateDocumentParameters()), CreateDocumentResponse, "create_document (empty)")
    usage.opened()
    check_create(r, "writer", "create_document (empty)")
    check_session(expect(OPS.get_session(r.get_session_id()), SessionMeta, "get_session (empty create)"),
                  "writer", r.get_session_id(), r.get_document_id(), "inactive", "get_session (empty create)")
    check_document_meta(expect(OPS.get_document_info(r.get_document_id()), DocumentMeta, "get_document_info (empty)"),
                        r.get_document_id(), "get_document_info (empty)", doc_type="document", collaborators=1)
    expect(OPS.delete_document(r.get_document_id()), DocumentDeleteSuccessResponse, "delete_document (empty)")

    step("writer: 20 MB docx upload")
    big = make_fixtures.docx_bytes(["A large document."], padding=20 * 1024 * 1024)
    check(len(big) > 20 * 1024 * 1024, "the 20 MB fixture is too small")
    big_id = f"py-{RUN}-big"
    r = expect(OPS.create_document(named_doc(CreateDocumentParameters, big_id, "big.docx", upload_bytes(big))),
               CreateDocumentResponse, "create_document (20 MB)")
    usage.opened()
    check_create(r, "writer", "create_document (20 MB)", big_id)
    check_document_meta(expect(OPS.get_document_info(big_id), DocumentMeta, "get_document_info (20 MB)"),
                        big_id, "get_document_info (20 MB)", name="big.docx")
    expect(OPS.delete_document(big_id), DocumentDeleteSuccessResponse, "delete_document (20 MB)")

    step("writer: preview")
    p = PreviewParameters()
    p.set_document(upload("sample.docx"))
    info = PreviewDocumentInfo()
    info.set_document_name("Preview of O'Brien's plan")
    p.set_document_info(info)
    p.set_permissions({"document.print": True})
    r = expect(OPS.create_document_preview(p), PreviewResponse, "create_document_preview")
    usage.opened()
    for key in ("preview_url", "document_id", "session_id"):
        nonempty_str(getattr(r, "get_" + key)(), f"create_document_preview: {key}")
    check(r.get_preview_url().startswith(BASE + "/"), f"preview_url {r.get_preview_url()!r} is not ours")

    step("writer: compare two documents")
    p = CompareDocumentParameters()
    p.set_document1(upload("sample.docx"))
    p.set_document2(upload("sample2.docx"))
    p.set_title("Version 1 vs version 2")
    p.set_lang("en")
    r = expect(OPS.compare_document(p), CompareDocumentResponse, "compare_document")
    usage.opened()
    url = nonempty_str(r.get_compare_url(), "compare_document: compare_url")
    check(url.startswith(BASE + "/"), f"compare_url {url!r} is not ours")
    nonempty_str(r.get_session_delete_url(), "compare_document: session_delete_url")

    step("writer: mail merge template")
    merge_id = f"py-{RUN}-merge"
    p = named_doc(MailMergeTemplateParameters, merge_id, "Merge template", upload("template.docx"))
    p.set_merge_data_json_content(upload("merge_data.json"))
    user = UserInfo()
    user.set_user_id("1000")
    user.set_display_name("Ada Lovelace")
    p.set_user_info(user)
    r = expect(OPS.create_mail_merge_template(p), CreateDocumentResponse, "create_mail_merge_template")
    usage.opened()
    check_create(r, "writer", "create_mail_merge_template", merge_id)
    check_document_meta(expect(OPS.get_document_info(merge_id), DocumentMeta, "get_document_info (merge template)"),
                        merge_id, "get_document_info (merge template)", doc_type="merge_template")
    expect(OPS.delete_document(merge_id), DocumentDeleteSuccessResponse, "delete_document (merge template)")

    step("writer: fillable template")
    fill_id = f"py-{RUN}-fillable"
    r = expect(OPS.create_fillable_template_document(
        named_doc(CreateDocumentParameters, fill_id, "Fillable form", upload("sample.docx"))),
        CreateDocumentResponse, "create_fillable_template_document")
    usage.opened()
    check_create(r, "writer", "create_fillable_template_document", fill_id)
    check_document_meta(expect(OPS.get_document_info(fill_id), DocumentMeta, "get_document_info (fillable)"),
                        fill_id, "get_document_info (fillable)", doc_type="fillable_template")
    expect(OPS.delete_document(fill_id), DocumentDeleteSuccessResponse, "delete_document (fillable)")

    step("writer: unknown ids")
    expect_error(OPS.get_session("no-such-session"), 1833, "get_session (unknown)")
    expect_error(OPS.delete_session("no-such-session"), 1833, "delete_session (unknown)")
    expect_error(OPS.get_document_info(f"py-{RUN}-missing"), 1844, "get_document_info (unknown)")
    expect_error(OPS.get_all_sessions(f"py-{RUN}-missing"), 1844, "get_all_sessions (unknown)")
    expect_error(OPS.delete_document(f"py-{RUN}-missing"), 1844, "delete_document (unknown)")


def test_sheet(usage):
    doc_id = f"py-{RUN}-sheet"

    step("sheet: create with every parameter object and an uploaded xlsx")
    r1 = expect(OPS.create_sheet(sheet_params(doc_id, "Budget.xlsx", "Ada Lovelace", upload("sample.xlsx"))),
                CreateSheetResponse, "create_sheet")
    usage.opened()
    check_create(r1, "sheet", "create_sheet", doc_id, cls=CreateSheetResponse)

    step("sheet: session info, inactive then active")
    s = expect(OPS.get_sheet_session(r1.get_session_id()), SessionMeta, "get_sheet_session")
    check_session(s, "sheet", r1.get_session_id(), doc_id, "inactive", "get_sheet_session (new)",
                  display_name="Ada Lovelace")
    open_in_browser(r1.get_document_url(), "sheet document_url")
    s = expect(OPS.get_sheet_session(r1.get_session_id()), SessionMeta, "get_sheet_session after opening")
    check_session(s, "sheet", r1.get_session_id(), doc_id, "active", "get_sheet_session (opened)")

    step("sheet: co-edit")
    r2 = expect(OPS.create_sheet(sheet_params(doc_id, "Budget.xlsx", "Grace Hopper", upload("sample.xlsx"))),
                CreateSheetResponse, "create_sheet (co-edit)")
    usage.opened()
    check_create(r2, "sheet", "create_sheet (co-edit)", doc_id, cls=CreateSheetResponse)
    check(r2.get_session_id() != r1.get_session_id(), "sheet co-edit: the session_id was not new")
    check_session(expect(OPS.get_sheet_session(r2.get_session_id()), SessionMeta, "get_sheet_session (co-editor)"),
                  "sheet", r2.get_session_id(), doc_id, "inactive", "get_sheet_session (co-editor)",
                  display_name="Grace Hopper")

    step("sheet: preview")
    p = SheetPreviewParameters()
    p.set_document(upload("sample.xlsx"))
    p.set_language("en")
    p.set_permissions({"document.export": False, "document.print": True})
    r = expect(OPS.create_sheet_preview(p), SheetPreviewResponse, "create_sheet_preview")
    usage.opened()
    for key in ("preview_url", "gridview_url", "document_id", "session_id"):
        nonempty_str(getattr(r, "get_" + key)(), f"create_sheet_preview: {key}")

    step("sheet: delete session")
    d = expect(OPS.delete_sheet_session(r2.get_session_id()), SessionDeleteSuccessResponse, "delete_sheet_session")
    eq(d.get_session_delete(), "true", "delete_sheet_session: session_delete")
    expect_error(OPS.get_sheet_session(r2.get_session_id()), 1833, "get_sheet_session of a deleted session")
    expect_error(OPS.delete_sheet_session(r2.get_session_id()), 1833, "delete_sheet_session again")
    check_session(expect(OPS.get_sheet_session(r1.get_session_id()), SessionMeta, "get_sheet_session (other)"),
                  "sheet", r1.get_session_id(), doc_id, "active", "the other sheet session survives")

    step("sheet: delete spreadsheet")
    d = expect(OPS.delete_sheet(doc_id), FileDeleteSuccessResponse, "delete_sheet")
    eq(d.get_doc_delete(), "true", "delete_sheet: doc_delete")
    expect_error(OPS.get_sheet_session(r1.get_session_id()), 1833, "get_sheet_session of a deleted spreadsheet")
    expect_error(OPS.delete_sheet(doc_id), 1844, "delete_sheet again")

    step("sheet: empty create (no parameters at all)")
    r = expect(OPS.create_sheet(CreateSheetParameters()), CreateSheetResponse, "create_sheet (empty)")
    usage.opened()
    check_create(r, "sheet", "create_sheet (empty)", cls=CreateSheetResponse)
    check_session(expect(OPS.get_sheet_session(r.get_session_id()), SessionMeta, "get_sheet_session (empty create)"),
                  "sheet", r.get_session_id(), r.get_document_id(), "inactive", "get_sheet_session (empty create)")
    expect(OPS.delete_sheet(r.get_document_id()), FileDeleteSuccessResponse, "delete_sheet (empty)")

    step("sheet: unknown ids")
    expect_error(OPS.get_sheet_session("no-such-session"), 1833, "get_sheet_session (unknown)")
    expect_error(OPS.delete_sheet_session("no-such-session"), 1833, "delete_sheet_session (unknown)")
    expect_error(OPS.delete_sheet(f"py-{RUN}-missing"), 1844, "delete_sheet (unknown)")


def test_show(usage):
    doc_id = f"py-{RUN}-show"

    step("show: create with every parameter object and an uploaded pptx")
    r1 = expect(OPS.create_presentation(show_params(doc_id, "Deck.pptx", "1000", "Ada Lovelace",
                                                    upload("sample.pptx"))),
                CreateDocumentResponse, "create_presentation")
    usage.opened()
    check_create(r1, "show", "create_presentation", doc_id)

    step("show: session info, inactive then active")
    s = expect(OPS.get_presentation_session(r1.get_session_id()), SessionMeta, "get_presentation_session")
    check_session(s, "show", r1.get_session_id(), doc_id, "inactive", "get_presentation_session (new)", "1000",
                  "Ada Lovelace")
    open_in_browser(r1.get_document_url(), "show document_url")
    s = expect(OPS.get_presentation_session(r1.get_session_id()), SessionMeta, "get_presentation_session (opened)")
    check_session(s, "show", r1.get_session_id(), doc_id, "active", "get_presentation_session (opened)")

    step("show: preview")
    p = PresentationPreviewParameters()
    p.set_document(upload("sample.pptx"))
    p.set_language("en")
    info = DocumentInfo()
    info.set_document_name("Deck preview")
    p.set_document_info(info)
    r = expect(OPS.create_presentation_preview(p), PreviewResponse, "create_presentation_preview")
    usage.opened()
    for key in ("preview_url", "document_id", "session_id"):
        nonempty_str(getattr(r, "get_" + key)(), f"create_presentation_preview: {key}")

    step("show: delete session")
    d = expect(OPS.delete_presentation_session(r1.get_session_id()), SessionDeleteSuccessResponse,
               "delete_presentation_session")
    eq(d.get_session_delete(), "true", "delete_presentation_session: session_delete")
    expect_error(OPS.get_presentation_session(r1.get_session_id()), 1833, "get_presentation_session (deleted)")
    expect_error(OPS.delete_presentation_session(r1.get_session_id()), 1833, "delete_presentation_session again")

    step("show: delete presentation")
    d = expect(OPS.delete_presentation(doc_id), FileDeleteSuccessResponse, "delete_presentation")
    eq(d.get_doc_delete(), "true", "delete_presentation: doc_delete")
    expect_error(OPS.delete_presentation(doc_id), 1844, "delete_presentation again")

    step("show: unknown ids")
    expect_error(OPS.get_presentation_session("no-such-session"), 1833, "get_presentation_session (unknown)")
    expect_error(OPS.delete_presentation(f"py-{RUN}-missing"), 1844, "delete_presentation (unknown)")


def test_pdf(usage):
    doc_id = f"py-{RUN}-pdf"

    step("pdf: edit_pdf with every parameter object and an uploaded PDF")
    r = expect(OPS.edit_pdf(pdf_params(doc_id, "Contract.pdf", "1000", "Ada Lovelace", upload("sample.pdf"))),
               CreateDocumentResponse, "edit_pdf")
    usage.opened()
    check_create(r, "pdf", "edit_pdf", doc_id)

    step("pdf: session info, inactive then active")
    s = expect(OPS.get_pdf_document_session(r.get_session_id()), SessionMeta, "get_pdf_document_session")
    check_session(s, "pdf", r.get_session_id(), doc_id, "inactive", "get_pdf_document_session (new)", "1000",
                  "Ada Lovelace")
    open_in_browser(r.get_document_url(), "pdf document_url")
    s = expect(OPS.get_pdf_document_session(r.get_session_id()), SessionMeta, "get_pdf_document_session (opened)")
    check_session(s, "pdf", r.get_session_id(), doc_id, "active", "get_pdf_document_session (opened)")

    step("pdf: document info")
    meta = expect(OPS.get_pdf_document_info(doc_id), DocumentMeta, "get_pdf_document_info")
    check_document_meta(meta, doc_id, "get_pdf_document_info", name="Contract.pdf", doc_type="native",
                        collaborators=1)

    step("pdf: delete session, delete document")
    d = expect(OPS.delete_pdf_document_session(r.get_session_id()), DocumentSessionDeleteSuccessResponse,
               "delete_pdf_document_session")
    check(d.get_session_deleted() is True, f"delete_pdf_document_session: session_deleted is {d.get_session_deleted()!r}")
    expect_error(OPS.get_pdf_document_session(r.get_session_id()), 1833, "get_pdf_document_session (deleted)")
    expect_error(OPS.delete_pdf_document_session(r.get_session_id()), 1833, "delete_pdf_document_session again")
    d = expect(OPS.delete_pdf_document(doc_id), DocumentDeleteSuccessResponse, "delete_pdf_document")
    check(d.get_document_deleted() is True, f"delete_pdf_document: document_deleted is {d.get_document_deleted()!r}")
    expect_error(OPS.get_pdf_document_info(doc_id), 1844, "get_pdf_document_info (deleted)")
    expect_error(OPS.delete_pdf_document(doc_id), 1844, "delete_pdf_document again")
    expect_error(OPS.get_pdf_document_session("no-such-session"), 1833, "get_pdf_document_session (unknown)")


def test_invalid_key(valid_key, sid):
    step("errors: an invalid API key, per editor")
    use_key(INVALID_APIKEY)
    expect_error(OPS.create_document(CreateDocumentParameters()), 1846, "create_document (invalid key)")
    expect_error(OPS.get_session(sid), 1846, "get_session (invalid key)")
    expect_error(OPS.create_sheet(CreateSheetParameters()), 2890, "create_sheet (invalid key)")
    expect_error(OPS.create_presentation(CreatePresentationParameters()), 3890, "create_presentation (invalid key)")
    expect_error(OPS.edit_pdf(EditPdfParameters()), 1846, "edit_pdf (invalid key)")
    expect_error(OPS.get_plan_details(), 1846, "get_plan_details (invalid key)")
    use_key(valid_key)


def test_usage_limit():
    step("usage limit: a key with --limit 2 (no grace at 2) refuses the 3rd open")
    use_key(LIMITED_APIKEY)
    check_plan(plan("get_plan_details (limited key)"), "limited plan at start", 2, 0)
    first = expect(OPS.create_document(CreateDocumentParameters()), CreateDocumentResponse, "limited open 1")
    expect(OPS.create_sheet(CreateSheetParameters()), CreateSheetResponse, "limited open 2")
    check_plan(plan("get_plan_details (limited key, 2 opens)"), "limited plan after 2 opens", 2, 2)
    expect_error(OPS.create_document(CreateDocumentParameters()), 1845, "limited open 3, writer")
    expect_error(OPS.create_sheet(CreateSheetParameters()), 2893, "limited open 3, sheet")
    expect_error(OPS.create_presentation(CreatePresentationParameters()), 3893, "limited open 3, show")
    expect_error(OPS.edit_pdf(EditPdfParameters()), 1845, "limited open 3, pdf")
    p = PreviewParameters()
    p.set_document(upload("sample.docx"))
    expect_error(OPS.create_document_preview(p), 1845, "limited open 3, writer preview")
    check_plan(plan("get_plan_details (limited key, refused)"), "limited plan after refusals", 2, 2)

    step("usage limit: reads and deletes still work past the limit")
    check_session(expect(OPS.get_session(first.get_session_id()), SessionMeta, "get_session (limited key)"),
                  "writer", first.get_session_id(), first.get_document_id(), "inactive", "get_session (limited key)")
    expect(OPS.delete_document(first.get_document_id()), DocumentDeleteSuccessResponse, "delete_document (limited)")
    use_key(APIKEY)


def scenario_main():
    use_key(APIKEY)
    usage = Usage()

    step("plan: details of an unlimited key")
    start = check_plan(plan("get_plan_details"), "plan at start", -1)

    test_writer(usage, start)
    test_sheet(usage)
    test_show(usage)
    test_pdf(usage)

    # a live session of this key, to look up with a bad key
    r = expect(OPS.create_document(CreateDocumentParameters()), CreateDocumentResponse, "create_document (for errors)")
    usage.opened()
    test_invalid_key(APIKEY, r.get_session_id())
    expect(OPS.delete_document(r.get_document_id()), DocumentDeleteSuccessResponse, "delete_document (for errors)")

    step(f"plan: total_usage moved by exactly the {usage.opens} opens made")
    check_plan(plan("get_plan_details at the end"), "plan at the end", -1, start + usage.opens)

    if LIMITED_APIKEY:
        test_usage_limit()
    else:
        print("[python] SKIP usage limit: OI_LIMITED_APIKEY is not set", flush=True)


def scenario_expiry():
    if TTL_MS > 60000:
        fail(f"the expiry scenario needs a short TTL: set OI_SESSION_TTL_SECONDS (now {TTL_MS / 1000:g} s) to the server's")
    use_key(APIKEY)
    step(f"expiry: sessions of every editor expire after the TTL ({TTL_MS} ms)")
    opened = []
    r = expect(OPS.create_document(writer_params(f"py-{RUN}-exp-w", "Expiring", "1000", "Ada Lovelace")),
               CreateDocumentResponse, "create_document")
    opened.append(("writer", OPS.get_session, r))
    r = expect(OPS.create_sheet(sheet_params(f"py-{RUN}-exp-s", "Expiring.xlsx", "Ada Lovelace")),
               CreateSheetResponse, "create_sheet")
    opened.append(("sheet", OPS.get_sheet_session, r))
    r = expect(OPS.create_presentation(show_params(f"py-{RUN}-exp-p", "Expiring.pptx", "1000", "Ada Lovelace")),
               CreateDocumentResponse, "create_presentation")
    opened.append(("show", OPS.get_presentation_session, r))
    r = expect(OPS.edit_pdf(pdf_params(f"py-{RUN}-exp-d", "Expiring.pdf", "1000", "Ada Lovelace",
                                       upload("sample.pdf"))), CreateDocumentResponse, "edit_pdf")
    opened.append(("pdf", OPS.get_pdf_document_session, r))

    deadline = time.monotonic() + 10 * TTL_MS / 1000 + 10
    for editor, get, created in opened:
        what = f"{editor} session after the TTL"
        while True:
            resp = get(created.get_session_id())
            obj = decoded(resp, what)
            if isinstance(obj, SessionMeta):
                check_session(obj, editor, created.get_session_id(), created.get_document_id(), "inactive", what)
                if time.monotonic() > deadline:
                    fail(f"{what}: still served {TTL_MS} ms after creation ({describe(obj)})")
                time.sleep(0.2)
                continue
            expect_error(resp, 1834, what)
            break


def main():
    if not BASE or not APIKEY:
        print("set OI_BASE_URL and OI_APIKEY (tests/sdk/run.sh does this)", file=sys.stderr)
        return 2
    handler = _ListHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    sdk_logger = logging.getLogger("SDKLogger")
    sdk_logger.addHandler(handler)
    sdk_logger.propagate = False
    record_http_exchanges()

    print(f"[python] office-integrator-sdk against {BASE}, scenario {SCENARIO}", flush=True)
    try:
        if SCENARIO == "main":
            scenario_main()
        elif SCENARIO == "expiry":
            scenario_expiry()
        else:
            print(f"unknown OI_SCENARIO {SCENARIO!r}", file=sys.stderr)
            return 2
    except Failure as failure:
        print(f"\nFAIL [python] {STEP}\n  {failure}", file=sys.stderr)
        dump_sdk_log()
        return 1
    except Exception as exc:  # the SDK raised (connection refused, an undecodable body, ...)
        print(f"\nFAIL [python] {STEP}: an exception was raised", file=sys.stderr)
        if os.environ.get("OI_DEBUG"):
            traceback.print_exc()
        else:
            here = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__]
            if here:
                print(f"  at {Path(here[-1].filename).name}:{here[-1].lineno}: {here[-1].line}", file=sys.stderr)
            seen, cause = set(), exc
            while cause is not None and id(cause) not in seen:
                seen.add(id(cause))
                detail = getattr(cause, "cause", None)  # SDKException keeps its cause here; str() is just "type"
                print(f"  {type(cause).__name__}: {cause}" + (f" (cause: {detail!r})" if detail else ""),
                      file=sys.stderr)
                cause = cause.__cause__ or cause.__context__
            print("  (set OI_DEBUG=1 for the full traceback)", file=sys.stderr)
        dump_sdk_log()
        return 1
    print(f"[python] OK: scenario {SCENARIO}, {PASSED} checks passed", flush=True)
    return 0


LAST_HTTP = collections.deque(maxlen=2)


def record_http_exchanges():
    """Remembers the last HTTP exchanges the SDK made, to show them when a call fails."""
    import requests

    original = requests.sessions.Session.send

    def send(self, request, **kwargs):
        response = original(self, request, **kwargs)
        try:
            body = response.content[:2000].decode("utf-8", "replace")
        except Exception:  # a streamed download: leave it alone
            body = "<not read>"
        LAST_HTTP.append(f"{request.method} {request.url} -> HTTP {response.status_code} "
                         f"{response.headers.get('Content-Type')!r}: {body}")
        return response

    requests.sessions.Session.send = send


def dump_sdk_log():
    if LAST_HTTP:
        print("  last HTTP exchanges:", file=sys.stderr)
        for line in LAST_HTTP:
            print("    " + line, file=sys.stderr)
    interesting = [line for line in SDK_LOG if "Exception" in line or "ERROR" in line or "rror" in line]
    if interesting:
        print("  SDK log (last lines):", file=sys.stderr)
        for line in interesting[-8:]:
            print("    " + line[:2000], file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
