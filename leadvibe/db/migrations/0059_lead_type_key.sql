-- The lead list's `event_type` filter (the lead's last event type, matched by normalized key) called a Python
-- function on every lead of the OU to normalize `last_event_type`, the spelling sent: 1.1-1.4 s at 500,000 leads,
-- where comparing a stored column takes ~50 ms (docs/performance.md, twentieth round). `last_type_key` is that
-- key, written with `last_event_type` by the worker and the activity recompute (store/events.py). NULL where it
-- was never written: the filter then normalizes `last_event_type` as before, so rows stored by anything else stay
-- right.
ALTER TABLE leads ADD COLUMN last_type_key TEXT;
-- A spelling made only of these characters is its own key (lower case, nothing to trim, no space or hyphen): the
-- usual snake_case types. Any other keeps NULL until the lead's next event.
UPDATE leads SET last_type_key = last_event_type
    WHERE last_event_type IS NOT NULL AND last_event_type NOT GLOB '*[^a-z0-9_.:/]*';
