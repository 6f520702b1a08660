"""The carrier directory (/carriers): every carrier with its trucks, lanes, cover, contact and
score; one carrier's lanes and rates; the desk adds and edits carriers, their lanes and
rates, and suspends one. Managers read it (the phone masked)."""
import streamlit as st

from console import fmt
from console.logistics import carriers as cr
from console.logistics import geo
from console.ui import (enum_label, flash, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.links import parse_id

actor = require_actor()
desk = actor.has(*cr.DESK)
st.title(t("lgx.carriers.title"))
st.caption(t("lgx.carriers.caption"))
show_flash()


def trucks(values) -> str:
    return ("、" if lang() == "zh" else ", ").join(enum_label("lgx_truck", v) for v in values)


def band_label(low: int, high: int | None) -> str:
    return (t("lgx.carriers.band_open", low=fmt.number(low)) if high is None
            else t("lgx.carriers.band", low=fmt.number(low), high=fmt.number(high)))


# ---------------------------------------------------------------- the directory
f1, f2 = st.columns([1, 2])
status = f1.selectbox(t("lgx.carriers.f.status"), [None, *cr.STATUSES], key="lgxc_status",
                      format_func=lambda s: t("lgx.carriers.f.all") if s is None
                      else enum_label("lgx_carrier_status", s))
query = f2.text_input(t("lgx.carriers.f.query"), max_chars=100, key="lgxc_query")
rows = run_query(cr.list_carriers, actor=actor, status=status, query=query)
if rows is None:
    st.stop()
if rows.empty:
    st.info(t("lgx.carriers.empty"))
else:
    shown = rows.assign(
        status=rows["status"].map(lambda s: enum_label("lgx_carrier_status", s)),
        truck_types=rows["truck_types"].map(trucks),
        cover_per_car=rows["cover_per_car"].map(fmt.yuan),
        score=rows["score"].map(lambda v: fmt.number(v, digits=1)),
        on_time_rate=rows["on_time_rate"].map(fmt.percent),
    )[["id", "name", "status", "truck_types", "lanes", "cover_per_car", "contact_name", "phone",
       "score", "on_time_rate", "delivered"]]
    st.dataframe(labelled(shown, "lgx.carriers.col"), hide_index=True, width="stretch")

# ---------------------------------------------------------------- a new carrier (the desk)
if desk:
    with st.expander(t("lgx.carriers.new"), icon=":material/add_business:"):
        with st.form("lgxc_new", clear_on_submit=False):
            n1, n2, n3 = st.columns([2, 1, 1])
            name = n1.text_input(t("lgx.carriers.name"), max_chars=80)
            contact = n2.text_input(t("lgx.carriers.contact_name"), max_chars=40)
            phone = n3.text_input(t("lgx.carriers.phone"), max_chars=20)
            m1, m2 = st.columns(2)
            types = m1.multiselect(t("lgx.carriers.truck_types"), ["large", "small", "single"],
                                   format_func=lambda v: enum_label("lgx_truck", v))
            cover = m2.text_input(t("lgx.carriers.cover"), max_chars=40,
                                  placeholder=t("lgx.carriers.cover_hint"))
            if st.form_submit_button(t("lgx.carriers.create"), type="primary"):
                made = run_action(cr.create_carrier, actor=actor, carrier_name=name,
                                  contact_name=contact, contact_phone=phone,
                                  truck_types=tuple(types), cover_per_car=cover)
                if made:
                    flash(t("lgx.carriers.created", name=name.strip()))
                    st.query_params["carrier"] = str(made.value)
                    st.rerun()

# ---------------------------------------------------------------- one carrier
st.subheader(t("lgx.carriers.one"))
ids = rows["id"].astype(int).tolist() if not rows.empty else []
names = dict(zip(ids, rows["name"])) if ids else {}
from_url = parse_id(st.query_params.get("carrier"))
if from_url is not None and from_url not in names:
    ids = [from_url, *ids]
pick = st.selectbox(t("lgx.carriers.pick"), ids,
                    index=ids.index(from_url) if from_url in ids else None,
                    format_func=lambda c: names.get(c, f"#{c}"), key="lgxc_pick",
                    placeholder=t("lgx.carriers.pick_hint"))
if pick is None:
    st.stop()
if st.query_params.get("carrier") != str(pick):
    st.query_params["carrier"] = str(pick)
view = run_query(cr.get_carrier, actor=actor, carrier_id=int(pick))
if view is None:
    st.stop()
c = view.carrier
version = int(c["version"])
st.markdown(t("lgx.carriers.line", name=c["name"],
              status=enum_label("lgx_carrier_status", c["status"]), trucks=trucks(c["truck_types"]),
              cover=fmt.yuan(c["cover_per_car"]), contact=c["contact_name"],
              phone=c["contact_phone"], updated=fmt.when(c["updated_at"])))
score = view.score
st.caption(t("lgx.carriers.score_line",
             score=fmt.number(score.score, digits=1) if score else fmt.MISSING,
             on_time=fmt.percent(score.on_time_rate) if score else fmt.MISSING,
             damage=fmt.percent(score.damage_rate) if score else fmt.MISSING,
             rating=fmt.number(score.avg_rating, digits=2) if score else fmt.MISSING,
             delivered=score.delivered if score else 0, rated=score.rated if score else 0))
if c["status"] == "suspended":
    st.warning(t("lgx.carriers.suspended_note"), icon=":material/block:")
l1, l2 = st.columns(2)
with l1:
    st.markdown(f"**{t('lgx.carriers.lanes')}**")
    if view.lanes.empty:
        st.caption(t("lgx.carriers.no_lanes"))
    else:
        st.dataframe(labelled(view.lanes, "lgx.carriers.col"), hide_index=True, width="stretch",
                     height=min(400, 38 + 35 * len(view.lanes)))
with l2:
    st.markdown(f"**{t('lgx.carriers.rates')}**")
    if view.rates.empty:
        st.caption(t("lgx.carriers.no_rates"))
    else:
        rates = view.rates
        st.dataframe(labelled(rates.assign(
            truck_type=rates["truck_type"].map(lambda v: enum_label("lgx_truck", v)),
            band=[band_label(int(a), None if fmt.is_missing(b) else int(b))
                  for a, b in zip(rates["band_from_km"], rates["band_to_km"])],
            yuan_per_car_km=rates["yuan_per_car_km"].map(lambda v: fmt.yuan(v, digits=3)),
            min_per_car=rates["min_per_car"].map(fmt.yuan),
        )[["truck_type", "band", "yuan_per_car_km", "min_per_car"]], "lgx.carriers.col"),
            hide_index=True, width="stretch")

if not desk:
    st.stop()

# ---------------------------------------------------------------- the desk's changes
tab_edit, tab_lanes, tab_rates, tab_status = st.tabs([
    t("lgx.carriers.tab.edit"), t("lgx.carriers.tab.lanes"), t("lgx.carriers.tab.rates"),
    t("lgx.carriers.tab.status")])
with tab_edit, st.form(f"lgxc_edit_{pick}"):
    e1, e2, e3 = st.columns([2, 1, 1])
    name = e1.text_input(t("lgx.carriers.name"), value=c["name"], max_chars=80)
    contact = e2.text_input(t("lgx.carriers.contact_name"), value=c["contact_name"], max_chars=40)
    phone = e3.text_input(t("lgx.carriers.phone"), value=c["contact_phone"], max_chars=20)
    e4, e5 = st.columns(2)
    types = e4.multiselect(t("lgx.carriers.truck_types"), ["large", "small", "single"],
                           default=list(c["truck_types"]),
                           format_func=lambda v: enum_label("lgx_truck", v))
    cover = e5.text_input(t("lgx.carriers.cover"), value=f"{c['cover_per_car']:.2f}", max_chars=40)
    if st.form_submit_button(t("lgx.carriers.save"), type="primary"):
        if run_action(cr.update_carrier, actor=actor, carrier_id=int(pick), version=version,
                      carrier_name=name, contact_name=contact, contact_phone=phone,
                      truck_types=tuple(types), cover_per_car=cover):
            flash(t("lgx.carriers.saved"))
            st.rerun()
with tab_lanes:
    provinces = run_query(cr.provinces, actor=actor) or []
    with st.form(f"lgxc_lanes_{pick}", clear_on_submit=True):
        a1, a2 = st.columns(2)
        starts = a1.multiselect(t("lgx.carriers.from_provinces"), provinces)
        ends = a2.multiselect(t("lgx.carriers.to_provinces"), provinces)
        st.caption(t("lgx.carriers.lanes_help"))
        if st.form_submit_button(t("lgx.carriers.add_lanes"), type="primary"):
            if run_action(cr.add_lanes, actor=actor, carrier_id=int(pick), version=version,
                          from_provinces=tuple(starts), to_provinces=tuple(ends)):
                flash(t("lgx.carriers.lanes_added", n=len(starts) * len(ends)))
                st.rerun()
    if not view.lanes.empty:
        with st.form(f"lgxc_stop_{pick}"):
            lanes = [tuple(x) for x in view.lanes.itertuples(index=False)]
            lane = st.selectbox(t("lgx.carriers.stop_lane"), lanes, index=None,
                                format_func=lambda x: f"{x[0]} → {x[1]}")
            if st.form_submit_button(t("lgx.carriers.stop")) and lane is not None:
                if run_action(cr.remove_lane, actor=actor, carrier_id=int(pick), version=version,
                              from_province=lane[0], to_province=lane[1]):
                    flash(t("lgx.carriers.lane_stopped", lane=f"{lane[0]} → {lane[1]}"))
                    st.rerun()
with tab_rates, st.form(f"lgxc_rate_{pick}"):
    r1, r2, r3, r4 = st.columns(4)
    truck = r1.selectbox(t("lgx.carriers.truck"), list(c["truck_types"]),
                         format_func=lambda v: enum_label("lgx_truck", v))
    band = r2.selectbox(t("lgx.carriers.band_pick"), list(geo.BANDS),
                        format_func=lambda b: band_label(*b))
    per_km = r3.text_input(t("lgx.carriers.per_km"), max_chars=40, placeholder="1.2")
    minimum = r4.text_input(t("lgx.carriers.minimum"), max_chars=40, placeholder="0")
    st.caption(t("lgx.carriers.rate_help"))
    if st.form_submit_button(t("lgx.carriers.set_rate"), type="primary"):
        if run_action(cr.set_rate, actor=actor, carrier_id=int(pick), version=version,
                      truck_type=truck, band_from_km=int(band[0]), yuan_per_car_km=per_km,
                      min_per_car=minimum):
            flash(t("lgx.carriers.rate_set"))
            st.rerun()
with tab_status, st.form(f"lgxc_status_{pick}"):
    to = "active" if c["status"] == "suspended" else "suspended"
    reason = st.text_area(t("lgx.carriers.reason"), height=68)
    if st.form_submit_button(t(f"lgx.carriers.to.{to}"),
                             type="primary" if to == "active" else "secondary"):
        if run_action(cr.set_status, actor=actor, carrier_id=int(pick), version=version,
                      status=to, reason=reason):
            flash(t(f"lgx.carriers.now.{to}"))
            st.rerun()
