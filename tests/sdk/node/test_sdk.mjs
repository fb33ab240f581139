// End-to-end test of docsession with Zoho's published Node SDK (@zoho-corp/office-integrator-sdk 1.0.0).
//
// Drives every Writer, Sheet, Show and plan operation of the Node SDK (it has no PDF editor) against a running
// docsession and checks the class the SDK decoded (instanceof) and the values. Stops at the first failure with a
// message and exit code 1.
//
// Environment (tests/sdk/run.sh sets it):
//   OI_BASE_URL             base URL of the server, e.g. http://127.0.0.1:8080 (required)
//   OI_APIKEY               an unlimited API key (required)
//   OI_LIMITED_APIKEY       a fresh key created with `--limit 2` (main scenario; skipped if unset)
//   OI_SCENARIO             main (default) or expiry (server runs with DOCSESSION_SESSION_TTL=2s)
//   OI_SESSION_TTL_SECONDS  the server's session TTL (default 21600, i.e. 6 h)
//   OI_DEBUG                set to print full stack traces
//
// Node SDK 1.0.0 facts this relies on: SDK.ApiServer.Production (SDK.DataCenter is undefined), nested-object
// setters are async (await them), Map members must be real Maps, Long values decode to BigInt.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import zlib from "node:zlib";
import crypto from "node:crypto";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(HERE, "..", "fixtures");

let SDK;
try {
  SDK = await import("@zoho-corp/office-integrator-sdk");
} catch (err) {
  console.error(`node SDK not importable (${err.message}).\nInstall it: cd ${HERE} && npm ci`);
  process.exit(2);
}
const V1 = SDK.V1;

// ---------------------------------------------------------------------------------------------- configuration

const BASE = (process.env.OI_BASE_URL || "").replace(/\/+$/, "");
const APIKEY = process.env.OI_APIKEY || "";
const LIMITED_APIKEY = process.env.OI_LIMITED_APIKEY || "";
const SCENARIO = process.env.OI_SCENARIO || "main";
const TTL_MS = Math.round(Number(process.env.OI_SESSION_TTL_SECONDS || "21600") * 1000);
const INVALID_APIKEY = "0123456789abcdef0123456789abcdef0badc0de"; // well-formed, never issued
const RUN = crypto.randomBytes(5).toString("hex");
const SAVE_URL = "https://integrator.example.com/save"; // never called: no test saves

const WRITER = "/writer/officeapi/v1";
const SHEET = "/sheet/officeapi/v1";
const SHOW = "/show/officeapi/v1";
const SESSION_DELETE = { writer: `${WRITER}/sessions/`, sheet: `${SHEET}/session/`, show: `${SHOW}/session/` };
const DOCUMENT_DELETE = { writer: `${WRITER}/documents/`, sheet: `${SHEET}/spreadsheet/`, show: `${SHOW}/presentation/` };

const OPS = new V1.V1Operations();

// ---------------------------------------------------------------------------------------------- reporting

let PASSED = 0;
let STEP = "start";

class Failure extends Error {}

function step(name) {
  STEP = name;
  console.log(`[node] ${name}`);
}
function ok() {
  PASSED += 1;
}
function fail(message) {
  throw new Failure(message);
}
function check(condition, message) {
  if (!condition) fail(message);
  ok();
}
function show(value) {
  return typeof value === "bigint" ? `${value}n` : JSON.stringify(value);
}
function eq(actual, expected, what) {
  const same = Array.isArray(expected)
    ? Array.isArray(actual) && actual.length === expected.length && actual.every((v, i) => v === expected[i])
    : actual === expected;
  if (!same) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  ok();
}
function nonEmptyString(value, what) {
  if (typeof value !== "string" || value.length === 0) fail(`${what}: expected a non-empty string, got ${show(value)}`);
  ok();
  return value;
}
function isInteger(value, what) {
  // Integer members decode to numbers, Long members to BigInt.
  const n = typeof value === "bigint" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n)) fail(`${what}: expected an integer, got ${show(value)}`);
  ok();
  return n;
}
function long(value) {
  return typeof value === "bigint" ? Number(value) : value;
}

function describe(obj) {
  if (obj === null || obj === undefined) return String(obj);
  if (obj instanceof V1.InvalidConfigurationException) {
    return `InvalidConfigurationException(code=${show(obj.getCode())}, message=${show(obj.getMessage())}, ` +
      `parameter_name=${show(obj.getParameterName())}, key_name=${show(obj.getKeyName())})`;
  }
  const fields = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k !== "keyModified") fields[k] = typeof v === "bigint" ? `${v}n` : v;
  }
  let text;
  try {
    text = JSON.stringify(fields);
  } catch {
    text = "{...}";
  }
  return `${obj.constructor?.name ?? typeof obj}${text}`;
}

function decoded(resp, what) {
  if (resp === null || resp === undefined) fail(`${what}: the SDK returned no response`);
  const obj = resp.getObject();
  if (obj === null || obj === undefined) {
    fail(`${what}: the SDK decoded no object (HTTP ${resp.getStatusCode()}, content-type ` +
      `${show(resp.getHeaders()?.get?.("content-type") ?? resp.getHeaders()?.get?.("Content-Type"))}): ` +
      "only HTTP 200/400 with a listed content type decode");
  }
  return obj;
}

function expect(resp, cls, what, status = 200) {
  const obj = decoded(resp, what);
  if (!(obj instanceof cls)) {
    fail(`${what}: expected ${cls.name}, the SDK decoded ${describe(obj)} (HTTP ${resp.getStatusCode()})`);
  }
  ok();
  eq(resp.getStatusCode(), status, `${what}: HTTP status`);
  return obj;
}

function expectError(resp, code, what) {
  const err = expect(resp, V1.InvalidConfigurationException, what, 400);
  eq(err.getCode(), code, `${what}: error code (${describe(err)})`);
  nonEmptyString(err.getMessage(), `${what}: error message`);
  return err;
}

// ---------------------------------------------------------------------------------------------- SDK setup

async function useKey(apikey) {
  const env = new SDK.ApiServer.Production(BASE);
  const auth = new SDK.AuthBuilder()
    .addParam("apikey", apikey)
    .authenticationSchema(await new V1.Authentication().getTokenFlow())
    .build();
  await (await new SDK.InitializeBuilder())
    .environment(env)
    .tokens([auth])
    .logger(new SDK.LogBuilder().level(SDK.Levels.OFF).build())
    .SDKConfig(new SDK.SDKConfigBuilder().timeout(120000).build())
    .initialize();
}

/** A fixture uploaded from a path: the SDK sends filename=<basename> and a content type guessed from it. */
function upload(name) {
  return new SDK.StreamWrapper(null, null, path.join(FIXTURES, name));
}

/** An upload from a Buffer: the SDK sends the part with no filename at all. */
function uploadBuffer(buffer) {
  return new SDK.StreamWrapper("in-memory.docx", buffer);
}

async function openInBrowser(url, what) {
  let response;
  try {
    response = await fetch(url, { redirect: "follow" });
    await response.arrayBuffer();
  } catch (err) {
    fail(`${what}: GET ${url} failed: ${err.message}`);
  }
  eq(response.status, 200, `${what}: HTTP status of GET ${url}`);
}

// A stored (uncompressed) zip, enough for a docx padded to 20 MB.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  if (typeof zlib.crc32 === "function") return zlib.crc32(buf) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function storedZip(entries) {
  const parts = [];
  const central = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8");
    const nameBuf = Buffer.from(name, "utf8");
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x5821, 12); // date 2024-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    parts.push(local, nameBuf, data);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt16LE(0, 12);
    cd.writeUInt16LE(0x5821, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(nameBuf.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, nameBuf);
    offset += local.length + nameBuf.length + data.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, end]);
}
function bigDocx(padding) {
  const decl = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
  const rel = "http://schemas.openxmlformats.org/package/2006/relationships";
  return storedZip([
    ["[Content_Types].xml", `${decl}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      '<Default Extension="bin" ContentType="application/octet-stream"/>' +
      '<Override PartName="/word/document.xml" ' +
      'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'],
    ["_rels/.rels", `${decl}<Relationships xmlns="${rel}"><Relationship Id="rId1" ` +
      'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" ' +
      'Target="word/document.xml"/></Relationships>'],
    ["word/_rels/document.xml.rels", `${decl}<Relationships xmlns="${rel}"></Relationships>`],
    ["word/document.xml", `${decl}<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">` +
      "<w:body><w:p><w:r><w:t>A large document.</w:t></w:r></w:p></w:body></w:document>"],
    ["docProps/padding.bin", Buffer.alloc(padding)],
  ]);
}

// ---------------------------------------------------------------------------------------------- shared checks

function checkCreate(obj, editor, what, documentId = null, cls = V1.CreateDocumentResponse) {
  check(obj instanceof cls, `${what}: ${describe(obj)} is not a ${cls.name}`);
  const keys = ["DocumentUrl", "DocumentId", "SaveUrl", "SessionId", "SessionDeleteUrl", "DocumentDeleteUrl"];
  if (cls === V1.CreateSheetResponse) keys.push("GridviewUrl");
  for (const key of keys) {
    const value = nonEmptyString(obj[`get${key}`](), `${what}: ${key}`);
    if (key.endsWith("Url")) check(value.startsWith(`${BASE}/`), `${what}: ${key} ${show(value)} is not under ${BASE}/`);
  }
  if (documentId !== null) eq(obj.getDocumentId(), documentId, `${what}: document_id`);
  eq(obj.getSessionDeleteUrl(), BASE + SESSION_DELETE[editor] + obj.getSessionId(), `${what}: session_delete_url`);
  eq(obj.getDocumentDeleteUrl(), BASE + DOCUMENT_DELETE[editor] + obj.getDocumentId(), `${what}: document_delete_url`);
  return obj;
}

function checkTimes(meta, what) {
  const created = isInteger(meta.getCreatedTimeMs(), `${what}: created_time_ms`);
  const expires = isInteger(meta.getExpiresOnMs(), `${what}: expires_on_ms`);
  for (const [key, ms, text] of [["created_time", created, meta.getCreatedTime()],
    ["expires_on", expires, meta.getExpiresOn()]]) {
    nonEmptyString(text, `${what}: ${key}`);
    check(text.endsWith("Z"), `${what}: ${key} ${show(text)} is not ISO-8601 UTC`);
    const parsed = Date.parse(text);
    check(Number.isFinite(parsed) && Math.abs(parsed - ms) < 1000,
      `${what}: ${key} ${show(text)} does not match ${key}_ms ${ms}`);
  }
  return [created, expires];
}

function checkSession(meta, editor, sessionId, documentId, status, what,
  { userId = null, displayName = null, sessionUrl = null } = {}) {
  check(meta instanceof V1.SessionMeta, `${what}: ${describe(meta)} is not a SessionMeta`);
  eq(meta.getStatus(), status, `${what}: status`);
  const info = meta.getInfo();
  check(info instanceof V1.SessionInfo, `${what}: info is ${describe(info)}, not a SessionInfo`);
  eq(info.getDocumentId(), documentId, `${what}: info.document_id`);
  const [created, expires] = checkTimes(info, `${what}: info`);
  check(Math.abs(expires - created - TTL_MS) <= 1000,
    `${what}: expires_on_ms - created_time_ms = ${expires - created}, expected the TTL ${TTL_MS}`);
  const url = nonEmptyString(info.getSessionUrl(), `${what}: info.session_url`);
  check(url.startsWith(`${BASE}/`), `${what}: info.session_url ${show(url)} is not under ${BASE}/`);
  if (sessionUrl !== null) eq(url, sessionUrl, `${what}: info.session_url`);
  eq(info.getSessionDeleteUrl(), BASE + SESSION_DELETE[editor] + sessionId, `${what}: info.session_delete_url`);
  if (userId !== null || displayName !== null) {
    const user = meta.getUserInfo();
    check(user instanceof V1.SessionUserInfo, `${what}: user_info is ${describe(user)}, not a SessionUserInfo`);
    if (userId !== null) eq(user.getUserId(), userId, `${what}: user_info.user_id`);
    if (displayName !== null) eq(user.getDisplayName(), displayName, `${what}: user_info.display_name`);
  }
  return meta;
}

function checkDocumentMeta(meta, documentId, what, { name = null, type = null, collaborators = null } = {}) {
  check(meta instanceof V1.DocumentMeta && !(meta instanceof V1.AllSessionsResponse),
    `${what}: ${describe(meta)} is not a DocumentMeta`);
  eq(meta.getDocumentId(), documentId, `${what}: document_id`);
  nonEmptyString(meta.getDocumentName(), `${what}: document_name`);
  if (name !== null) eq(meta.getDocumentName(), name, `${what}: document_name`);
  nonEmptyString(meta.getDocumentType(), `${what}: document_type`);
  if (type !== null) eq(meta.getDocumentType(), type, `${what}: document_type`);
  isInteger(meta.getCollaboratorsCount(), `${what}: collaborators_count`);
  isInteger(meta.getActiveSessionsCount(), `${what}: active_sessions_count`);
  if (collaborators !== null) eq(meta.getCollaboratorsCount(), collaborators, `${what}: collaborators_count`);
  checkTimes(meta, what);
  return meta;
}

async function plan(what) {
  return expect(await OPS.getPlanDetails(), V1.PlanDetails, what);
}

function checkPlan(details, what, usageLimit, totalUsage = null) {
  nonEmptyString(details.getPlanName(), `${what}: plan_name`);
  eq(long(details.getUsageLimit()), usageLimit, `${what}: usage_limit`);
  const total = isInteger(details.getTotalUsage(), `${what}: total_usage`);
  check(total >= 0, `${what}: total_usage ${total} is negative`);
  if (totalUsage !== null) eq(total, totalUsage, `${what}: total_usage`);
  if (usageLimit >= 0) eq(long(details.getRemainingUsageLimit()), usageLimit - total, `${what}: remaining_usage_limit`);
  return total;
}

// ---------------------------------------------------------------------------------------------- parameters

async function documentInfo(documentId, name) {
  const info = new V1.DocumentInfo();
  if (documentId !== null) info.setDocumentId(documentId);
  if (name !== null) info.setDocumentName(name);
  return info;
}

async function writerParams(documentId, name, userId, displayName, document = null) {
  const p = new V1.CreateDocumentParameters();
  if (document !== null) p.setDocument(document);
  await p.setDocumentInfo(await documentInfo(documentId, name));
  const user = new V1.UserInfo();
  user.setUserId(userId);
  user.setDisplayName(displayName);
  await p.setUserInfo(user);
  p.setPermissions(new Map([
    ["document.export", true], ["document.print", true], ["document.edit", true], ["review.comment", true],
    ["review.changes.resolve", false], ["collab.chat", true], ["document.pausecollaboration", false],
    ["document.fill", false],
  ]));
  const callback = new V1.CallbackSettings();
  callback.setSaveFormat("docx");
  callback.setSaveUrl(SAVE_URL);
  callback.setHttpMethodType("post");
  callback.setRetries(1);
  callback.setTimeout(10000);
  callback.setSaveUrlParams(new Map([["id", "123"], ["extension", "$format"], ["sid", "$session_id"]]));
  callback.setSaveUrlHeaders(new Map([["x-token", "secret-1"]]));
  await p.setCallbackSettings(callback);
  const editor = new V1.EditorSettings();
  editor.setUnit("in");
  editor.setLanguage("en");
  editor.setView("pageview");
  await p.setEditorSettings(editor);
  const defaults = new V1.DocumentDefaults();
  defaults.setOrientation("portrait");
  defaults.setPaperSize("Letter");
  defaults.setFontName("Arial");
  defaults.setFontSize(12);
  defaults.setTrackChanges("disabled");
  defaults.setLanguage("en-US");
  const margin = new V1.Margin();
  margin.setTop("1in");
  margin.setBottom("1in");
  margin.setLeft("1.25in");
  margin.setRight("1.25in");
  await defaults.setMargin(margin);
  await p.setDocumentDefaults(defaults);
  const ui = new V1.UiOptions();
  ui.setSaveButton("show");
  ui.setChatPanel("show");
  ui.setFileMenu("show");
  ui.setDarkMode("hide");
  await p.setUiOptions(ui);
  return p;
}

async function namedDoc(Cls, documentId, name, document) {
  const p = new Cls();
  p.setDocument(document);
  await p.setDocumentInfo(await documentInfo(documentId, name));
  return p;
}

async function sheetParams(documentId, name, displayName, document = null) {
  const p = new V1.CreateSheetParameters();
  if (document !== null) p.setDocument(document);
  await p.setDocumentInfo(await documentInfo(documentId, name));
  const user = new V1.SheetUserSettings();
  user.setDisplayName(displayName);
  await p.setUserInfo(user);
  p.setPermissions(new Map([["document.export", true], ["document.print", true], ["document.edit", true]]));
  const callback = new V1.SheetCallbackSettings();
  callback.setSaveFormat("xlsx");
  callback.setSaveUrl(SAVE_URL);
  callback.setSaveUrlParams(new Map([["id", "456"], ["name", "$filename"]]));
  callback.setSaveUrlHeaders(new Map([["x-token", "secret-2"]]));
  await p.setCallbackSettings(callback);
  const editor = new V1.SheetEditorSettings();
  editor.setLanguage("en");
  editor.setCountry("US");
  await p.setEditorSettings(editor);
  const ui = new V1.SheetUiOptions();
  ui.setSaveButton("show");
  await p.setUiOptions(ui);
  return p;
}

async function showParams(documentId, name, userId, displayName, document = null) {
  const p = new V1.CreatePresentationParameters();
  if (document !== null) p.setDocument(document);
  await p.setDocumentInfo(await documentInfo(documentId, name));
  const user = new V1.UserInfo();
  user.setUserId(userId);
  user.setDisplayName(displayName);
  await p.setUserInfo(user);
  p.setPermissions(new Map([["document.export", true], ["document.print", false], ["document.edit", true]]));
  const callback = new V1.CallbackSettings();
  callback.setSaveFormat("pptx");
  callback.setSaveUrl(SAVE_URL);
  callback.setHttpMethodType("put");
  callback.setRetries(2);
  callback.setTimeout(20000);
  callback.setSaveUrlParams(new Map([["id", "789"]]));
  callback.setSaveUrlHeaders(new Map([["x-token", "secret-3"]]));
  await p.setCallbackSettings(callback);
  const editor = new V1.ZohoShowEditorSettings();
  editor.setLanguage("en");
  await p.setEditorSettings(editor);
  return p;
}

// ---------------------------------------------------------------------------------------------- scenarios

const usage = { opens: 0 };

async function testWriter(planStart) {
  const docId = `node-${RUN}-writer`;
  const name = "O'Brien's plan";
  const wireName = "O\u2019Brien\u2019s plan";

  step("writer: create with every parameter object and an uploaded docx");
  const r1 = expect(await OPS.createDocument(await writerParams(docId, name, "1000", "Ada Lovelace",
    upload("sample.docx"))), V1.CreateDocumentResponse, "createDocument");
  usage.opens += 1;
  checkCreate(r1, "writer", "createDocument", docId);
  check(r1.getDocumentUrl() !== r1.getSaveUrl(), "createDocument: document_url equals save_url");

  step("plan: total_usage moved by exactly one open");
  checkPlan(await plan("getPlanDetails after one open"), "plan after one open", -1, planStart + 1);

  step("writer: session info is inactive until the session URL is opened");
  let s1 = expect(await OPS.getSession(r1.getSessionId()), V1.SessionMeta, "getSession");
  checkSession(s1, "writer", r1.getSessionId(), docId, "inactive", "getSession (new)",
    { userId: "1000", displayName: "Ada Lovelace", sessionUrl: r1.getDocumentUrl() });
  await openInBrowser(r1.getDocumentUrl(), "writer document_url");
  s1 = expect(await OPS.getSession(r1.getSessionId()), V1.SessionMeta, "getSession after opening");
  checkSession(s1, "writer", r1.getSessionId(), docId, "active", "getSession (opened)",
    { userId: "1000", displayName: "Ada Lovelace" });

  step("writer: co-edit with the same document_id and a second user");
  const r2 = expect(await OPS.createDocument(await writerParams(docId, name, "1001", "Grace Hopper",
    upload("sample2.docx"))), V1.CreateDocumentResponse, "createDocument (co-edit)");
  usage.opens += 1;
  checkCreate(r2, "writer", "co-edit", docId);
  check(r2.getSessionId() !== r1.getSessionId(), "co-edit: the session_id was not new");
  checkSession(expect(await OPS.getSession(r2.getSessionId()), V1.SessionMeta, "getSession (co-editor)"),
    "writer", r2.getSessionId(), docId, "inactive", "getSession (co-editor)",
    { userId: "1001", displayName: "Grace Hopper" });

  step("writer: all sessions lists both sessions");
  let all = expect(await OPS.getAllSessions(docId), V1.AllSessionsResponse, "getAllSessions");
  eq(all.getDocumentId(), docId, "getAllSessions: document_id");
  eq(all.getDocumentName(), wireName, "getAllSessions: document_name");
  eq(all.getCollaboratorsCount(), 2, "getAllSessions: collaborators_count");
  let sessions = all.getSessions();
  check(Array.isArray(sessions), `getAllSessions: sessions is ${describe(sessions)}, not an array`);
  eq(sessions.length, 2, "getAllSessions: number of sessions");
  for (const meta of sessions) {
    check(meta instanceof V1.SessionMeta, `getAllSessions: a session is ${describe(meta)}`);
    eq(meta.getInfo().getDocumentId(), docId, "getAllSessions: sessions[].info.document_id");
  }
  eq(sessions.map((m) => m.getInfo().getSessionDeleteUrl()).sort(),
    [r1.getSessionDeleteUrl(), r2.getSessionDeleteUrl()].sort(), "getAllSessions: the sessions listed");
  eq(sessions.map((m) => m.getUserInfo().getUserId()).sort(), ["1000", "1001"], "getAllSessions: user ids");

  step("writer: document info (apostrophes come back as U+2019)");
  checkDocumentMeta(expect(await OPS.getDocumentInfo(docId), V1.DocumentMeta, "getDocumentInfo"), docId,
    "getDocumentInfo", { name: wireName, type: "document", collaborators: 2 });

  step("writer: delete one session");
  const deletedSession = expect(await OPS.deleteSession(r2.getSessionId()),
    V1.DocumentSessionDeleteSuccessResponse, "deleteSession");
  eq(deletedSession.getSessionDeleted(), true, "deleteSession: session_deleted");
  expectError(await OPS.getSession(r2.getSessionId()), 1833, "getSession of a deleted session");
  expectError(await OPS.deleteSession(r2.getSessionId()), 1833, "deleteSession again");
  all = expect(await OPS.getAllSessions(docId), V1.AllSessionsResponse, "getAllSessions after delete");
  sessions = all.getSessions();
  eq(sessions.length, 1, "getAllSessions after delete: number of sessions");
  eq(sessions[0].getInfo().getSessionDeleteUrl(), r1.getSessionDeleteUrl(), "getAllSessions after delete: remaining");
  checkSession(expect(await OPS.getSession(r1.getSessionId()), V1.SessionMeta, "getSession of the other session"),
    "writer", r1.getSessionId(), docId, "active", "the other session survives");

  step("writer: delete the document");
  const deletedDoc = expect(await OPS.deleteDocument(docId), V1.DocumentDeleteSuccessResponse, "deleteDocument");
  eq(deletedDoc.getDocumentDeleted(), true, "deleteDocument: document_deleted");
  expectError(await OPS.getDocumentInfo(docId), 1844, "getDocumentInfo of a deleted document");
  expectError(await OPS.getAllSessions(docId), 1844, "getAllSessions of a deleted document");
  expectError(await OPS.getSession(r1.getSessionId()), 1833, "getSession of a deleted document");
  expectError(await OPS.deleteDocument(docId), 1844, "deleteDocument again");

  step("writer: non-ASCII name, upload from a Buffer (no filename)");
  const uniId = `node-${RUN}-unicode`;
  const uniName = "\u00dcber na\u00efve \u6587\u6863";
  let r = expect(await OPS.createDocument(await namedDoc(V1.CreateDocumentParameters, uniId, uniName,
    uploadBuffer(readFileSync(path.join(FIXTURES, "sample.docx"))))), V1.CreateDocumentResponse,
  "createDocument (non-ASCII, Buffer upload)");
  usage.opens += 1;
  checkCreate(r, "writer", "createDocument (non-ASCII)", uniId);
  checkDocumentMeta(expect(await OPS.getDocumentInfo(uniId), V1.DocumentMeta, "getDocumentInfo (non-ASCII)"),
    uniId, "getDocumentInfo (non-ASCII)", { name: uniName });
  expect(await OPS.deleteDocument(uniId), V1.DocumentDeleteSuccessResponse, "deleteDocument (non-ASCII)");

  step("writer: empty create (no parameters at all)");
  r = expect(await OPS.createDocument(new V1.CreateDocumentParameters()), V1.CreateDocumentResponse,
    "createDocument (empty)");
  usage.opens += 1;
  checkCreate(r, "writer", "createDocument (empty)");
  checkSession(expect(await OPS.getSession(r.getSessionId()), V1.SessionMeta, "getSession (empty create)"),
    "writer", r.getSessionId(), r.getDocumentId(), "inactive", "getSession (empty create)");
  checkDocumentMeta(expect(await OPS.getDocumentInfo(r.getDocumentId()), V1.DocumentMeta,
    "getDocumentInfo (empty)"), r.getDocumentId(), "getDocumentInfo (empty)", { type: "document", collaborators: 1 });
  expect(await OPS.deleteDocument(r.getDocumentId()), V1.DocumentDeleteSuccessResponse, "deleteDocument (empty)");

  step("writer: 20 MB docx upload");
  const big = bigDocx(20 * 1024 * 1024);
  const bigId = `node-${RUN}-big`;
  r = expect(await OPS.createDocument(await namedDoc(V1.CreateDocumentParameters, bigId, "big.docx",
    uploadBuffer(big))), V1.CreateDocumentResponse, "createDocument (20 MB)");
  usage.opens += 1;
  checkCreate(r, "writer", "createDocument (20 MB)", bigId);
  checkDocumentMeta(expect(await OPS.getDocumentInfo(bigId), V1.DocumentMeta, "getDocumentInfo (20 MB)"),
    bigId, "getDocumentInfo (20 MB)", { name: "big.docx" });
  expect(await OPS.deleteDocument(bigId), V1.DocumentDeleteSuccessResponse, "deleteDocument (20 MB)");

  step("writer: preview");
  let p = new V1.PreviewParameters();
  p.setDocument(upload("sample.docx"));
  const previewInfo = new V1.PreviewDocumentInfo();
  previewInfo.setDocumentName("Preview of O'Brien's plan");
  await p.setDocumentInfo(previewInfo);
  p.setPermissions(new Map([["document.print", true]]));
  r = expect(await OPS.createDocumentPreview(p), V1.PreviewResponse, "createDocumentPreview");
  usage.opens += 1;
  for (const key of ["PreviewUrl", "DocumentId", "SessionId"]) nonEmptyString(r[`get${key}`](), `preview: ${key}`);
  check(r.getPreviewUrl().startsWith(`${BASE}/`), `preview_url ${show(r.getPreviewUrl())} is not ours`);

  step("writer: compare two documents");
  p = new V1.CompareDocumentParameters();
  p.setDocument1(upload("sample.docx"));
  p.setDocument2(upload("sample2.docx"));
  p.setTitle("Version 1 vs version 2");
  p.setLang("en");
  r = expect(await OPS.compareDocument(p), V1.CompareDocumentResponse, "compareDocument");
  usage.opens += 1;
  check(nonEmptyString(r.getCompareUrl(), "compare_url").startsWith(`${BASE}/`), "compare_url is not ours");
  nonEmptyString(r.getSessionDeleteUrl(), "compareDocument: session_delete_url");

  step("writer: mail merge template");
  const mergeId = `node-${RUN}-merge`;
  p = await namedDoc(V1.MailMergeTemplateParameters, mergeId, "Merge template", upload("template.docx"));
  const user = new V1.UserInfo();
  user.setUserId("1000");
  user.setDisplayName("Ada Lovelace");
  await p.setUserInfo(user);
  r = expect(await OPS.createMailMergeTemplate(p), V1.CreateDocumentResponse, "createMailMergeTemplate");
  usage.opens += 1;
  checkCreate(r, "writer", "createMailMergeTemplate", mergeId);
  checkDocumentMeta(expect(await OPS.getDocumentInfo(mergeId), V1.DocumentMeta, "getDocumentInfo (merge template)"),
    mergeId, "getDocumentInfo (merge template)", { type: "merge_template" });
  expect(await OPS.deleteDocument(mergeId), V1.DocumentDeleteSuccessResponse, "deleteDocument (merge template)");

  step("writer: fillable template");
  const fillId = `node-${RUN}-fillable`;
  r = expect(await OPS.createFillableTemplateDocument(await namedDoc(V1.CreateDocumentParameters, fillId,
    "Fillable form", upload("sample.docx"))), V1.CreateDocumentResponse, "createFillableTemplateDocument");
  usage.opens += 1;
  checkCreate(r, "writer", "createFillableTemplateDocument", fillId);
  checkDocumentMeta(expect(await OPS.getDocumentInfo(fillId), V1.DocumentMeta, "getDocumentInfo (fillable)"),
    fillId, "getDocumentInfo (fillable)", { type: "fillable_template" });
  expect(await OPS.deleteDocument(fillId), V1.DocumentDeleteSuccessResponse, "deleteDocument (fillable)");

  step("writer: unknown ids");
  expectError(await OPS.getSession("no-such-session"), 1833, "getSession (unknown)");
  expectError(await OPS.deleteSession("no-such-session"), 1833, "deleteSession (unknown)");
  expectError(await OPS.getDocumentInfo(`node-${RUN}-missing`), 1844, "getDocumentInfo (unknown)");
  expectError(await OPS.getAllSessions(`node-${RUN}-missing`), 1844, "getAllSessions (unknown)");
  expectError(await OPS.deleteDocument(`node-${RUN}-missing`), 1844, "deleteDocument (unknown)");
}

async function testSheet() {
  const docId = `node-${RUN}-sheet`;

  step("sheet: create with every parameter object and an uploaded xlsx");
  const r1 = expect(await OPS.createSheet(await sheetParams(docId, "Budget.xlsx", "Ada Lovelace",
    upload("sample.xlsx"))), V1.CreateSheetResponse, "createSheet");
  usage.opens += 1;
  checkCreate(r1, "sheet", "createSheet", docId, V1.CreateSheetResponse);

  step("sheet: session info, inactive then active");
  checkSession(expect(await OPS.getSheetSession(r1.getSessionId()), V1.SessionMeta, "getSheetSession"),
    "sheet", r1.getSessionId(), docId, "inactive", "getSheetSession (new)", { displayName: "Ada Lovelace" });
  await openInBrowser(r1.getDocumentUrl(), "sheet document_url");
  checkSession(expect(await OPS.getSheetSession(r1.getSessionId()), V1.SessionMeta, "getSheetSession (opened)"),
    "sheet", r1.getSessionId(), docId, "active", "getSheetSession (opened)");

  step("sheet: co-edit");
  const r2 = expect(await OPS.createSheet(await sheetParams(docId, "Budget.xlsx", "Grace Hopper",
    upload("sample.xlsx"))), V1.CreateSheetResponse, "createSheet (co-edit)");
  usage.opens += 1;
  checkCreate(r2, "sheet", "createSheet (co-edit)", docId, V1.CreateSheetResponse);
  check(r2.getSessionId() !== r1.getSessionId(), "sheet co-edit: the session_id was not new");
  checkSession(expect(await OPS.getSheetSession(r2.getSessionId()), V1.SessionMeta, "getSheetSession (co-editor)"),
    "sheet", r2.getSessionId(), docId, "inactive", "getSheetSession (co-editor)", { displayName: "Grace Hopper" });

  step("sheet: preview");
  const p = new V1.SheetPreviewParameters();
  p.setDocument(upload("sample.xlsx"));
  p.setLanguage("en");
  p.setPermissions(new Map([["document.export", false], ["document.print", true]]));
  const r = expect(await OPS.createSheetPreview(p), V1.SheetPreviewResponse, "createSheetPreview");
  usage.opens += 1;
  for (const key of ["PreviewUrl", "GridviewUrl", "DocumentId", "SessionId"]) {
    nonEmptyString(r[`get${key}`](), `createSheetPreview: ${key}`);
  }

  step("sheet: delete session");
  let d = expect(await OPS.deleteSheetSession(r2.getSessionId()), V1.SessionDeleteSuccessResponse,
    "deleteSheetSession");
  eq(d.getSessionDelete(), "true", "deleteSheetSession: session_delete");
  expectError(await OPS.getSheetSession(r2.getSessionId()), 1833, "getSheetSession of a deleted session");
  expectError(await OPS.deleteSheetSession(r2.getSessionId()), 1833, "deleteSheetSession again");
  checkSession(expect(await OPS.getSheetSession(r1.getSessionId()), V1.SessionMeta, "getSheetSession (other)"),
    "sheet", r1.getSessionId(), docId, "active", "the other sheet session survives");

  step("sheet: delete spreadsheet");
  d = expect(await OPS.deleteSheet(docId), V1.FileDeleteSuccessResponse, "deleteSheet");
  eq(d.getDocDelete(), "true", "deleteSheet: doc_delete");
  expectError(await OPS.getSheetSession(r1.getSessionId()), 1833, "getSheetSession of a deleted spreadsheet");
  expectError(await OPS.deleteSheet(docId), 1844, "deleteSheet again");

  step("sheet: empty create (no parameters at all)");
  const e = expect(await OPS.createSheet(new V1.CreateSheetParameters()), V1.CreateSheetResponse,
    "createSheet (empty)");
  usage.opens += 1;
  checkCreate(e, "sheet", "createSheet (empty)", null, V1.CreateSheetResponse);
  checkSession(expect(await OPS.getSheetSession(e.getSessionId()), V1.SessionMeta, "getSheetSession (empty create)"),
    "sheet", e.getSessionId(), e.getDocumentId(), "inactive", "getSheetSession (empty create)");
  expect(await OPS.deleteSheet(e.getDocumentId()), V1.FileDeleteSuccessResponse, "deleteSheet (empty)");

  step("sheet: unknown ids");
  expectError(await OPS.getSheetSession("no-such-session"), 1833, "getSheetSession (unknown)");
  expectError(await OPS.deleteSheetSession("no-such-session"), 1833, "deleteSheetSession (unknown)");
  expectError(await OPS.deleteSheet(`node-${RUN}-missing`), 1844, "deleteSheet (unknown)");
}

async function testShow() {
  const docId = `node-${RUN}-show`;

  step("show: create with every parameter object and an uploaded pptx");
  const r1 = expect(await OPS.createPresentation(await showParams(docId, "Deck.pptx", "1000", "Ada Lovelace",
    upload("sample.pptx"))), V1.CreateDocumentResponse, "createPresentation");
  usage.opens += 1;
  checkCreate(r1, "show", "createPresentation", docId);

  step("show: session info, inactive then active");
  checkSession(expect(await OPS.getPresentationSession(r1.getSessionId()), V1.SessionMeta,
    "getPresentationSession"), "show", r1.getSessionId(), docId, "inactive", "getPresentationSession (new)",
  { userId: "1000", displayName: "Ada Lovelace" });
  await openInBrowser(r1.getDocumentUrl(), "show document_url");
  checkSession(expect(await OPS.getPresentationSession(r1.getSessionId()), V1.SessionMeta,
    "getPresentationSession (opened)"), "show", r1.getSessionId(), docId, "active", "getPresentationSession (opened)");

  step("show: preview");
  const p = new V1.PresentationPreviewParameters();
  p.setDocument(upload("sample.pptx"));
  p.setLanguage("en");
  await p.setDocumentInfo(await documentInfo(null, "Deck preview"));
  const r = expect(await OPS.createPresentationPreview(p), V1.PreviewResponse, "createPresentationPreview");
  usage.opens += 1;
  for (const key of ["PreviewUrl", "DocumentId", "SessionId"]) {
    nonEmptyString(r[`get${key}`](), `createPresentationPreview: ${key}`);
  }

  step("show: delete session");
  let d = expect(await OPS.deletePresentationSession(r1.getSessionId()), V1.SessionDeleteSuccessResponse,
    "deletePresentationSession");
  eq(d.getSessionDelete(), "true", "deletePresentationSession: session_delete");
  expectError(await OPS.getPresentationSession(r1.getSessionId()), 1833, "getPresentationSession (deleted)");
  expectError(await OPS.deletePresentationSession(r1.getSessionId()), 1833, "deletePresentationSession again");

  step("show: delete presentation");
  d = expect(await OPS.deletePresentation(docId), V1.FileDeleteSuccessResponse, "deletePresentation");
  eq(d.getDocDelete(), "true", "deletePresentation: doc_delete");
  expectError(await OPS.deletePresentation(docId), 1844, "deletePresentation again");

  step("show: unknown ids");
  expectError(await OPS.getPresentationSession("no-such-session"), 1833, "getPresentationSession (unknown)");
  expectError(await OPS.deletePresentation(`node-${RUN}-missing`), 1844, "deletePresentation (unknown)");
}

async function testInvalidKey(sessionId) {
  step("errors: an invalid API key, per editor");
  await useKey(INVALID_APIKEY);
  expectError(await OPS.createDocument(new V1.CreateDocumentParameters()), 1846, "createDocument (invalid key)");
  expectError(await OPS.getSession(sessionId), 1846, "getSession (invalid key)");
  expectError(await OPS.createSheet(new V1.CreateSheetParameters()), 2890, "createSheet (invalid key)");
  expectError(await OPS.createPresentation(new V1.CreatePresentationParameters()), 3890,
    "createPresentation (invalid key)");
  expectError(await OPS.getPlanDetails(), 1846, "getPlanDetails (invalid key)");
  await useKey(APIKEY);
}

async function testUsageLimit() {
  step("usage limit: a key with --limit 2 (no grace at 2) refuses the 3rd open");
  await useKey(LIMITED_APIKEY);
  checkPlan(await plan("getPlanDetails (limited key)"), "limited plan at start", 2, 0);
  const first = expect(await OPS.createDocument(new V1.CreateDocumentParameters()), V1.CreateDocumentResponse,
    "limited open 1");
  expect(await OPS.createSheet(new V1.CreateSheetParameters()), V1.CreateSheetResponse, "limited open 2");
  checkPlan(await plan("getPlanDetails (limited key, 2 opens)"), "limited plan after 2 opens", 2, 2);
  expectError(await OPS.createDocument(new V1.CreateDocumentParameters()), 1845, "limited open 3, writer");
  expectError(await OPS.createSheet(new V1.CreateSheetParameters()), 2893, "limited open 3, sheet");
  expectError(await OPS.createPresentation(new V1.CreatePresentationParameters()), 3893, "limited open 3, show");
  const p = new V1.PreviewParameters();
  p.setDocument(upload("sample.docx"));
  expectError(await OPS.createDocumentPreview(p), 1845, "limited open 3, writer preview");
  checkPlan(await plan("getPlanDetails (limited key, refused)"), "limited plan after refusals", 2, 2);

  step("usage limit: reads and deletes still work past the limit");
  checkSession(expect(await OPS.getSession(first.getSessionId()), V1.SessionMeta, "getSession (limited key)"),
    "writer", first.getSessionId(), first.getDocumentId(), "inactive", "getSession (limited key)");
  expect(await OPS.deleteDocument(first.getDocumentId()), V1.DocumentDeleteSuccessResponse,
    "deleteDocument (limited key)");
  await useKey(APIKEY);
}

async function scenarioMain() {
  await useKey(APIKEY);

  step("plan: details of an unlimited key");
  const start = checkPlan(await plan("getPlanDetails"), "plan at start", -1);

  await testWriter(start);
  await testSheet();
  await testShow();

  const r = expect(await OPS.createDocument(new V1.CreateDocumentParameters()), V1.CreateDocumentResponse,
    "createDocument (for errors)");
  usage.opens += 1;
  await testInvalidKey(r.getSessionId());
  expect(await OPS.deleteDocument(r.getDocumentId()), V1.DocumentDeleteSuccessResponse, "deleteDocument (for errors)");

  step(`plan: total_usage moved by exactly the ${usage.opens} opens made`);
  checkPlan(await plan("getPlanDetails at the end"), "plan at the end", -1, start + usage.opens);

  if (LIMITED_APIKEY) await testUsageLimit();
  else console.log("[node] SKIP usage limit: OI_LIMITED_APIKEY is not set");
}

async function scenarioExpiry() {
  if (TTL_MS > 60000) {
    fail(`the expiry scenario needs a short TTL: set OI_SESSION_TTL_SECONDS (now ${TTL_MS / 1000} s) to the server's`);
  }
  await useKey(APIKEY);
  step(`expiry: sessions of every editor expire after the TTL (${TTL_MS} ms)`);
  const opened = [];
  let r = expect(await OPS.createDocument(await writerParams(`node-${RUN}-exp-w`, "Expiring", "1000",
    "Ada Lovelace")), V1.CreateDocumentResponse, "createDocument");
  opened.push(["writer", (sid) => OPS.getSession(sid), r]);
  r = expect(await OPS.createSheet(await sheetParams(`node-${RUN}-exp-s`, "Expiring.xlsx", "Ada Lovelace")),
    V1.CreateSheetResponse, "createSheet");
  opened.push(["sheet", (sid) => OPS.getSheetSession(sid), r]);
  r = expect(await OPS.createPresentation(await showParams(`node-${RUN}-exp-p`, "Expiring.pptx", "1000",
    "Ada Lovelace")), V1.CreateDocumentResponse, "createPresentation");
  opened.push(["show", (sid) => OPS.getPresentationSession(sid), r]);

  const deadline = Date.now() + 10 * TTL_MS + 10000;
  for (const [editor, get, created] of opened) {
    const what = `${editor} session after the TTL`;
    for (;;) {
      const resp = await get(created.getSessionId());
      const obj = decoded(resp, what);
      if (obj instanceof V1.SessionMeta) {
        checkSession(obj, editor, created.getSessionId(), created.getDocumentId(), "inactive", what);
        if (Date.now() > deadline) fail(`${what}: still served ${TTL_MS} ms after creation (${describe(obj)})`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      expectError(resp, 1834, what);
      break;
    }
  }
}

async function main() {
  if (!BASE || !APIKEY) {
    console.error("set OI_BASE_URL and OI_APIKEY (tests/sdk/run.sh does this)");
    return 2;
  }
  console.log(`[node] @zoho-corp/office-integrator-sdk against ${BASE}, scenario ${SCENARIO}`);
  try {
    if (SCENARIO === "main") await scenarioMain();
    else if (SCENARIO === "expiry") await scenarioExpiry();
    else {
      console.error(`unknown OI_SCENARIO ${show(SCENARIO)}`);
      return 2;
    }
  } catch (err) {
    if (err instanceof Failure) {
      console.error(`\nFAIL [node] ${STEP}\n  ${err.message}`);
    } else {
      console.error(`\nFAIL [node] ${STEP}: an exception was raised`);
      const frame = (err?.stack || "").split("\n").find((line) => line.includes("test_sdk.mjs"));
      if (frame) console.error(`  ${frame.trim()}`);
      for (let cause = err, depth = 0; cause && depth < 6; cause = cause.cause, depth += 1) {
        console.error(`  ${cause.constructor?.name ?? "Error"}: ${cause.message ?? cause}` +
          (cause.code ? ` (code ${cause.code})` : ""));
      }
      if (process.env.OI_DEBUG) console.error(err?.stack);
      else console.error("  (set OI_DEBUG=1 for the full stack)");
    }
    return 1;
  }
  console.log(`[node] OK: scenario ${SCENARIO}, ${PASSED} checks passed`);
  return 0;
}

process.exitCode = await main();
