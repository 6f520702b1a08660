"""Parallel imports' documents (/import-docs): the queue of pending import documents, oldest
first, with age and SLA, filters, "next" and "take"; and one listing's documents
(/import-docs?listing=<id>): the car, its four documents and the decision forms. Ops decide;
managers and BD read."""
import streamlit as st

from console import fmt
from console.imports import documents as docs
from console.imports.status import DOC_KINDS
from console.settings import get_settings
from console.ui import (flash, keep_choices, labelled, lang, pager, require_actor, run_action,
                        run_query, show_flash, t)
from console.ui import seen_versions
from console.ui.import_details import arrival_text, docs_text
from console.ui.links import parse_id, record_link
from console.ui.trust import SLA_MARK

# Who holds a document beside its SLA: last, it was past the table's right edge, and a greyed
# "take" did not say why.
COLUMNS = ["id", "sla", "assignee", "kind", "vehicle", "market_version", "port", "availability",
           "seller", "uploaded_at"]
STATE_MARK = {"missing": "⚪", "pending": "🟡", "approved": "🟢", "rejected": "🔴"}

actor = require_actor()
desk = actor.has("ops")
settings = get_settings()
st.title(t("imports.docs.title"))
show_flash()


def word(group: str, value) -> str:
    """A code in words: a document's kind or state (here), a market version or a port (the
    import details' words)."""
    if value is None or fmt.is_missing(value):
        return fmt.MISSING
    prefix = "imports.docs" if group in ("kind", "state") else "imports.listing"
    return t(f"{prefix}.{group}.{value}")


def sla_label(level: str) -> str:
    """A document's SLA level in words with this queue's own hours (the certification
    queue's words name its 48 hours)."""
    hours = settings.import_doc_sla_hours
    return f"{SLA_MARK[level]} " + t(f"imports.docs.sla.{level}", hours=fmt.number(hours),
                                     half=fmt.number(hours / 2, digits=0 if hours % 2 == 0 else 1))


def availability(value, arrival) -> str:
    return arrival_text(value, arrival) or fmt.MISSING


def open_listing(listing_id: int | None) -> None:
    if listing_id is None:
        del st.query_params["listing"]
    else:
        st.query_params["listing"] = str(int(listing_id))
    st.rerun()


def take_next() -> None:
    taken = run_action(docs.next_case, actor=actor)
    if taken and taken.value is None:
        st.info(t("imports.docs.nothing_next"))
    elif taken:
        seen_versions.forget("import_doc", taken.value.case_id)
        flash(t("imports.docs.took", id=taken.value.case_id))
        open_listing(taken.value.listing_id)


# ---------------------------------------------------------------- one listing's documents
def show_listing(listing_id: int) -> None:
    panel = run_query(docs.listing_documents, actor=actor, listing_id=listing_id)
    if panel is None:
        return
    car = panel.listing
    st.subheader(t("imports.docs.case.heading", id=car["id"],
                   vehicle=f"{car['series']} {car['trim']}"))
    if panel.documents_missing:     # the words BD read on the listing elsewhere
        st.warning(docs_text(panel.missing), icon=":material/assignment_late:")
    else:
        st.success(docs_text([]), icon=":material/verified:")
    st.markdown(t("imports.docs.case.car_line",
                  market=word("market", car["market_version"]), port=word("port", car["port"]),
                  availability=availability(car["availability"], car["expected_arrival"])))
    st.markdown(t("imports.docs.case.seller_line",
                  seller=record_link("merchant", car["merchant_id"], car["seller"]),
                  city=car["city"] or fmt.MISSING, price=fmt.yuan(car["price"]),
                  quantity=fmt.number(car["quantity"]), vin=car["vin"] or fmt.MISSING))
    for line in panel.lines:
        show_line(line)
    if not panel.history.empty:
        with st.expander(t("imports.docs.case.history"), icon=":material/history:"):
            h = panel.history
            shown = h.assign(kind=h["kind"].map(lambda v: word("kind", v)),
                             status=h["status"].map(lambda v: word("state", v)),
                             reason=h["reason"].fillna(fmt.MISSING))
            st.dataframe(labelled(shown[["id", "kind", "doc_ref", "status", "uploaded_at",
                                         "decided_at", "decided_by", "reason"]],
                                  "imports.docs.col"), hide_index=True, width="stretch")


def show_line(line: docs.DocLine) -> None:
    kind = word("kind", line.kind)
    with st.container(border=True):
        st.markdown(t("imports.docs.line.head", mark=STATE_MARK[line.state], kind=kind,
                      state=word("state", line.state)))
        if line.case_id is not None and seen_versions.changed_elsewhere(
                "import_doc", line.case_id, line.version):
            st.warning(t("imports.docs.line.changed", kind=kind, state=word("state", line.state),
                         holder=line.assignee or fmt.MISSING), icon=":material/update:")
        if line.state == "missing":
            st.caption(t("imports.docs.line.missing"))
            return
        st.caption(t("imports.docs.line.uploaded", ref=line.doc_ref,
                     at=fmt.when(line.uploaded_at), holder=line.assignee or fmt.MISSING))
        if line.state == "pending":
            st.caption(t("imports.docs.line.waiting", sla=sla_label(line.sla),
                         hours=fmt.number(line.age_hours, digits=1)))
        else:
            st.caption(t("imports.docs.line.decided", at=fmt.when(line.decided_at),
                         who=line.decided_by or fmt.MISSING, reason=line.reason or fmt.MISSING))
        if line.state == "pending" and desk:
            decision_form(line, kind)


def decision_form(line: docs.DocLine, kind: str) -> None:
    if line.assignee_id not in (None, actor.id):
        st.info(t("imports.docs.line.held", name=line.assignee))
        return
    with st.form(f"import_doc_{line.case_id}_{line.version}"):
        reason = st.text_area(t("imports.docs.reason_for", kind=kind), height=68,
                              max_chars=2_000, placeholder=t("imports.docs.reason_hint"))
        b1, b2, _ = st.columns([1, 1, 3])
        approve = b1.form_submit_button(t("imports.docs.approve"), type="primary")
        reject = b2.form_submit_button(t("imports.docs.reject"))
    if approve or reject:
        done = run_action(docs.decide, actor=actor, case_id=line.case_id, version=line.version,
                          decision="approve" if approve else "reject", reason=reason or "")
        if done:
            seen_versions.forget("import_doc", line.case_id)
            key = "imports.docs.approved" if approve else "imports.docs.rejected"
            flash(t(key, kind=kind))
            if not done.value.documents_missing:
                flash(t("imports.docs.now_complete", id=done.value.listing_id))
            st.rerun()


raw = st.query_params.get("listing")
listing_id = parse_id(raw)
if raw not in (None, "") and listing_id is None:
    st.error(t("links.bad_id", kind=t("imports.docs.kind_listing")))
if listing_id is not None:
    if st.button(t("imports.docs.back"), icon=":material/arrow_back:", key="import_docs_back"):
        open_listing(None)
    show_listing(listing_id)
    st.stop()

# ---------------------------------------------------------------- the queue
st.caption(t("imports.docs.caption", hours=settings.import_doc_sla_hours,
             cap=settings.review_cap_per_person))
counts = run_query(docs.queue_counts, actor=actor)
if counts is None:
    st.stop()
c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 1.4])
c1.metric(t("imports.docs.count.pending"), fmt.number(counts["pending"]))
c2.metric(t("imports.docs.count.unassigned"), fmt.number(counts["unassigned"]))
c3.metric(t("imports.docs.count.mine"), fmt.number(counts["mine"]))
c4.metric(t("imports.docs.count.late"), fmt.number(counts["late"]))
if desk and c5.button(t("imports.docs.next"), type="primary", icon=":material/skip_next:",
                      key="import_docs_next", width="stretch"):
    take_next()

keep_choices("idq_kinds", "idq_ports", "idq_markets", "idq_view", page="import-docs")
f1, f2, f3, f4 = st.columns([1.4, 1.4, 1.4, 1.6])
kinds = f1.multiselect(t("imports.docs.f.kind"), DOC_KINDS, key="idq_kinds",
                       format_func=lambda v: word("kind", v))
ports = f2.multiselect(t("imports.docs.f.port"), docs.PORTS, key="idq_ports",
                       format_func=lambda v: word("port", v))
markets = f3.multiselect(t("imports.docs.f.market"), docs.MARKET_VERSIONS, key="idq_markets",
                         format_func=lambda v: word("market", v))
view = "any"
if desk:
    view = f4.radio(t("imports.docs.f.view"), docs.VIEWS, horizontal=True, key="idq_view",
                    format_func=lambda v: t(f"imports.docs.view.{v}"))
filters = docs.DocFilters(kinds=tuple(kinds), ports=tuple(ports), market_versions=tuple(markets),
                          view=view)
size = settings.page_size
offset = (st.session_state.get("import_docs__page", 1) - 1) * size
page = run_query(docs.list_queue, actor=actor, filters=filters, limit=size, offset=offset)
if page is None:
    st.stop()
if page.rows.empty:
    st.info(t("imports.docs.empty"))
else:
    rows = page.rows
    shown = fmt.frame(rows.assign(
        sla=rows["sla"].map(sla_label),
        kind=rows["kind"].map(lambda v: word("kind", v)),
        market_version=rows["market_version"].map(lambda v: word("market", v)),
        port=rows["port"].map(lambda v: word("port", v)),
        availability=[availability(a, d) for a, d in zip(rows["availability"],
                                                          rows["expected_arrival"])],
        assignee=rows["assignee"].fillna(fmt.MISSING),
    ), {"uploaded_at": "when"}, lang=lang())[COLUMNS]
    event = st.dataframe(labelled(shown, "imports.docs.col"), hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="single-row", key="import_docs_table")
    picked = event.selection.rows if event is not None else []
    if picked:
        chosen = rows.iloc[picked[0]]
        b1, b2, _ = st.columns([1.4, 1.2, 3])
        if b1.button(t("imports.docs.open", id=int(chosen["listing_id"])),
                     icon=":material/open_in_new:", key="import_docs_open"):
            open_listing(int(chosen["listing_id"]))
        if desk and b2.button(t("imports.docs.take"), icon=":material/front_hand:",
                              key="import_docs_take",
                              disabled=not fmt.is_missing(chosen["assignee_id"])):
            if run_action(docs.take_case, actor=actor, case_id=int(chosen["id"]),
                          version=int(chosen["version"])):
                seen_versions.forget("import_doc", int(chosen["id"]))
                flash(t("imports.docs.took", id=int(chosen["id"])))
                st.rerun()
if pager(key="import_docs", total=page.total, page_size=size) != offset:
    st.rerun()
