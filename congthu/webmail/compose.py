"""Writing mail: the compose page ``/thu/soan`` (new, reply, reply-all, forward inline,
forward as attachment, a draft reopened), sending, saving drafts, and recipient
completion from the directory.

Sending goes through ``congthu.smtp.submit.submit``, the checks and delivery of port 587
(send-as, rate limit, recipients and Điều 7.7, size, the content pipeline of Điều 7.8,
8.1, 9.9, DKIM and the queue): the same refusals, shown on the page in the user's
language with the form kept. After a success a copy goes to ``\\Sent`` with ``\\Seen``
(with Bcc, RFC 5322 section 3.6.3) and the draft, if any, is removed.

Attachments (Điều 8.1): at most ``limits.attachment_mb`` per file, said on the page
before upload, checked by the page's script before sending, and here. Forward as
attachment (Điều 12.4) attaches the stored message byte for byte (``writing.build``).

Drafts (``drafts.py``): the page's script POSTs the form (without files) to
``/thu/soan/nhap`` every few seconds when it changed and when the page is left. A draft
keeps its attachments: "Lưu nháp" stores the chosen files in the draft message (through
``MailStore.append``, as an IMAP APPEND would), reopening the draft lists them ticked
(``giu``: their section numbers in the draft), and the next version (saved, autosaved)
or the message sent takes the ticked ones from the previous version, read back from the
user's own Drafts folder, plus any new files. A draft written as an organisation mailbox
(Điều 12) keeps that From and reopens with it.

Rich text (``richtext.py``): with ``kieu=html`` the form's ``noi-dung-html`` (the editor's
HTML) is cleaned by the reader's allow-list, made NFC, and sent or stored as
``multipart/alternative`` with a plain text made from it; replies and forwards quote the
original's HTML cleaned the same way (its text, escaped, when it has none), and the
signature is put in as HTML. Each user's choice of rich or plain is remembered
(``/thu/soan/kieu``, and each message sent).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from congthu import delegation
from congthu.directory import Directory
from congthu.mailrules.rules import get_signature
from congthu.mailrules.signature import with_signature
from congthu.mime import decode_body, decode_words
from congthu.smtp.submit import submit
from congthu.store import Folder, NotFound
from congthu.store import flags as flagbits
from congthu.webmail import i18n, render
from congthu.webmail.context import HOME, Signed, WebContext, client_ip, first, read_form
from congthu.webmail.drafts import SOURCE_HEADER, drafts_folder, parse_source, read_draft, save_draft
from congthu.webmail.reading import (
    SECTION,
    Attachment,
    attachment_by_section,
    part_text,
    safe_filename,
    structure_of,
    view_of,
)
from congthu.webmail.richtext import (
    clean_html,
    editor_markup,
    forward_html,
    html_to_text,
    quote_html,
    signature_html,
    text_to_html,
)
from congthu.webmail.writing import (
    MSG_ID,
    Draft,
    Original,
    Upload,
    bad_addresses,
    build,
    forward_lines,
    forward_subject,
    forward_text,
    quote,
    quote_head,
    read_original,
    reply_subject,
    show_address,
    split_addresses,
    with_bcc,
)

COMPOSE = HOME + "/soan"
RICH, PLAIN = "html", "thuong"  # the form's ``kieu``: rich text or plain
KINDS = ("tra-loi", "tra-loi-tat-ca", "chuyen-tiep", "dinh-kem")
MAX_TEXT = 2_000_000  # characters of a body
MAX_FIELD = 20_000  # characters of an address field or subject
MAX_FILES = 20
JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _int(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 10 else 0


def _ref(value: str) -> tuple[int, int] | None:
    folder, _, uid = value.partition("-")
    return (_int(folder), _int(uid)) if _int(folder) and _int(uid) else None


def _json(value: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(value, ensure_ascii=False), status_code=status,
                    media_type="application/json", headers=JSON_HEADERS)


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    app = ctx.app
    store = app.store

    async def original_of(signed: Signed, ref: tuple[int, int]) -> tuple[Folder, Original] | None:
        folder = await ctx.own_folder(signed, ref[0])
        if folder is None:
            return None
        metas = await store.get_messages(folder.id, [ref[1]])
        if not metas:
            return None
        try:
            content = await store.get_content(metas[0].content_id)
            raw = await store.read_message(content.id)
        except NotFound:
            return None
        view = view_of(structure_of(content.structure, raw), raw)
        text = part_text(raw, view.text_part)[0] if view.text_part is not None else ""
        original = read_original(raw, text)
        if view.html_part is not None:
            original.html = part_text(raw, view.html_part)[0]
        if not original.subject:
            original.subject = decode_words(content.subject or "")
        return folder, original

    def prefill(kind: str, original: Original, own: str, lang: str, rich: bool) -> Draft:
        """The form of a reply, reply-all or forward (inline or as an attachment); in rich
        text the quotation is the original's HTML (cleaned when the page is made) or its
        text escaped."""
        draft = Draft()
        original_html = (original.html or text_to_html(original.text)) if rich else ""
        if kind in ("tra-loi", "tra-loi-tat-ca"):
            to = original.reply_to or original.from_
            draft.to = ", ".join(show_address(p) for p in to)
            if kind == "tra-loi-tat-ca":
                seen = {a.lower() for _n, a in to} | {own.lower()}
                cc = []
                for pair in original.to + original.cc:
                    if pair[1].lower() not in seen:
                        seen.add(pair[1].lower())
                        cc.append(pair)
                draft.cc = ", ".join(show_address(p) for p in cc)
            draft.subject = reply_subject(original.subject)
            draft.in_reply_to = original.message_id
            refs = (original.references + " " + original.message_id).strip()
            draft.references = " ".join(refs.split()[-20:])  # RFC 5322 3.6.4; keep it short
            draft.body = quote(original, lang)
            if rich:
                draft.html = quote_html(quote_head(original, lang), original_html)
        elif kind == "chuyen-tiep":
            draft.subject = forward_subject(original.subject)
            draft.body = forward_text(original, lang)
            if rich:
                draft.html = forward_html(forward_lines(original, lang), original_html)
        else:
            draft.subject = forward_subject(original.subject)
        return draft

    async def draft_message(signed: Signed, draft_uid: int) -> tuple[Folder, bytes] | None:
        """The Drafts folder and the bytes of the user's own draft ``draft_uid``."""
        folder = await drafts_folder(store, signed.mailbox.id)
        metas = await store.get_messages(folder.id, [draft_uid]) if folder and draft_uid else []
        if folder is None or not metas:
            return None
        try:
            return folder, await store.read_message(metas[0].content_id)
        except NotFound:
            return None

    async def kept_of(signed: Signed, draft_uid: int) -> list[Attachment]:
        """The attachments stored in the user's draft ``draft_uid`` (none if it is gone)."""
        found = await draft_message(signed, draft_uid)
        if found is None:
            return []
        raw = found[1]
        return view_of(structure_of({}, raw), raw).attachments

    async def kept_uploads(signed: Signed, draft_uid: int, sections: list[str]) -> list[Upload]:
        """The ticked attachments of the previous version of the draft, as uploads."""
        found = await draft_message(signed, draft_uid) if sections else None
        if found is None:
            return []
        raw = found[1]
        structure = structure_of({}, raw)
        uploads = []
        for section in dict.fromkeys(sections):
            chosen = attachment_by_section(structure, raw, section) if SECTION.match(section) else None
            if chosen is None or chosen[1].message is not None:
                continue
            listed, part = chosen
            uploads.append(Upload(listed.filename, decode_body(raw, part), listed.media_type))
        return uploads[:MAX_FILES]

    async def senders(signed: Signed) -> list[tuple[str, str]]:
        """(address, as shown) of every sender the user may choose: their own address,
        then each organisation mailbox delegated to them with the send-as right "0"
        (Điều 12; ``submit`` checks it again, as port 587 does)."""
        own = [(signed.mailbox.address, show_address((signed.mailbox.display_name, signed.mailbox.address)))]
        return own + [(a.owner_address, a.owner_address) for a in await ctx.delegated(signed)
                      if delegation.SEND_AS in a.mailbox]

    async def chosen_sender(signed: Signed, wanted: str) -> tuple[str, str]:
        """(display name, address) a draft is stored with: the From chosen when the user
        may send as it, else the user's own."""
        own = (signed.mailbox.display_name, signed.mailbox.address)
        wanted = wanted.strip().lower()
        if not wanted or wanted == own[1].lower():
            return own
        return ("", wanted) if any(a.lower() == wanted for a, _shown in await senders(signed)) else own

    async def page(request: Request, signed: Signed, draft: Draft, *, source: str = "", draft_uid: int = 0,
                   errors: list[str] | None = None, attached: str = "", status: int = 200,
                   kept: list[Attachment] | None = None, sender: str = "", rich: bool | None = None) -> Response:
        settings = app.settings
        rich = bool(draft.html) if rich is None else rich
        return ctx.renderer.page(request, "compose.html", {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
            "senders": await senders(signed), "chosen_sender": (sender or draft.sender).lower(),
            "rich": rich, "editor_html": editor_markup(draft.html) if rich and draft.html else "",
            "draft": draft, "source": source, "draft_uid": draft_uid or "", "errors": errors or [],
            "attached": attached, "max_bytes": settings.attachment_max_bytes, "kept": kept or [],
            "max_mb": settings.limits.attachment_mb, "max_files": MAX_FILES}, status=status)

    @api.get(COMPOSE)
    async def compose(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        query = request.query_params
        draft_uid = _int(query.get("nhap", ""))
        if draft_uid:
            stored = await draft_message(signed, draft_uid)
            if stored is None:
                return _not_found(ctx, request, signed)
            raw = stored[1]
            draft, source = read_draft(raw)
            attached = ""
            parsed = parse_source(source)
            if parsed and parsed[2] == "dinh-kem":
                found = await original_of(signed, parsed[:2])
                attached = _eml_name(found[1]) if found else ""
            return await page(request, signed, draft, source=source, draft_uid=draft_uid, attached=attached,
                        kept=view_of(structure_of({}, raw), raw).attachments)
        for kind in KINDS:
            ref = _ref(query.get(kind, ""))
            if ref is None:
                continue
            found = await original_of(signed, ref)
            if found is None:
                return _not_found(ctx, request, signed)
            # Answering mail of a delegated mailbox: as that mailbox when the user may.
            held = await ctx.held(signed, found[0].id)
            owner = held.owner_address if held is not None and held.delegated else signed.mailbox.address
            rich = await ctx.prefs.compose_html(signed.mailbox.id)
            draft = prefill(kind, found[1], owner, lang, rich)
            signature = await get_signature(app, signed.mailbox.id)
            draft.body = with_signature(draft.body, signature)
            if rich:
                draft.html = "<div><br></div>" + signature_html(signature) + draft.html
            return await page(request, signed, draft, source=f"{ref[0]}-{ref[1]} {kind}",
                              attached=_eml_name(found[1]) if kind == "dinh-kem" else "", sender=owner, rich=rich)
        rich = await ctx.prefs.compose_html(signed.mailbox.id)
        signature = await get_signature(app, signed.mailbox.id)
        draft = Draft(to=query.get("den", "")[:MAX_FIELD], body=with_signature("", signature))
        if rich:
            draft.html = "<div><br></div>" + signature_html(signature)
        return await page(request, signed, draft, sender=query.get("tu", "")[:320], rich=rich)

    async def read_compose_form(request: Request) -> tuple[dict[str, str], list[UploadFile], list[str]] | None:
        """(the fields' first values, the files, the kept attachments' sections)."""
        try:
            form = await request.form(max_files=MAX_FILES, max_fields=50 + MAX_FILES,
                                      max_part_size=8 * 1024 * 1024)
        except Exception:  # a malformed body, too many parts: the caller answers 400
            return None
        fields: dict[str, str] = {}
        files: list[UploadFile] = []
        kept: list[str] = []
        for key, value in form.multi_items():
            if isinstance(value, str):
                if key == "giu":
                    kept.append(value[:50])
                elif key not in fields:
                    fields[key] = value[:MAX_TEXT if key in ("noi-dung", "noi-dung-html") else MAX_FIELD]
            elif key == "tep" and value.filename:
                files.append(value)
        return fields, files, kept[:MAX_FILES]

    def draft_of(fields: dict[str, str]) -> Draft:
        """The form as a draft; rich text (``kieu=html``) cleaned, with its plain text."""
        rich = fields.get("kieu") == RICH
        html = clean_html(fields.get("noi-dung-html", "")) if rich else ""
        return Draft(to=fields.get("den", ""), cc=fields.get("dong-gui", ""), bcc=fields.get("an", ""),
                     subject=fields.get("tieu-de", "").replace("\r", " ").replace("\n", " "),
                     body=html_to_text(html) if rich else fields.get("noi-dung", ""), html=html,
                     in_reply_to=_msgids(fields.get("in-reply-to", ""), 1),
                     references=_msgids(fields.get("references", ""), 20), sender=fields.get("tu", "")[:320])

    async def attach_source(signed: Signed, draft: Draft, source: str) -> bool:
        """For a forward as attachment, the original's raw bytes; False if it is gone."""
        parsed = parse_source(source)
        if parsed is None or parsed[2] != "dinh-kem":
            return True
        found = await original_of(signed, parsed[:2])
        if found is None:
            return False
        draft.attached_messages.append((_eml_name(found[1]), found[1].raw))
        return True

    def bad_request(request: Request, signed: Signed) -> Response:
        return ctx.renderer.page(request, "error.html", {
            "csrf": signed.session.csrf, "address": signed.mailbox.address, "session": signed.session,
            "bad": True}, status=403)

    @api.post(COMPOSE)
    async def send(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        t = i18n.translator(lang)
        settings = app.settings
        declared = request.headers.get("content-length", "0")
        length = int(declared) if declared.isdigit() and len(declared) < 16 else 0
        if length > settings.message_max_bytes + 1024 * 1024:
            return await page(request, signed, Draft(), errors=[t("compose.too_big", mb=settings.limits.message_max_mb)],
                        status=413)
        parsed_form = await read_compose_form(request)
        if parsed_form is None:
            return bad_request(request, signed)
        fields, files, kept_sections = parsed_form
        if not ctx.form_ok(request, signed.session.secret, fields.get("csrf", "")):
            return bad_request(request, signed)
        draft = draft_of(fields)
        source = fields.get("goc", "") if parse_source(fields.get("goc", "")) else ""
        draft_uid = _int(fields.get("nhap", ""))
        errors: list[str] = []
        total = 0
        draft.uploads.extend(await kept_uploads(signed, draft_uid, kept_sections))
        for upload in files[:MAX_FILES - len(draft.uploads)]:
            name = safe_filename(upload.filename or "")
            data = await upload.read(settings.attachment_max_bytes + 1)
            if len(data) > settings.attachment_max_bytes:
                errors.append(t("compose.file_too_big", name=name, mb=settings.limits.attachment_mb))
                continue
            total += len(data)
            draft.uploads.append(Upload(name, data, upload.content_type or ""))
        if not await attach_source(signed, draft, source):
            errors.append(t("compose.original_gone"))
        attached = draft.attached_messages[0][0] if draft.attached_messages else ""
        headers = {SOURCE_HEADER: source} if source else {}
        if fields.get("action") == "luu":
            folder = await drafts_folder(store, signed.mailbox.id)
            if folder is None:
                return _not_found(ctx, request, signed)
            # The draft keeps its files (kept and new); a forwarded original is attached
            # again from its source when sent.
            saved = await save_draft(store, folder, build(
                Draft(**{**draft.__dict__, "attached_messages": []}),
                sender=await chosen_sender(signed, draft.sender), domain=settings.system.domain,
                include_bcc=True, extra_headers=headers), draft_uid or None)
            return await page(request, signed, draft, source=source, draft_uid=saved, attached=attached,
                        errors=errors, kept=await kept_of(signed, saved)
                        ) if errors else render.redirect(f"{HOME}/{folder.id}?da-luu=1")
        recipients = [a for field in (draft.to, draft.cc, draft.bcc) for _n, a in split_addresses(field)]
        bad = [b for field in (draft.to, draft.cc, draft.bcc) for b in bad_addresses(field)]
        if bad:
            errors.append(t("compose.bad_address", addresses=", ".join(bad[:5])))
        elif not recipients:
            errors.append(t("compose.no_recipient"))
        sender = fields.get("tu", signed.mailbox.address).strip()[:320] or signed.mailbox.address
        if errors:
            return await page(request, signed, draft, source=source, draft_uid=draft_uid, errors=errors,
                              attached=attached, status=400, kept=await kept_of(signed, draft_uid), sender=sender)
        own_sender = sender.lower() == signed.mailbox.address.lower()
        name = signed.mailbox.display_name if own_sender else ""
        raw = build(draft, sender=(name, sender), domain=settings.system.domain)
        rich = fields.get("kieu") == RICH
        outcome = await submit(app, signed.mailbox, sender, recipients, raw, client_ip=client_ip(request),
                               door="web", secure=render.secure(request))
        if not outcome.ok:
            words = outcome.text.split(" / ", 1)
            shown = words[0] if lang == "vi" or len(words) == 1 else words[1]
            return await page(request, signed, draft, source=source, draft_uid=draft_uid, attached=attached,
                        errors=[t("compose.refused", reason=shown)], status=400 if not outcome.temporary else 503,
                        kept=await kept_of(signed, draft_uid), sender=sender)
        # Sent as an organisation mailbox (Điều 12; ``submit`` let it through only with the
        # send-as right): the copy goes to that mailbox's Sent, and the use is audited.
        sent_in = signed.mailbox.id
        if not own_sender:
            owner = await store.get_mailbox(sender.lower())
            if owner is not None:
                sent_in = owner.id
                await ctx.audit_delegated(request, signed, "webmail.delegate.send", owner.address, {
                    "subject": draft.subject[:200], "recipients": len(recipients)})
        sent = next((f for f in await store.list_folders(sent_in) if f.special_use == "\\Sent"), None)
        if sent is not None:
            await store.append(sent.id, with_bcc(raw, draft.bcc), flags=flagbits.SEEN)
        if draft_uid:
            folder = await drafts_folder(store, signed.mailbox.id)
            if folder is not None and await store.get_messages(folder.id, [draft_uid]):
                await store.store_flags(folder.id, [draft_uid], "add", flagbits.DELETED)
                await store.expunge(folder.id, [draft_uid])
        parsed = parse_source(source)
        if parsed and parsed[2] in ("tra-loi", "tra-loi-tat-ca"):
            answered = await ctx.own_folder(signed, parsed[0], "w")
            if answered is not None:
                await store.store_flags(answered.id, [parsed[1]], "add", flagbits.ANSWERED)
        if rich != await ctx.prefs.compose_html(signed.mailbox.id):
            await ctx.prefs.set_compose_html(signed.mailbox.id, rich)  # the way this user writes
        return render.redirect(f"{HOME}/{sent.id}?da-gui=1" if sent else HOME)

    @api.post(COMPOSE + "/nhap")
    async def autosave(request: Request) -> Response:
        signed = await ctx.signed(request)
        if signed is None or signed.session.must_change:
            return _json({"loi": "dang-nhap"}, 401)
        parsed_form = await read_compose_form(request)
        if parsed_form is None:
            return _json({"loi": "bieu-mau"}, 400)
        fields, _files, kept_sections = parsed_form
        if not ctx.form_ok(request, signed.session.secret, fields.get("csrf", "")):
            return _json({"loi": "csrf"}, 403)
        folder = await drafts_folder(store, signed.mailbox.id)
        if folder is None:
            return _json({"loi": "khong-co-thu-muc"}, 404)
        source = fields.get("goc", "") if parse_source(fields.get("goc", "")) else ""
        previous = _int(fields.get("nhap", ""))
        draft = draft_of(fields)
        draft.uploads = await kept_uploads(signed, previous, kept_sections)
        raw = build(draft, sender=await chosen_sender(signed, draft.sender),
                    domain=app.settings.system.domain, include_bcc=True,
                    extra_headers={SOURCE_HEADER: source} if source else None)
        uid = await save_draft(store, folder, raw, previous or None)
        # The kept files' section numbers in the new version, in order (the page renumbers).
        return _json({"nhap": uid, "giu": [a.section for a in view_of(structure_of({}, raw), raw).attachments]})

    @api.post(COMPOSE + "/kieu")
    async def writing_mode(request: Request) -> Response:
        """The page's rich / plain switch: the user's choice, remembered (JSON answer)."""
        signed = await ctx.signed(request)
        if signed is None or signed.session.must_change:
            return _json({"loi": "dang-nhap"}, 401)
        form = await read_form(request)
        if form is None or not ctx.form_ok(request, signed.session.secret, first(form, "csrf")):
            return _json({"loi": "csrf"}, 403)
        mode = first(form, "kieu")
        if mode not in (RICH, PLAIN):
            return _json({"loi": "kieu"}, 400)
        await ctx.prefs.set_compose_html(signed.mailbox.id, mode == RICH)
        return _json({"kieu": mode})

    @api.get(HOME + "/danh-ba")
    async def complete(request: Request) -> Response:
        """Recipients from the directory, accents ignored (``binh`` finds Bình)."""
        signed = await ctx.signed(request)
        if signed is None or signed.session.must_change:
            return _json({"loi": "dang-nhap"}, 401)
        text = request.query_params.get("q", "")[:100]
        if len(text.strip()) < 2:
            return _json({"ket-qua": []})
        hits = await Directory(app).search(text, limit=10)
        return _json({"ket-qua": [{"ten": h.name, "dia-chi": h.address, "chuc-vu": h.title,
                                   "don-vi": h.organisation} for h in hits if h.address]})

    return api


def _eml_name(original: Original) -> str:
    return safe_filename(original.subject or "thu") + ".eml"


def _msgids(value: str, most: int) -> str:
    return " ".join(MSG_ID.findall(value)[-most:])


def _not_found(ctx: WebContext, request: Request, signed: Signed) -> Response:
    return ctx.renderer.page(request, "error.html", {
        "csrf": signed.session.csrf, "address": signed.mailbox.address, "session": signed.session}, status=404)
