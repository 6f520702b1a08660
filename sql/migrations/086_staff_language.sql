-- The language a person chose (issue 14): kept on their account, so a reload, a new tab or
-- another machine opens the console in it. NULL: never chosen, the console's default
-- (settings.default_language) applies.
ALTER TABLE ops.staff
    ADD COLUMN language text CHECK (language IN ('zh', 'en'));
