-- How a car is named on every page: brand and series, without the brand twice. Many series
-- names already begin with their brand (长安 / 长安UNI-Z PHEV, 哈弗 / 哈弗H6), and the cards
-- read "长安 长安UNI-Z PHEV"; those show the series name alone, the others "brand series"
-- (宝马 3系, 吉利银河 银河M9). One rule in the database so every query names a car alike.
CREATE FUNCTION app.vehicle_name(brand text, series text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN brand IS NULL OR brand = '' THEN series
                      WHEN series IS NULL THEN brand
                      WHEN starts_with(series, brand) THEN series
                      ELSE brand || ' ' || series END $$;
