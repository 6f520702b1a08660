-- Standard codes read as a person types them (console.checks.normalise_code is the same rule):
-- spaces dropped (ASCII, no-break U+00A0, ideographic U+3000), full-width letters and digits
-- made ASCII, letters upper-cased. The certification pre-checks and the listing scan compare
-- ID numbers, USCCs and VINs as read, so a full-width or lower-case spelling of a number
-- already certified for another merchant is a duplicate, not a new number. The stored
-- columns keep what was submitted.
--
-- translate() drops the characters of its second argument that have no counterpart in the
-- third: the three spaces at its end.
CREATE FUNCTION app.normalise_code(code text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT translate(code,
        '０１２３４５６７８９'
        || 'ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ'
        || 'ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ'
        || 'abcdefghijklmnopqrstuvwxyz'
        || ' ' || chr(12288) || chr(160),
        '0123456789'
        || 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
        || 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
        || 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') $$;

-- The pre-checks' duplicate look-ups: another merchant's approved certification with the
-- same number as read.
CREATE INDEX certifications_approved_id_number_read
    ON app.certifications (app.normalise_code(id_number))
    WHERE status = 'approved' AND id_number IS NOT NULL;
CREATE INDEX certifications_approved_uscc_read
    ON app.certifications (app.normalise_code(uscc))
    WHERE status = 'approved' AND uscc IS NOT NULL;

-- The scan's duplicated-VIN look-up: the first listing of a VIN as read.
CREATE INDEX listings_vin_read
    ON app.listings (app.normalise_code(vin), published_at, id)
    WHERE vin IS NOT NULL;
