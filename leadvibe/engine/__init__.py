"""Pure scoring logic: plain data in, decisions out; no SQL, no I/O, no clock."""
