"""Vehicle library (车型库): browse brand → series → trim with guide prices; import a CSV."""
import streamlit as st

from console import fmt
from console.services import vehicle_library as lib
from console.ui import (enum_label, flash, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)

# A page about single cars: prices in yuan (console/fmt.py).
PRICES = {"guide_price": "yuan", "old_price": "yuan", "new_price": "yuan",
          "old_guide_price": "yuan", "new_guide_price": "yuan", "updated_at": "when",
          "changed_at": "when"}

actor = require_actor()
st.title(t("vehicle.title"))
show_flash()

browse_tab, import_tab = st.tabs([t("vehicle.tab.browse"), t("vehicle.tab.import")])

with browse_tab:
    brands = run_query(lib.list_brands, actor=actor)
    if brands is None:
        st.stop()
    if brands.empty:
        st.info(t("common.none"))
    else:
        brand_names = dict(zip(brands["id"].astype(int), brands["name"]))
        c1, c2 = st.columns(2)
        brand_id = c1.selectbox(t("vehicle.brand"), list(brand_names), format_func=brand_names.get)
        series = run_query(lib.list_series, actor=actor, brand_id=brand_id)
        if series is not None and not series.empty:
            series_names = dict(zip(series["id"].astype(int), series["name"]))
            series_id = c2.selectbox(t("vehicle.series"), list(series_names),
                                     format_func=series_names.get)
            picked = series[series["id"] == series_id].iloc[0]
            st.caption(t("vehicle.series_line", manufacturer=picked["manufacturer"],
                         energy=enum_label("energy_type", picked["energy_type"]),
                         origin=enum_label("origin", picked["origin"]),
                         lo=fmt.number(picked["min_guide_price"]), hi=fmt.number(picked["max_guide_price"])))
            trims = run_query(lib.list_trims, actor=actor, series_id=series_id)
            if trims is not None and not trims.empty:
                shown = fmt.frame(trims.assign(energy_type=trims["energy_type"].map(
                    lambda v: enum_label("energy_type", v))), PRICES, lang=lang())
                event = st.dataframe(labelled(shown, "vehicle.col"), hide_index=True, width="stretch",
                                     on_select="rerun", selection_mode="single-row", key="trim_table")
                chosen = event.selection.rows if event is not None else []
                if chosen:
                    trim_id = int(trims["id"].iloc[chosen[0]])
                    st.subheader(t("vehicle.history", trim=trims["name"].iloc[chosen[0]]))
                    history = run_query(lib.price_history, actor=actor, trim_id=trim_id)
                    if history is not None and history.empty:
                        st.caption(t("common.none"))
                    elif history is not None:
                        st.dataframe(labelled(fmt.frame(history, PRICES, lang=lang()),
                                              "vehicle.hist"), hide_index=True,
                                     width="stretch")
                else:
                    st.caption(t("vehicle.pick_trim"))
            else:
                st.caption(t("common.none"))
        else:
            st.caption(t("common.none"))

with import_tab:
    if not actor.has(*lib.IMPORT_ROLES):
        st.info(t("vehicle.import_roles"))
    else:
        st.markdown(t("vehicle.import_help"))
        st.download_button(t("vehicle.template"), lib.import_template(),
                           file_name="vehicle_library_template.csv", mime="text/csv")
        # A new uploader key after each confirm clears the chosen file.
        upload_key = f"vehicle_upload_{st.session_state.get('vehicle_upload_n', 0)}"
        upload = st.file_uploader(t("vehicle.upload"), type=["csv"], key=upload_key)
        if upload is not None:
            content = upload.getvalue()
            plan = run_query(lib.preview_import, actor=actor, content=content)
            if plan is not None:
                c = st.columns(4)
                c[0].metric(t("vehicle.to_add"), fmt.number(len(plan.to_add)))
                c[1].metric(t("vehicle.to_change"), fmt.number(len(plan.to_change)))
                c[2].metric(t("vehicle.error_rows"), fmt.number(plan.errors["row"].nunique()))
                c[3].metric(t("vehicle.unchanged"), fmt.number(plan.unchanged))
                if not plan.errors.empty:
                    st.subheader(t("vehicle.errors"))
                    errors = plan.errors.assign(
                        code=plan.errors["code"].map(lambda v: t(f"vehicle.err.{v}")),
                        field=plan.errors["field"].map(lambda v: t(f"vehicle.field.{v}")))
                    st.dataframe(labelled(errors, "vehicle.errcol"), hide_index=True, width="stretch")
                if not plan.to_add.empty:
                    st.subheader(t("vehicle.to_add"))
                    st.dataframe(labelled(fmt.frame(plan.to_add.drop(columns=["series_id"]), PRICES,
                                                    lang=lang()), "vehicle.plan"),
                                 hide_index=True, width="stretch")
                if not plan.to_change.empty:
                    st.subheader(t("vehicle.to_change"))
                    st.dataframe(labelled(fmt.frame(plan.to_change.drop(columns=["series_id", "trim_id"]),
                                                    PRICES, lang=lang()), "vehicle.plan"),
                                 hide_index=True, width="stretch")
                if plan.has_changes:
                    if st.button(t("vehicle.confirm", n=len(plan.to_add) + len(plan.to_change)),
                                 type="primary"):
                        done = run_action(lib.confirm_import, actor=actor, content=content,
                                          digest=plan.digest)
                        if done:
                            flash(t("vehicle.imported", added=done.value.added,
                                    changed=done.value.changed))
                            st.session_state["vehicle_upload_n"] = \
                                st.session_state.get("vehicle_upload_n", 0) + 1
                            st.rerun()
                else:
                    st.info(t("vehicle.nothing_to_import"))
