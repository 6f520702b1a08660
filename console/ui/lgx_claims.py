"""The claims and rating panel of a transport request (pages/ops_transport.py): the carrier's
score, the request's claims with their cover, and the merchant's rating; for the desk, a claim
to file, each open claim's carrier response, settlement or rejection, and a rating the
merchant gave by phone (console/logistics/claims.py, ratings.py). Amounts of one request in
yuan (console/fmt.py yuan)."""
from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from console import fmt
from console.logistics import claims, ratings
from console.roles import Actor
from console.ui import enum_label, flash, labelled, run_action, run_query, t


def _yuan(value) -> str:
    return fmt.yuan(value, digits=2)


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _score_line(p: claims.Panel) -> None:
    s = p.score
    if s is None:
        return
    st.caption(t("lgx.claims.score_line", carrier=p.carrier_name,
                 score=fmt.number(s.score, digits=1) if s.score is not None else fmt.MISSING,
                 on_time=fmt.percent(s.on_time_rate), damage=fmt.percent(s.damage_rate),
                 complaints=fmt.percent(s.complaint_rate),
                 stars=fmt.number(s.avg_rating, digits=2) if s.avg_rating is not None
                 else fmt.MISSING,
                 delivered=fmt.number(s.delivered), rated=fmt.number(s.rated)))


def _claims_table(df: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame({
        "id": df["id"].map(lambda v: f"#{int(v)}"),
        "kind": df["kind"].map(lambda v: enum_label("lgx_claim_kind", v)),
        "status": df["status"].map(lambda v: enum_label("lgx_claim_status", v)),
        "amount": df["amount"].map(_yuan),
        "cover": df["cover"].map(_yuan),
        "settled_amount": df["settled_amount"].map(_yuan),
        "evidence_ref": df["evidence_ref"],
        "description": df["description"],
        "carrier_response": df["carrier_response"].fillna(""),
        "filed_by": df["filed_by"],
        "filed_at": df["filed_at"].map(fmt.when),
        "decided_by": df["decided_by"].fillna(fmt.MISSING),
    })
    return labelled(shown, "lgx.claims.col")


def _decide(row, actor: Actor) -> None:
    """One open claim's forms: the carrier's response, a settlement, a rejection."""
    claim_id, version = int(row["id"]), int(row["version"])
    cap = min(Decimal(row["amount"]), Decimal(row["cover"]))
    with st.expander(t("lgx.claims.decide", id=claim_id,
                       kind=enum_label("lgx_claim_kind", row["kind"]),
                       amount=_yuan(row["amount"]))):
        with st.form(f"lgx_claim_respond_{claim_id}"):
            text = st.text_area(t("lgx.claims.response"), height=68,
                                value=row["carrier_response"] or "")
            if st.form_submit_button(t("lgx.claims.response_submit")):
                if run_action(claims.record_response, actor=actor, claim_id=claim_id,
                              version=version, carrier_response=text):
                    flash(t("lgx.claims.responded", id=claim_id))
                    st.rerun()
        with st.form(f"lgx_claim_settle_{claim_id}"):
            amount = st.number_input(t("lgx.claims.settle_amount", cap=_yuan(cap)),
                                     min_value=0.0, value=float(cap), step=100.0, format="%.2f")
            note = st.text_input(t("lgx.claims.settle_note"))
            if st.form_submit_button(t("lgx.claims.settle_submit"), type="primary"):
                if run_action(claims.settle, actor=actor, claim_id=claim_id, version=version,
                              settled_amount=_money(amount), note=note or None):
                    flash(t("lgx.claims.settled", id=claim_id, amount=_yuan(_money(amount))))
                    st.rerun()
        with st.form(f"lgx_claim_reject_{claim_id}"):
            reason = st.text_input(t("lgx.claims.reject_reason"))
            if st.form_submit_button(t("lgx.claims.reject_submit")):
                if run_action(claims.reject, actor=actor, claim_id=claim_id, version=version,
                              reason=reason):
                    flash(t("lgx.claims.rejected", id=claim_id))
                    st.rerun()


def _file_form(p: claims.Panel, actor: Actor) -> None:
    with st.expander(t("lgx.claims.file", cover=_yuan(p.cover))):
        with st.form("lgx_claim_file"):
            kind = st.selectbox(t("lgx.claims.kind"), claims.KINDS,
                                format_func=lambda k: enum_label("lgx_claim_kind", k))
            amount = st.number_input(t("lgx.claims.amount", cover=_yuan(p.cover)),
                                     min_value=0.0, step=100.0, format="%.2f")
            evidence = st.text_input(t("lgx.claims.evidence"))
            description = st.text_area(t("lgx.claims.description"), height=68)
            if st.form_submit_button(t("lgx.claims.file_submit"), type="primary"):
                done = run_action(claims.file_claim, actor=actor, request_id=p.request_id,
                                  kind=kind, amount=_money(amount), evidence_ref=evidence,
                                  description=description)
                if done:
                    flash(t("lgx.claims.filed", id=done.value))
                    st.rerun()


def _rating(p: claims.Panel, actor: Actor) -> None:
    if p.rating is not None:
        r = p.rating
        st.markdown(t("lgx.claims.rating_line", stars="★" * r["stars"] + "☆" * (5 - r["stars"]),
                      complaint=t("lgx.claims.complaint_yes") if r["complaint"] else "",
                      comment=r["comment"] or fmt.MISSING, at=fmt.when(r["rated_at"]),
                      by=r["recorded_by"] or t("lgx.claims.merchant_side")))
        return
    if p.status != "delivered":
        st.caption(t("lgx.claims.rating_after_delivery"))
        return
    st.caption(t("lgx.claims.not_rated"))
    if not actor.has("ops"):
        return
    with st.expander(t("lgx.claims.rate")):
        with st.form("lgx_rating"):
            stars = st.select_slider(t("lgx.claims.stars"), options=[1, 2, 3, 4, 5], value=5)
            complaint = st.checkbox(t("lgx.claims.complaint"))
            comment = st.text_area(t("lgx.claims.comment"), height=68)
            if st.form_submit_button(t("lgx.claims.rate_submit")):
                if run_action(ratings.record_rating, actor=actor, request_id=p.request_id,
                              stars=int(stars), complaint=bool(complaint),
                              comment=comment or None):
                    flash(t("lgx.claims.rated"))
                    st.rerun()


def render_claims(*, request_id: int, actor: Actor) -> None:
    """The panel under its own heading; nothing for roles that do not read claims."""
    if not actor.has(*claims.READ_ROLES):
        return
    p = run_query(claims.panel, actor=actor, request_id=request_id)
    if p is None:
        return
    st.markdown(f"**{t('lgx.claims.title')}**")
    _score_line(p)
    if p.claims.empty:
        st.caption(t("lgx.claims.none") if p.carrier_id is not None
                   else t("lgx.claims.no_carrier"))
    else:
        st.dataframe(_claims_table(p.claims), hide_index=True, width="stretch")
    if actor.has("ops"):
        for _, row in p.claims[p.claims["status"].isin(claims.OPEN)].iterrows():
            _decide(row, actor)
        if p.can_file:
            _file_form(p, actor)
    _rating(p, actor)
