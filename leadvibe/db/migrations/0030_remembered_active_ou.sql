-- The OU a person last selected with POST /org-units/active, remembered server-side so Bearer-only clients (the
-- seed guides' curls, scripts) find their OU without a cookie or X-OU-ID header (SEMANTICS §1).
ALTER TABLE members ADD COLUMN active_unit_id TEXT;
